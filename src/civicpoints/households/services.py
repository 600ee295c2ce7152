"""Writes for households and members: create, PINs, status. Every write is audited."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.bulk import update_many
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households import crypto, idcard, phones
from civicpoints.households.attempts import PIN_FAILURE_LIMIT, PIN_LOCKOUT, household_pin_try
from civicpoints.households.models import (
    Household,
    HouseholdStatus,
    Member,
    Relation,
    ResidentToken,
)
from civicpoints.households.search import SEARCH_FIELDS, search_fields
from civicpoints.ledger.idempotency import Slot, idempotency_fail
from civicpoints.ledger.services import household_account, household_accounts_create
from civicpoints.schemes.models import Region, RegionLevel, Scheme

# Crockford-style alphabet without look-alikes (0/O, 1/I/L) for codes read aloud or typed.
CARD_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CARD_LENGTH = 10


def new_card_code() -> str:
    return "".join(secrets.choice(CARD_ALPHABET) for _ in range(CARD_LENGTH))


def clean_name(raw: str, *, field: str = "head_name") -> str:
    name = (raw or "").strip()
    if not name:
        raise invalid(_("姓名不能为空"), field=field)
    if len(name) > 40:
        raise invalid(_("姓名太长（最多40个字）"), field=field)
    return name


def clean_id_number(raw: str) -> str:
    number = idcard.normalize(raw or "")
    if not number:
        return ""
    problem = idcard.problem(number)
    if problem:
        raise invalid(problem, field="id_number")
    return number


def clean_phone(raw: str) -> str:
    try:
        return phones.normalize(raw or "")
    except ValueError as exc:
        raise invalid(str(exc), field="phone") from None


def member_fields(id_number: str) -> dict[str, Any]:
    """What a member row keeps of a (checked) ID number: encrypted, digest, masked, and the
    year of birth (GB 11643: characters 7-10)."""
    if not id_number:
        return {
            "id_number_encrypted": "",
            "id_number_digest": "",
            "id_number_masked": "",
            "birth_year": None,
        }
    return {
        "id_number_encrypted": crypto.encrypt(id_number),
        "id_number_digest": crypto.digest(id_number),
        "id_number_masked": crypto.mask_id_number(id_number),
        "birth_year": int(id_number[6:10]),
    }


def household_create(
    *,
    actor_id: int | None,
    scheme: Scheme,
    village: Region,
    head_name: str,
    id_number: str = "",
    phone: str = "",
    address: str = "",
    size: int = 1,
    status: str = HouseholdStatus.ACTIVE,
    pin: str | None = None,
) -> Household:
    head_name = clean_name(head_name)
    id_number = clean_id_number(id_number)
    phone = clean_phone(phone)
    if village.level != RegionLevel.VILLAGE or not village.path.startswith(
        scheme.operator_region.path
    ):
        raise invalid(_("所选村/社区不在本方案范围内"), field="village")
    if status not in HouseholdStatus.values:
        raise invalid(_("户状态无效"), field="status")
    if not 1 <= size <= 99:
        raise invalid(_("家庭人口应在1到99之间"), field="size")
    if len(address) > 200:
        raise invalid(_("家庭住址太长（最多200个字）"), field="address")
    with transaction.atomic():
        if (
            id_number
            and Member.objects.filter(
                scheme=scheme, id_number_digest=crypto.digest(id_number)
            ).exists()
        ):
            raise _duplicate_id()
        try:
            with transaction.atomic():
                household = Household.objects.create(
                    scheme=scheme,
                    village=village,
                    head_name=head_name,
                    address=address.strip(),
                    phone=phone,
                    size=size,
                    status=status,
                    card_code=new_card_code(),
                    **pin_columns(pin),
                    **search_fields(head_name=head_name, phone=phone, members=[]),
                )
                Member.objects.create(
                    scheme=scheme,
                    household=household,
                    name=head_name,
                    relation=Relation.HEAD,
                    phone=phone,
                    **member_fields(id_number),
                )
                household_account(household=household)
        except IntegrityError:
            # A concurrent request registered the same ID number between check and insert.
            raise _duplicate_id() from None
        audit_record(
            actor_id=actor_id,
            scheme_id=scheme.pk,
            action=AuditAction.HOUSEHOLD_CREATE,
            obj=household,
            detail={"village": village.code},
        )
    return household


def _duplicate_id() -> ApplicationError:
    return ApplicationError(ErrorCode.DUPLICATE, _("该身份证号已登记"), {"field": "id_number"})


def member_add(
    *,
    actor_id: int | None,
    household: Household,
    name: str,
    relation: str,
    id_number: str = "",
    phone: str = "",
) -> Member:
    name = clean_name(name, field="name")
    id_number = clean_id_number(id_number)
    phone = clean_phone(phone)
    if relation not in Relation.values:
        raise invalid(_("与户主关系无效"), field="relation")
    with transaction.atomic():
        if (
            id_number
            and Member.objects.filter(
                scheme_id=household.scheme_id, id_number_digest=crypto.digest(id_number)
            ).exists()
        ):
            raise _duplicate_id()
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    scheme_id=household.scheme_id,
                    household=household,
                    name=name,
                    relation=relation,
                    phone=phone,
                    **member_fields(id_number),
                )
        except IntegrityError:
            raise _duplicate_id() from None
        household_search_refresh(household_ids=[household.pk])
        audit_record(
            actor_id=actor_id,
            scheme_id=household.scheme_id,
            action=AuditAction.MEMBER_ADD,
            obj=member,
        )
    return member


def household_search_refresh(*, household_ids: list[int]) -> None:
    """Write the search columns (``households/search.py``) of these households again from their
    head's name and phone and their members' (after a member is added, or the admin edits a
    name or a number). The households are locked first, so two refreshes of one household
    never write from two different readings of its members."""
    with transaction.atomic():
        households = list(
            Household.objects.select_for_update()
            .filter(pk__in=household_ids)
            .order_by("pk")
            .only("pk", "head_name", "phone")
        )
        members: dict[int, list[tuple[str, str]]] = {h.pk: [] for h in households}
        rows = Member.objects.filter(household_id__in=members).order_by("pk")
        for household_id, name, phone in rows.values_list("household_id", "name", "phone"):
            members[household_id].append((name, phone))
        for h in households:
            values = search_fields(head_name=h.head_name, phone=h.phone, members=members[h.pk])
            for column, value in values.items():
                setattr(h, column, value)
        update_many(Household, households, SEARCH_FIELDS)


def household_set_pin(*, actor_id: int | None, household: Household, pin: str) -> None:
    if not (len(pin) == 6 and pin.isascii() and pin.isdigit()):
        raise invalid(_("PIN 应为6位数字"), field="pin")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise invalid(_("PIN 过于简单，请换一个"), field="pin")
    with transaction.atomic():
        # A new PIN lifts a lockout and signs every phone out (tokens and page sessions):
        # whoever knew the old one keeps nothing.
        Household.objects.filter(pk=household.pk).update(
            **pin_columns(pin),
            pin_failures=0,
            pin_locked_until=None,
            pin_set_at=timezone.now(),
            login_epoch=F("login_epoch") + 1,
        )
        ResidentToken.objects.filter(household=household).delete()
        audit_record(
            actor_id=actor_id,
            scheme_id=household.scheme_id,
            action=AuditAction.HOUSEHOLD_SET_PIN,
            obj=household,
        )


def household_check_pin(*, household: Household, pin: Any, offline_tag: bool = True) -> bool:
    """Whether ``pin`` is the household's; a correct one also makes the offline counter's check
    value if the PIN has none yet (``offline_tag=False``: the caller's ``household`` holds only
    the hash, as on the counter's keyed path, whose two round trips stay two)."""
    if not household.pin_hash or not isinstance(pin, str):
        return False
    if not check_password(pin, household.pin_hash):
        return False
    if not household.pin_hash.startswith(crypto.PIN_HASHER + "$"):
        # An older (PBKDF2) PIN hash verified: store it the current way.
        columns = pin_columns(pin)
        household.pin_hash = columns["pin_hash"]
        household.offline_pin_tag = columns["offline_pin_tag"]
        Household.objects.filter(pk=household.pk).update(**columns)
    elif offline_tag and household.offline_pin_tag is None:
        # A PIN set before the offline counter: its check value, made now that it is at hand.
        household.offline_pin_tag = crypto.offline_pin_tag(household.pin_hash, pin)
        Household.objects.filter(pk=household.pk, pin_hash=household.pin_hash).update(
            offline_pin_tag=household.offline_pin_tag
        )
    return True


def pin_hash_make(pin: str) -> str:
    return make_password(pin, hasher=crypto.PIN_HASHER)


def pin_columns(pin: str | None) -> dict[str, Any]:
    """A PIN as stored: its hash and the offline counter's check value (none without a PIN)."""
    if not pin:
        return {"pin_hash": "", "offline_pin_tag": None}
    pin_hash = pin_hash_make(pin)
    return {"pin_hash": pin_hash, "offline_pin_tag": crypto.offline_pin_tag(pin_hash, pin)}


@dataclass
class NewMember:
    name: str
    relation: str = Relation.OTHER
    id_number: str = ""
    phone: str = ""


@dataclass
class NewHousehold:
    """One validated row for ``households_bulk_create`` (values already cleaned)."""

    village_id: int
    head_name: str
    id_number: str = ""
    phone: str = ""
    address: str = ""
    size: int = 1
    status: str = HouseholdStatus.ACTIVE
    members: list[NewMember] = field(default_factory=list)


BULK_BATCH = 2000


def households_bulk_create(
    *,
    actor_id: int | None,
    scheme: Scheme,
    rows: list[NewHousehold],
    pin: str = "",
    action: AuditAction = AuditAction.HOUSEHOLD_BULK_CREATE,
    audit_detail: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Create many households with head members and accounts, set-based, all or nothing.

    Rows must already be valid; ID numbers are checked once more against the database here.
    Returns the new household ids in row order.
    """
    digests = [crypto.digest(r.id_number) for r in rows if r.id_number]
    digests += [crypto.digest(m.id_number) for r in rows for m in r.members if m.id_number]
    if len(digests) != len(set(digests)):
        raise ApplicationError(ErrorCode.DUPLICATE, _("同一身份证号出现了两次"))
    pins = pin_columns(pin)  # one PIN for all (the demo county's), or none
    ids: list[int] = []
    with transaction.atomic():
        for start in range(0, len(digests), BULK_BATCH):
            chunk = digests[start : start + BULK_BATCH]
            if Member.objects.filter(scheme=scheme, id_number_digest__in=chunk).exists():
                raise ApplicationError(ErrorCode.DUPLICATE, _("有身份证号已在系统中登记"))
        for start in range(0, len(rows), BULK_BATCH):
            batch = rows[start : start + BULK_BATCH]
            households = Household.objects.bulk_create(
                [
                    Household(
                        scheme=scheme,
                        village_id=r.village_id,
                        head_name=r.head_name,
                        address=r.address,
                        phone=r.phone,
                        size=r.size,
                        status=r.status,
                        card_code=new_card_code(),
                        **pins,
                        **search_fields(
                            head_name=r.head_name,
                            phone=r.phone,
                            members=[(m.name, m.phone) for m in r.members],
                        ),
                    )
                    for r in batch
                ]
            )
            members: list[Member] = []
            for r, h in zip(batch, households, strict=True):
                members.append(
                    Member(
                        scheme=scheme,
                        household=h,
                        name=r.head_name,
                        relation=Relation.HEAD,
                        phone=r.phone,
                        **member_fields(r.id_number),
                    )
                )
                members.extend(
                    Member(
                        scheme=scheme,
                        household=h,
                        name=m.name,
                        relation=m.relation,
                        phone=m.phone,
                        **member_fields(m.id_number),
                    )
                    for m in r.members
                )
            Member.objects.bulk_create(members)
            household_accounts_create(households=households)
            ids.extend(h.pk for h in households)
            if progress:
                progress(len(ids), len(rows))
        audit_record(
            actor_id=actor_id,
            scheme_id=scheme.pk,
            action=action,
            detail={**(audit_detail or {}), "households": len(ids)},
        )
    return ids


def _pin_failure(household_id: int, now: datetime) -> int:
    """Count one wrong PIN; the fifth in a row locks the card. Returns the count."""
    row = Household.objects.filter(pk=household_id)
    with transaction.atomic():
        row.update(pin_failures=F("pin_failures") + 1)
        failures = row.values_list("pin_failures", flat=True)[0]
        if failures >= PIN_FAILURE_LIMIT:
            row.update(pin_failures=0, pin_locked_until=now + PIN_LOCKOUT)
    return failures


def pin_locked_out(locked_until: datetime | None, now: datetime) -> ApplicationError | None:
    """The refusal for a card locked after too many wrong PINs, or None."""
    if locked_until and locked_until > now:
        return ApplicationError(
            ErrorCode.LOCKED_OUT, _("密码错误次数过多，请15分钟后再试，或找村委会重设密码")
        )
    return None


def household_pin_refused(
    *,
    household_id: int,
    now: datetime,
    wrong: ErrorCode = ErrorCode.PIN_INCORRECT,
    message: str = "",
    slot: Slot | None = None,
) -> ApplicationError:
    """A wrong PIN: counted for good, with the keyed request's stored refusal (``slot``) in
    the same small transaction, so a retry of the request replays it and counts nothing more.
    Call it outside any transaction (the attempt's own has not begun or has rolled back).
    Returns the refusal to raise."""
    with transaction.atomic(durable=True):
        failures = _pin_failure(household_id, now)
        left = max(PIN_FAILURE_LIMIT - failures, 0) if failures < PIN_FAILURE_LIMIT else 0
        refusal = ApplicationError(wrong, message or None, {"attempts_left": left})
        idempotency_fail(slot=slot, error=refusal)
    return refusal


def household_verify_pin(
    *,
    household: Household,
    pin: Any,
    wrong: ErrorCode = ErrorCode.PIN_INCORRECT,
    message: str = "",
    slot: Slot | None = None,
) -> None:
    """Check a PIN typed at a counter; 5 wrong PINs in a row lock it 15 minutes.

    Runs before the caller's own transaction: a wrong PIN is counted (and, for a keyed request,
    its refusal stored) in a small transaction of its own (``household_pin_refused``).
    """
    now = timezone.now()
    locked = (
        Household.objects.filter(pk=household.pk).values_list("pin_locked_until", flat=True).first()
    )
    refusal = pin_locked_out(locked, now)
    if refusal is not None:
        raise refusal
    if not household_check_pin(household=household, pin=pin):
        raise household_pin_refused(
            household_id=household.pk, now=now, wrong=wrong, message=message, slot=slot
        )
    # A correct PIN clears earlier failures, as stored (the object passed in may be stale).
    Household.objects.filter(pk=household.pk).exclude(
        pin_failures=0, pin_locked_until__isnull=True
    ).update(pin_failures=0, pin_locked_until=None)


@functools.cache
def _dummy_pin_hash() -> str:
    return make_password("000000", hasher=crypto.PIN_HASHER)


def household_pin_login(*, card_code: str, pin: str) -> Household:
    """A resident logs in with the card code and PIN; 5 wrong PINs lock the card 15 minutes.

    A wrong card and a wrong PIN get the same answer, so card codes cannot be probed. The try
    is counted before the PIN is checked (``attempts.household_pin_try``), so parallel
    guesses get no more than five checks.
    """
    code = "".join((card_code or "").split()).upper()
    household = (
        Household.objects.filter(card_code=code).exclude(status=HouseholdStatus.CLOSED).first()
        if code
        else None
    )
    # A wrong card and a wrong PIN: the same status and body (no tries left to count for a
    # card that does not exist), and a PIN hash checked either way.
    if household is None:
        check_password(str(pin), _dummy_pin_hash())
        raise ApplicationError(ErrorCode.LOGIN_FAILED, _("卡号或密码不对"))
    result = household_pin_try(household_id=household.pk, pin=pin)
    if result.locked:
        raise ApplicationError(
            ErrorCode.LOCKED_OUT, _("密码错误次数过多，请15分钟后再试，或找村委会重设密码")
        )
    if not result.ok:
        raise ApplicationError(ErrorCode.LOGIN_FAILED, _("卡号或密码不对"))
    household.refresh_from_db(fields=["pin_hash", "pin_failures", "pin_locked_until"])
    return household


# --- resident tokens -------------------------------------------------------------------------

RESIDENT_TOKEN_TTL = timedelta(days=7)
# Resident tokens start with this (never in a staff token: token_urlsafe has no "."), so the
# API looks them up without first asking the staff tokens (api/main.py: one query a request).
RESIDENT_TOKEN_PREFIX = "r."  # noqa: S105 (a marker, not a secret)


def is_resident_token(token: str) -> bool:
    return token.startswith(RESIDENT_TOKEN_PREFIX)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resident_token_issue(*, card_code: str, pin: str) -> tuple[str, ResidentToken]:
    """A resident's API bearer token from the card code and PIN (the pages' login and lockout)."""
    return resident_token_create(household=household_pin_login(card_code=card_code, pin=pin))


def resident_token_create(*, household: Household) -> tuple[str, ResidentToken]:
    """A new API bearer token for a household that has just proved who it is."""
    token = RESIDENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ResidentToken.objects.create(
        scheme_id=household.scheme_id,
        household=household,
        key_hash=_token_hash(token),
        expires_at=timezone.now() + RESIDENT_TOKEN_TTL,
    )
    return token, row


def resident_token_revoke(*, token: str) -> int:
    """A resident's logout: the presented token ends now (0 or 1 ended)."""
    count, _deleted = ResidentToken.objects.filter(key_hash=_token_hash(token)).delete()
    return count


def resident_tokens_revoke_all(*, household: Household) -> int:
    """Every API token of one household ends now (a new PIN does this too)."""
    count, _deleted = ResidentToken.objects.filter(household=household).delete()
    return count


def resident_token_household(*, token: str) -> Household | None:
    """The household a resident token belongs to, or None (unknown, expired, closed). One
    query, read on every request: nothing cached, so a logout or a new PIN counts at once."""
    if not token or len(token) > 200:
        return None
    rows = (
        ResidentToken.objects.select_related(
            "household", "household__village", "household__account"
        )
        .filter(key_hash=_token_hash(token), expires_at__gt=timezone.now())
        .exclude(household__status=HouseholdStatus.CLOSED)
        .order_by()[:1]  # key_hash is unique: no ORDER BY to build or run
    )
    return rows[0].household if rows else None
