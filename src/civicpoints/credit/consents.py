"""Households' consents to share their record with one lender, and the use log they see.

A grant names a lender the county registered, a period (3, 6 or 12 months) and, line by line,
the personal data that may leave (ID number, phone, address: all off unless ticked). It needs
the household's PIN (on the phone, or typed by the head at the village office), revokes any
earlier consent to the same lender, and is texted to the household. Revoking needs no PIN and
counts at once. Every grant, revoke and lender fetch is a ``ConsentUse`` row (what the
household sees) and an audit row, in the same transaction; neither holds a field's value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.credit.models import (
    Consent,
    ConsentChannel,
    ConsentUse,
    ConsentUseKind,
    Lender,
    LenderStatus,
)
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import household_verify_pin
from civicpoints.notifications import events
from civicpoints.schemes.scope import parse_id

MONTHS = (3, 6, 12)
PII_FIELDS = ("id_number", "phone", "address")
PII_LABELS: dict[str, Any] = {
    "id_number": gettext_lazy("户主身份证号"),
    "phone": gettext_lazy("手机号"),
    "address": gettext_lazy("家庭住址"),
}
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
REF_LENGTH = 16  # 80 bits

# The consent's words, as the county's legal office approved them (PIPL art. 14, 23, 29): data
# stored per consent by its hash, the same in every language. A change is a new version.
WORDING_VERSION = "2026-12-v1"
STORED_TEXT = {
    "title": "个人信息共享授权书（文明积分贷）",
    "recipient": "本户同意{scheme}将本户的文明积分记录提供给{lender}（统一社会信用代码 {code}，"
    "联系人 {contact}），仅用于该机构审核本户的“文明积分贷”贷款申请。",
    "period": "授权期限：自{start}起至{end}止。期满自动失效；期间可随时在手机上或到村委会撤销，"
    "撤销后对方不能再查看。",
    "base": "提供的内容：户主姓名和所在村；本年和前三年每年各类积分的加分、扣分和欠扣积分；"
    "一票否决（暂停兑换资格）的起止日期（不含原因）；星级文明户星级和所获荣誉称号（未成年成员只写"
    "家庭关系）；账本校验码。",
    "pii_on": "同时提供：{field}。",
    "pii_off": "不提供：{field}。",
    "method": "对方通过县里发放的专用密钥在线查看，或取得县里签名的积分报告；每一次查看都会记录，"
    "本户可以在手机“信用授权”里看到。",
    "pii_names": {"id_number": "户主身份证号", "phone": "手机号", "address": "家庭住址"},
}


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    """The same local day ``months`` later (the month's last day when it has fewer days)."""
    local = timezone.localtime(when)
    month = local.month - 1 + months
    year, month = local.year + month // 12, month % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def new_ref() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


def normalize_ref(text: object) -> str | None:
    """A 授权码 as people write it ("abcd-efgh-…", O for 0, I or L for 1), or None."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != REF_LENGTH or any(c not in REF_ALPHABET for c in cleaned):
        return None
    return cleaned


def ref_display(ref: str) -> str:
    return "-".join(ref[i : i + 4] for i in range(0, len(ref), 4))


@dataclass(frozen=True)
class ConsentTerms:
    """What a household is asked to agree to: checked, and worded."""

    lender: Lender
    months: int
    fields: tuple[str, ...]
    starts_at: dt.datetime
    ends_at: dt.datetime
    lines: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join(self.lines).encode()).hexdigest()


def consent_terms(
    *, household: Household, lender_id: object, months: object, fields: list[str]
) -> ConsentTerms:
    """The terms of a grant, or a refusal naming the field: an active lender of the
    household's own scheme, a period of 3, 6 or 12 months, known personal-data lines."""
    pk = parse_id(lender_id)
    lender = (
        Lender.objects.select_related("scheme")
        .filter(pk=pk, scheme_id=household.scheme_id, status=LenderStatus.ACTIVE)
        .first()
        if pk
        else None
    )
    if lender is None:
        raise invalid(_("请选择一家合作金融机构"), field="lender")
    number = parse_id(months) if not isinstance(months, int) else months
    if number not in MONTHS:
        raise invalid(_("请选择授权期限：3个月、6个月或12个月"), field="months")
    if unknown := [f for f in fields if f not in PII_FIELDS]:
        raise invalid(_("不认识的授权内容：%(f)s") % {"f": _("、").join(unknown)}, field="fields")
    chosen = tuple(f for f in PII_FIELDS if f in fields)
    starts_at = timezone.now()
    ends_at = add_months(starts_at, number)
    words = STORED_TEXT
    names: dict[str, str] = words["pii_names"]  # type: ignore[assignment]
    lines = [
        str(words["title"]),
        str(words["recipient"]).format(
            scheme=lender.scheme.name,
            lender=lender.name,
            code=lender.code,
            contact=f"{lender.contact_name} {lender.contact_phone}",
        ),
        str(words["period"]).format(
            start=f"{timezone.localtime(starts_at):%Y-%m-%d}",
            end=f"{timezone.localtime(ends_at):%Y-%m-%d}",
        ),
        str(words["base"]),
        *(
            str(words["pii_on" if f in chosen else "pii_off"]).format(field=names[f])
            for f in PII_FIELDS
        ),
        str(words["method"]),
    ]
    return ConsentTerms(lender, number, chosen, starts_at, ends_at, tuple(lines))


def record_use(
    *,
    consent: Consent,
    kind: str,
    action: AuditAction,
    actor_id: int | None,
    fields: list[str] | None = None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    statement_id: int | None = None,
) -> ConsentUse:
    """The household's row and the audit row for one use of ``consent`` (inside the caller's
    transaction): names of fields, never their values."""
    at = at or timezone.now()
    names = list(fields if fields is not None else consent.fields)
    audit_id = audit_record(
        actor_id=actor_id,
        scheme_id=consent.scheme_id,
        action=action,
        obj=consent,
        detail={"lender": consent.lender_id, "ref": consent.ref, "fields": names, **(detail or {})},
        region_id=Household.objects.values_list("village_id", flat=True).get(
            pk=consent.household_id
        ),
    )
    return ConsentUse.objects.create(
        scheme_id=consent.scheme_id,
        household_id=consent.household_id,
        consent=consent,
        lender_id=consent.lender_id,
        kind=kind,
        fields=names,
        statement_id=statement_id,
        audit_id=audit_id,
        at=at,
    )


def consent_grant(
    *,
    household: Household,
    terms: ConsentTerms,
    pin: str,
    channel: str,
    form_key: str,
    actor_id: int | None = None,
) -> Consent:
    """Grant the consent ``terms`` describe, with the household's PIN (a wrong one is counted
    towards the lockout, as at the counter). The same ``form_key`` again returns the consent it
    made (a double tap is one grant). A refusal writes nothing but the PIN count."""
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    earlier = Consent.objects.filter(scheme_id=household.scheme_id, form_key=form_key).first()
    if earlier is not None:
        if earlier.household_id != household.pk:
            raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
        return earlier
    if not household.pin_hash:
        raise invalid(_("您家还没有设置密码：请先在“修改密码”里设置，再来授权"), field="pin")
    if not isinstance(pin, str) or not pin.strip():
        raise ApplicationError(ErrorCode.PIN_REQUIRED, _("请输入6位密码"), {"field": "pin"})
    household_verify_pin(household=household, pin=pin.strip())
    try:
        with transaction.atomic(durable=True):
            return _grant(
                household=household,
                terms=terms,
                channel=channel,
                form_key=form_key,
                actor_id=actor_id,
            )
    except IntegrityError:
        # The same form posted twice at once: the other request made it.
        earlier = Consent.objects.filter(scheme_id=household.scheme_id, form_key=form_key).first()
        if earlier is None or earlier.household_id != household.pk:
            raise
        return earlier


def _grant(
    *, household: Household, terms: ConsentTerms, channel: str, form_key: str, actor_id: int | None
) -> Consent:
    lender = Lender.objects.select_for_update().filter(pk=terms.lender.pk).first()
    if lender is None or lender.status != LenderStatus.ACTIVE:
        raise invalid(_("请选择一家合作金融机构"), field="lender")
    now = timezone.now()
    for old in Consent.objects.select_for_update().filter(
        scheme_id=household.scheme_id,
        household=household,
        lender=lender,
        revoked_at__isnull=True,
    ):
        old.revoked_at = now
        old.revoked_channel = ConsentChannel.SUPERSEDED
        old.revoked_by_id = actor_id
        old.save(update_fields=["revoked_at", "revoked_channel", "revoked_by"])
        record_use(
            consent=old,
            kind=ConsentUseKind.REVOKED,
            action=AuditAction.CREDIT_CONSENT_REVOKE,
            actor_id=actor_id,
            detail={"channel": ConsentChannel.SUPERSEDED},
            at=now,
        )
    consent = Consent.objects.create(
        scheme_id=household.scheme_id,
        household=household,
        lender=lender,
        ref=new_ref(),
        share_id_number="id_number" in terms.fields,
        share_phone="phone" in terms.fields,
        share_address="address" in terms.fields,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        channel=channel,
        granted_by_id=actor_id,
        wording_version=WORDING_VERSION,
        wording_sha256=terms.sha256,
        form_key=form_key,
    )
    record_use(
        consent=consent,
        kind=ConsentUseKind.GRANTED,
        action=AuditAction.CREDIT_CONSENT_GRANT,
        actor_id=actor_id,
        detail={"channel": channel, "until": terms.ends_at.date().isoformat()},
        at=now,
    )
    events.credit_consent_granted(
        scheme_id=household.scheme_id,
        household_id=household.pk,
        consent_id=consent.pk,
        lender=lender.name,
        until=terms.ends_at,
    )
    return consent


def consent_revoke(
    *,
    household: Household,
    ref: object,
    channel: str,
    actor_id: int | None = None,
    reason: str = "",
) -> Consent:
    """Revoke one of the household's live consents now; the lender's next fetch is 404."""
    wanted = normalize_ref(ref)
    reason = (reason or "").strip()
    if channel == ConsentChannel.OFFICE and not reason:
        raise invalid(_("请填写撤销原因（农户怎么说的）"), field="reason")
    if len(reason) > 200:
        raise invalid(_("原因最多200字"), field="reason")
    with transaction.atomic(durable=True):
        consent = (
            Consent.objects.select_for_update()
            .filter(
                scheme_id=household.scheme_id,
                household=household,
                ref=wanted,
                revoked_at__isnull=True,
            )
            .select_related("lender")
            .first()
            if wanted
            else None
        )
        if consent is None:
            raise NotFound("consent")
        now = timezone.now()
        consent.revoked_at = now
        consent.revoked_channel = channel
        consent.revoked_by_id = actor_id
        consent.revoke_reason = reason
        consent.save(update_fields=["revoked_at", "revoked_channel", "revoked_by", "revoke_reason"])
        record_use(
            consent=consent,
            kind=ConsentUseKind.REVOKED,
            action=AuditAction.CREDIT_CONSENT_REVOKE,
            actor_id=actor_id,
            detail={"channel": channel, **({"reason": reason} if reason else {})},
            at=now,
        )
        events.credit_consent_revoked(
            scheme_id=household.scheme_id,
            household_id=household.pk,
            consent_id=consent.pk,
            lender=consent.lender.name,
        )
    return consent


# --- reads -----------------------------------------------------------------------------------


def live_consents(household: Household) -> QuerySet[Consent]:
    """The household's consents in force now (not revoked, not past their end)."""
    return (
        Consent.objects.filter(
            scheme_id=household.scheme_id,
            household=household,
            revoked_at__isnull=True,
            ends_at__gt=timezone.now(),
        )
        .select_related("lender")
        .order_by("-starts_at", "-pk")
    )


def household_consent(household: Household, ref: object) -> Consent:
    """One live consent of the household by its 授权码; NotFound otherwise."""
    wanted = normalize_ref(ref)
    found = live_consents(household).filter(ref=wanted).first() if wanted else None
    if found is None:
        raise NotFound("consent")
    return found


def consent_uses(household: Household) -> QuerySet[ConsentUse]:
    """Everything done with the household's consents, newest first (its history page)."""
    return (
        ConsentUse.objects.filter(scheme_id=household.scheme_id, household=household)
        .select_related("lender")
        .order_by("-at", "-pk")
    )


def fields_in_words(fields: list[str]) -> str:
    return _("、").join(str(PII_LABELS[f]) for f in fields if f in PII_LABELS)
