"""Lenders the county registers (name, unified social credit code, contact) and their API keys.

County admins over the whole scheme register, suspend and resume lenders and issue and revoke
keys; auditors read. A key is ``l.`` + 43 random characters, shown once and stored as its
SHA-256; ``lender_key_authenticate`` is the lender API's one lookup per request (nothing
cached, so a revocation, an expiry or a suspension counts on the very next request).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.credit.models import Lender, LenderKey, LenderStatus
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied, invalid
from civicpoints.households import phones
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import Actor, parse_id
from civicpoints.schemes.selectors import governs, schemes_governed

LENDER_READERS = frozenset({Role.COUNTY_ADMIN, Role.AUDITOR})
LENDER_MANAGERS = frozenset({Role.COUNTY_ADMIN})
KEY_PREFIX = "l."
KEY_DAYS = 365
KEY_USE_RECORD = dt.timedelta(minutes=5)

# GB 32100-2015: 18 characters from 31 (no I, O, Z, S, V), the last one a check character.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is no unified social credit code, or None."""
    if len(code) != 18:
        return _("统一社会信用代码应为18位，这里是%(n)d位") % {"n": len(code)}
    if any(c not in USCC_ALPHABET for c in code):
        return _("统一社会信用代码只含数字和大写字母（不含 I、O、Z、S、V）")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(code, USCC_WEIGHTS, strict=False))
    if USCC_ALPHABET[(31 - total % 31) % 31] != code[17]:
        return _("统一社会信用代码校验位不对，请核对")
    return None


def uscc_make(first17: str) -> str:
    """The full code for 17 characters (tests and demo data)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=False))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


# --- who may --------------------------------------------------------------------------------


def lender_schemes(actor: Actor) -> list[Scheme]:
    """Schemes whose lenders this person reads (county admins and auditors of the county)."""
    return schemes_governed(actor, LENDER_READERS)


def manages_lenders(actor: Actor, scheme: Scheme) -> bool:
    return governs(actor, scheme, LENDER_MANAGERS)


def _require_manager(actor: Actor, scheme: Scheme, action: str) -> None:
    if not manages_lenders(actor, scheme):
        raise PermissionDenied(action)


def lenders_of(actor: Actor, scheme: Scheme) -> QuerySet[Lender]:
    """The scheme's lenders with their live key count, for a reader of the scheme."""
    if scheme not in lender_schemes(actor):
        return Lender.objects.none()
    now = timezone.now()
    live = Q(keys__revoked_at__isnull=True, keys__expires_at__gt=now)
    return (
        Lender.objects.filter(scheme=scheme)
        .annotate(live_keys=Count("keys", filter=live))
        .order_by("name", "pk")
    )


def lender_for(actor: Actor, lender_id: object, *, scheme: Scheme) -> Lender:
    """One lender of ``scheme`` a reader may see; NotFound otherwise."""
    pk = parse_id(lender_id)
    found = lenders_of(actor, scheme).filter(pk=pk).first() if pk else None
    if found is None:
        raise NotFound("lender")
    return found


def lender_keys(lender: Lender) -> list[LenderKey]:
    return list(lender.keys.order_by("-created_at", "-pk"))


def active_lenders(*, scheme_id: int) -> QuerySet[Lender]:
    """Lenders a household may consent to (the consent form's list)."""
    return Lender.objects.filter(scheme_id=scheme_id, status=LenderStatus.ACTIVE).order_by(
        "name", "pk"
    )


# --- writes -----------------------------------------------------------------------------------


def lender_create(
    *,
    actor: Actor,
    scheme: Scheme,
    name: str,
    code: str,
    contact_name: str,
    contact_phone: str,
) -> Lender:
    """Register a lender; a bad or duplicate code, or a missing field, writes nothing."""
    _require_manager(actor, scheme, "lender.create")
    name, contact_name = (name or "").strip(), (contact_name or "").strip()
    code = (code or "").strip().upper()
    if not name or len(name) > 100:
        raise invalid(_("请填写机构名称（最多100字）"), field="name")
    if problem := uscc_problem(code):
        raise invalid(problem, field="code")
    if not contact_name or len(contact_name) > 40:
        raise invalid(_("请填写联系人（最多40字）"), field="contact_name")
    try:
        phone = phones.normalize(contact_phone)
    except ValueError as exc:
        raise invalid(str(exc), field="contact_phone") from None
    if not phone:
        raise invalid(_("请填写联系电话"), field="contact_phone")
    try:
        with transaction.atomic(durable=True):
            lender = Lender.objects.create(
                scheme=scheme,
                name=name,
                code=code,
                contact_name=contact_name,
                contact_phone=phone,
                created_by_id=actor.user_id,
            )
            audit_record(
                actor_id=actor.user_id,
                scheme_id=scheme.pk,
                action=AuditAction.LENDER_CREATE,
                obj=lender,
                detail={"name": name, "code": code},
                region_id=scheme.operator_region_id,
            )
    except IntegrityError:
        raise ApplicationError(
            ErrorCode.DUPLICATE, _("这个统一社会信用代码已经登记过"), {"field": "code"}
        ) from None
    return lender


