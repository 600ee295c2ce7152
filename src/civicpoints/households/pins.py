"""Getting residents in: staff reset a household's PIN (shown once or printed on a sealed
letter), print a village's PIN letters and QR cards in one go, and residents change their PIN.

Only admins over the household's village (village, township, county) may set PINs or issue
cards; grid workers, clerks and auditors may not. A new PIN lifts the lockout and signs every
phone out (tokens and page sessions); a reprinted card gets a new card code, so the old card
stops working at counters and at login. Plain PINs are returned to the caller to show or print
once and are never stored or logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.bulk import update_many
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.households.attempts import household_pin_try
from civicpoints.households.models import Household, HouseholdStatus, ResidentToken
from civicpoints.households.selectors import household_for
from civicpoints.households.services import new_card_code, pin_columns
from civicpoints.schemes.models import Region, RegionLevel
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, one_or_404, require_role, scoped

PIN_MANAGERS = ADMIN_ROLES
MAX_BATCH = 2000  # a village's households; far above the largest village (about 1,500)

# PINs people pick first and guess first (besides one digit six times, straight runs, and
# patterns repeated every two or three digits, which ``pin_problem`` finds by rule).
COMMON_PINS = frozenset({"112233", "123321", "520521", "521521", "147258", "159357", "114477"})


def pin_problem(pin: Any) -> str | None:
    """Why a new PIN is refused, in words a resident understands; None when it is fine."""
    if not (isinstance(pin, str) and len(pin) == 6 and pin.isascii() and pin.isdigit()):
        return _("密码应为6位数字")
    if (
        len(set(pin)) == 1
        or pin in "01234567890123"
        or pin in "98765432109876"
        or pin[:2] * 3 == pin
        or pin[:3] * 2 == pin
        or pin in COMMON_PINS
    ):
        return _("这个密码太容易被猜到（如000000、123456、121212），请换一个")
    return None


def new_pin() -> str:
    while True:
        pin = f"{secrets.randbelow(10**6):06d}"
        if pin_problem(pin) is None:
            return pin


def can_manage_access(actor: Actor, household: Household) -> bool:
    """Whether this actor may reset the household's PIN and issue its card (admins over it)."""
    return actor.covers(
        roles=PIN_MANAGERS, scheme_id=household.scheme_id, region_path=household.village.path
    )


def _require_manager(actor: Actor, household: Household, action: str) -> None:
    require_role(
        actor,
        roles=PIN_MANAGERS,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action=action,
    )


def _store_pins(pins: dict[int, str], now: datetime) -> None:
    """New PIN hashes for many households in one statement per 500; lockouts lifted; every
    phone signed out (tokens deleted, page sessions of the old epoch refused)."""
    rows = [
        Household(
            pk=pk,
            **pin_columns(pin),
            pin_failures=0,
            pin_locked_until=None,
            pin_set_at=now,
        )
        for pk, pin in pins.items()
    ]
    update_many(
        Household,
        rows,
        ["pin_hash", "offline_pin_tag", "pin_failures", "pin_locked_until", "pin_set_at"],
    )
    ids = list(pins)
    Household.objects.filter(pk__in=ids).update(login_epoch=F("login_epoch") + 1)
    ResidentToken.objects.filter(household_id__in=ids).delete()


def household_pin_reset(*, actor: Actor, household: Household) -> str:
    """A new random PIN for one household; returned once to show or print, never stored."""
    _require_manager(actor, household, "household.pin_reset")
    pin = new_pin()
    with transaction.atomic():
        _store_pins({household.pk: pin}, timezone.now())
        audit_record(
            actor_id=actor.user_id,
            scheme_id=household.scheme_id,
            action=AuditAction.HOUSEHOLD_PIN_RESET,
            obj=household,
        )
    household.refresh_from_db()
    return pin