def lender_set_status(*, actor: Actor, lender: Lender, status: str, reason: str) -> Lender:
    """Suspend or resume a lender. A suspended lender's keys answer 401 and households cannot
    choose it; its consents stay (resuming brings them back)."""
    scheme = Scheme.objects.select_related("operator_region").get(pk=lender.scheme_id)
    _require_manager(actor, scheme, "lender.status")
    reason = (reason or "").strip()
    if status not in LenderStatus.values:
        raise invalid(_("请选择新的状态"), field="status")
    if not reason or len(reason) > 200:
        raise invalid(_("请填写原因（最多200字）"), field="reason")
    with transaction.atomic(durable=True):
        locked = Lender.objects.select_for_update().get(pk=lender.pk)
        if locked.status == status:
            raise invalid(_("请选择新的状态"), field="status")
        before = locked.status
        locked.status = status
        locked.save(update_fields=["status"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.LENDER_STATUS,
            obj=locked,
            detail={"from": before, "to": status, "reason": reason},
            region_id=scheme.operator_region_id,
        )
    return locked


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def lender_key_issue(*, actor: Actor, lender: Lender) -> tuple[str, LenderKey]:
    """A new key for an active lender: the raw key (shown once) and its row."""
    scheme = Scheme.objects.get(pk=lender.scheme_id)
    _require_manager(actor, scheme, "lender.key_issue")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic(durable=True):
        locked = Lender.objects.select_for_update().get(pk=lender.pk)
        if locked.status != LenderStatus.ACTIVE:
            raise invalid(_("该机构已暂停合作，不能签发密钥"), field="lender")
        key = LenderKey.objects.create(
            scheme_id=lender.scheme_id,
            lender=locked,
            key_hash=_hash(raw),
            prefix=raw[:10],
            created_by_id=actor.user_id,
            expires_at=timezone.now() + dt.timedelta(days=KEY_DAYS),
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=lender.scheme_id,
            action=AuditAction.LENDER_KEY_ISSUE,
            obj=locked,
            detail={"prefix": key.prefix, "until": key.expires_at.date().isoformat()},
            region_id=scheme.operator_region_id,
        )
    return raw, key


def lender_key_revoke(*, actor: Actor, lender: Lender, key_id: object) -> LenderKey:
    """End one of the lender's keys now; its next request is 401."""
    scheme = Scheme.objects.get(pk=lender.scheme_id)
    _require_manager(actor, scheme, "lender.key_revoke")
    pk = parse_id(key_id)
    with transaction.atomic(durable=True):
        key = (
            LenderKey.objects.select_for_update().filter(pk=pk, lender=lender).first()
            if pk
            else None
        )
        if key is None:
            raise NotFound("lender_key")
        if key.revoked_at is not None:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这个密钥已经注销"))
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=lender.scheme_id,
            action=AuditAction.LENDER_KEY_REVOKE,
            obj=lender,
            detail={"prefix": key.prefix},
            region_id=scheme.operator_region_id,
        )
    return key


# --- the lender API's sign-in ----------------------------------------------------------------


def is_lender_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def lender_key_authenticate(*, token: str) -> LenderKey | None:
    """The live key (with its lender and scheme) for a presented ``l.`` key, from one query;
    None when unknown, revoked, expired, or its lender is suspended."""
    if not is_lender_key(token) or len(token) > 100:
        return None
    now = timezone.now()
    key = (
        LenderKey.objects.select_related("lender", "lender__scheme")
        .filter(
            key_hash=_hash(token),
            revoked_at__isnull=True,
            expires_at__gt=now,
            lender__status=LenderStatus.ACTIVE,
        )
        .first()
    )
    if key is None:
        return None
    _count_request(key, now)
    if key.last_used_at is None or key.last_used_at < now - KEY_USE_RECORD:
        LenderKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


# At most this many requests a minute per key (a fixed window); the next is 429 + Retry-After.
KEY_REQUESTS_PER_MINUTE = 60
_WINDOW = dt.timedelta(minutes=1)


def _count_request(key: LenderKey, now: dt.datetime) -> None:
    """Count the request in the key's current minute, in one atomic UPDATE (workers and
    processes share it); over the limit: ``RATE_LIMITED`` with the seconds to wait."""
    fresh = Q(window_start__gt=now - _WINDOW)
    LenderKey.objects.filter(pk=key.pk).update(
        window_count=Case(When(fresh, then=F("window_count") + 1), default=Value(1)),
        window_start=Case(When(fresh, then=F("window_start")), default=Value(now)),
    )
    start, count = (
        LenderKey.objects.filter(pk=key.pk).values_list("window_start", "window_count").get()
    )
    if count > KEY_REQUESTS_PER_MINUTE and start is not None:
        refusal = ApplicationError(
            ErrorCode.RATE_LIMITED,
            _("每个接口密钥每分钟最多 %(n)s 次请求，请稍后再试") % {"n": KEY_REQUESTS_PER_MINUTE},
        )
        refusal.retry_after = max(1, math.ceil((start + _WINDOW - now).total_seconds()))
        raise refusal