def _new_codes(scheme_id: int, n: int) -> list[str]:
    """n card codes not in use in the scheme (31^10 codes: a clash is a once-in-ages event)."""
    while True:
        codes = {new_card_code() for _ in range(n)}
        taken = set(
            Household.objects.filter(scheme_id=scheme_id, card_code__in=codes).values_list(
                "card_code", flat=True
            )
        )
        if len(codes) == n and not taken:
            return list(codes)


def _issue_cards(households: Sequence[Household], now: datetime) -> list[int]:
    """Mark cards printed; a household whose card was printed before gets a new code (the old
    card stops working). Returns the ids of the households whose code changed."""
    renew = [h for h in households if h.card_issued_at is not None]
    by_scheme: dict[int, list[Household]] = {}
    for h in renew:
        by_scheme.setdefault(h.scheme_id, []).append(h)
    for scheme_id, group in by_scheme.items():
        for h, code in zip(group, _new_codes(scheme_id, len(group)), strict=True):
            h.card_code = code
    for h in households:
        h.card_issued_at = now
    update_many(Household, list(households), ["card_code", "card_issued_at"])
    return [h.pk for h in renew]


def household_card_issue(*, actor: Actor, household: Household) -> Household:
    """Print a household's card: the first print keeps the code, a reprint revokes the old one."""
    _require_manager(actor, household, "household.card_issue")
    with transaction.atomic():
        renewed = _issue_cards([household], timezone.now())
        audit_record(
            actor_id=actor.user_id,
            scheme_id=household.scheme_id,
            action=AuditAction.HOUSEHOLD_CARD_REISSUE
            if renewed
            else AuditAction.HOUSEHOLD_CARD_ISSUE,
            obj=household,
        )
    household.refresh_from_db()
    return household


# --- a village's letters and cards -----------------------------------------------------------


def villages_for_letters(actor: Actor) -> QuerySet[Region]:
    """Villages in which the actor may print PIN letters and cards."""
    q = Q(pk__in=[])
    for g in actor.grants_for(PIN_MANAGERS):
        q |= Q(path__startswith=g.region_path)
    return Region.objects.filter(q, level=RegionLevel.VILLAGE).select_related("parent")


def village_for_letters(actor: Actor, village_id: Any) -> Region:
    return one_or_404(villages_for_letters(actor), village_id, "village")


def village_households(actor: Actor, village: Region) -> QuerySet[Household]:
    """The village's households (not closed) the actor manages, in card order."""
    return (
        scoped(
            actor, Household.objects.all(), region_path_field="village__path", roles=PIN_MANAGERS
        )
        .filter(village=village)
        .exclude(status=HouseholdStatus.CLOSED)
        .select_related("village", "village__parent")
        .order_by("pk")
    )


@dataclass
class Letter:
    """One household's printout: its new PIN (None when only the card is printed) and card."""

    household: Household
    pin: str | None
    card_renewed: bool = False


def _chosen(actor: Actor, village: Region, household_ids: Sequence[Any]) -> list[Household]:
    ids: set[int] = set()
    for raw in household_ids:
        text = str(raw)
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise invalid(_("所选农户有误，请重新打开本页"), field="households")
        ids.add(int(text))
    if not ids:
        raise invalid(_("请至少选择一户"), field="households")
    if len(ids) > MAX_BATCH:
        raise invalid(_("一次最多打印%(n)d户") % {"n": MAX_BATCH}, field="households")
    households = list(village_households(actor, village).filter(pk__in=ids))
    if len(households) != len(ids):
        raise invalid(_("所选农户有的不在本村或已注销，请重新打开本页"), field="households")
    return households


@dataclass
class LetterPlan:
    households: int
    cards_renewed: int


def village_letters_plan(
    *, actor: Actor, village: Region, household_ids: Sequence[Any], pins: bool, cards: bool
) -> LetterPlan:
    """What ``village_letters_issue`` would do, for the confirmation page; writes nothing."""
    if not (pins or cards):
        raise invalid(_("请选择要打印密码信还是积分卡"), field="what")
    households = _chosen(actor, village, household_ids)
    renew = sum(1 for h in households if h.card_issued_at is not None) if cards else 0
    return LetterPlan(households=len(households), cards_renewed=renew)


def village_letters_issue(
    *, actor: Actor, village: Region, household_ids: Sequence[Any], pins: bool, cards: bool
) -> list[Letter]:
    """New PINs (pins) and card codes (cards: reprints revoke the old code) for the chosen
    households of one village, set-based, in one transaction with one audit row."""
    if not (pins or cards):
        raise invalid(_("请选择要打印密码信还是积分卡"), field="what")
    now = timezone.now()
    with transaction.atomic():
        households = _chosen(actor, village, household_ids)
        plain = {h.pk: new_pin() for h in households} if pins else {}
        if pins:
            _store_pins(plain, now)
        renewed = set(_issue_cards(households, now)) if cards else set()
        audit_record(
            actor_id=actor.user_id,
            scheme_id=households[0].scheme_id,
            action=AuditAction.VILLAGE_LETTERS_PRINT,
            obj=village,
            detail={
                "village": village.code,
                "households": [h.pk for h in households],
                "new_pins": pins,
                "cards": cards,
                "cards_renewed": sorted(renewed),
            },
        )
    return [
        Letter(household=h, pin=plain.get(h.pk), card_renewed=h.pk in renewed) for h in households
    ]


# --- residents change their own PIN --------------------------------------------------------


def household_pin_change(*, household: Household, old_pin: Any, new_pin: Any, again: Any) -> None:
    """A resident changes the PIN on the phone: the old PIN, the new one twice.

    The new PIN is checked first (that costs no try); the old one is then tried like a login
    (counted first, 5 wrong in a row lock the household for 15 minutes). Other phones are
    signed out; the caller keeps its session by taking the new ``login_epoch``.
    """
    if not isinstance(new_pin, str) or not new_pin:
        raise invalid(_("请输入新密码"), field="new_pin")
    problem = pin_problem(new_pin)
    if problem:
        raise invalid(problem, field="new_pin")
    if again != new_pin:
        raise invalid(_("两次输入的新密码不一样"), field="again")
    if new_pin == old_pin:
        raise invalid(_("新密码不能和原密码一样"), field="new_pin")
    has_pin = Household.objects.filter(pk=household.pk).exclude(pin_hash="").exists()
    if has_pin:
        _old_pin_check(household, old_pin)
    with transaction.atomic():
        _store_pins({household.pk: new_pin}, timezone.now())
        audit_record(
            actor_id=None,
            scheme_id=household.scheme_id,
            action=AuditAction.HOUSEHOLD_PIN_CHANGE
            if has_pin
            else AuditAction.HOUSEHOLD_PIN_FIRST_SET,
            obj=household,
        )
    household.refresh_from_db()


def _old_pin_check(household: Household, old_pin: Any) -> None:
    """A household that logged in by SMS and never had a PIN sets one without an old PIN."""
    if not isinstance(old_pin, str) or not old_pin:
        raise invalid(_("请输入原密码"), field="old_pin")
    tried = household_pin_try(household_id=household.pk, pin=old_pin)
    if tried.locked:
        raise ApplicationError(
            ErrorCode.LOCKED_OUT,
            _("密码错误次数过多，请15分钟后再试，或找村委会重设密码"),
            {"field": "old_pin"},
        )
    if not tried.ok:
        raise ApplicationError(
            ErrorCode.PIN_INCORRECT,
            _("原密码不对，还可以再试%(n)d次") % {"n": tried.attempts_left}
            if tried.attempts_left
            else _("原密码不对，已锁定15分钟"),
            {"field": "old_pin", "attempts_left": tried.attempts_left},
        )


def household_access_for(actor: Actor, household_id: Any) -> Household:
    """The household whose PIN and card the actor manages: 404 outside the actor's scope."""
    household = household_for(actor, household_id)
    if not can_manage_access(actor, household):
        raise NotFound("household")
    return household
