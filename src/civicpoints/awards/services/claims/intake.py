"""Claims coming in: staff proposals, residents' own reports, and ``claim_create`` for every
other source (activities, mutual help, the evaluation sheet). Each claim is checked and
priced here (``build_claim``) and starts as submitted; nothing here approves or posts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.awards.models import Claim, ClaimSource
from civicpoints.awards.services.claims.history import claim_event_record
from civicpoints.awards.services.evidence import evidence_attach
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household, HouseholdStatus, Member
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.rules.models import ApprovalLevel, Rule, Unit
from civicpoints.rules.selectors import rule_in_force
from civicpoints.rules.services import claim_points
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role

PROPOSERS = ADMIN_ROLES | {Role.GRID_WORKER}
MAX_QUANTITY = Decimal("1000000")
WHOLE_UNITS = {Unit.OCCURRENCE, Unit.BOTTLE, Unit.ITEM, Unit.DAY}


def clean_quantity(raw: Any, unit: str) -> Decimal:
    """A quantity as typed, checked: positive, at most two decimals, whole for counted units
    (also used for mutual-help hours)."""
    if isinstance(raw, bool) or raw is None:
        raise invalid(_("数量必须是数字"), field="quantity")
    try:
        quantity = Decimal(str(raw)) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        raise invalid(_("数量必须是数字"), field="quantity") from None
    if not quantity.is_finite() or quantity <= 0:
        raise invalid(_("数量必须大于0"), field="quantity")
    if quantity > MAX_QUANTITY:
        raise invalid(_("数量太大"), field="quantity")
    if quantity != quantity.quantize(Decimal("0.01")):
        raise invalid(_("数量最多两位小数"), field="quantity")
    if unit in WHOLE_UNITS and quantity != quantity.to_integral_value():
        raise invalid(_("该细则按整数计数"), field="quantity")
    return quantity.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class NewClaim:
    """What every source of claims supplies (staff, activities, mutual help, imports)."""

    household: Household
    rule: Rule
    quantity: Decimal
    occurred_on: dt.date
    source: str
    proposed_by_id: int | None = None
    member_id: int | None = None
    note: str = ""
    witness: str = ""
    origin_ref: str = ""


def build_claim(new: NewClaim, *, now: dt.datetime) -> Claim:
    """Validate and build (not save) a claim; shared by single and set-based creation."""
    household, rule = new.household, new.rule
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    if rule.scheme_id != household.scheme_id:
        raise invalid(_("细则不属于该方案"), field="rule")
    quantity = clean_quantity(new.quantity, rule.unit)
    if new.occurred_on > timezone.localdate(now):
        raise invalid(_("发生日期不能晚于今天"), field="occurred_on")
    if new.occurred_on < timezone.localdate(now) - dt.timedelta(days=366):
        raise invalid(_("发生日期不能早于一年前"), field="occurred_on")
    note, witness = new.note.strip(), new.witness.strip()
    if len(note) > 500 or len(witness) > 60:
        raise invalid(_("说明或证明人太长"), field="note")
    if rule.needs_note and not note:
        raise ApplicationError(
            ErrorCode.EVIDENCE_REQUIRED, _("该细则需要填写说明"), {"field": "note"}
        )
    if rule.needs_witness and not witness:
        raise ApplicationError(
            ErrorCode.EVIDENCE_REQUIRED, _("该细则需要填写证明人"), {"field": "witness"}
        )
    points = claim_points(rule=rule, quantity=quantity)
    if not 0 < points <= MAX_HUNDREDTHS:
        raise invalid(_("积分超出允许范围"), field="quantity")
    needs_township = rule.approval_level == ApprovalLevel.TOWNSHIP and (
        rule.township_threshold is None or points > rule.township_threshold
    )
    return Claim(
        scheme_id=household.scheme_id,
        household=household,
        village_id=household.village_id,
        member_id=new.member_id,
        rule=rule,
        quantity=quantity,
        points=points,
        is_deduction=rule.is_deduction,
        occurred_on=new.occurred_on,
        source=new.source,
        proposed_by_id=new.proposed_by_id,
        note=note,
        witness=witness,
        needs_township=needs_township,
        origin_ref=new.origin_ref,
        created_at=now,
    )


def claim_create(new: NewClaim, *, at: dt.datetime | None = None) -> Claim:
    """Create one submitted claim (callers have checked who may propose it)."""
    now = at or timezone.now()
    if (
        new.member_id is not None
        and not Member.objects.filter(pk=new.member_id, household=new.household).exists()
    ):
        raise invalid(_("成员不属于该户"), field="member")
    claim = build_claim(new, now=now)
    with transaction.atomic():
        claim.save()
        claim_event_record(claim, actor_id=new.proposed_by_id, action="submit", from_status="")
    return claim


def claim_submit(
    *,
    actor: Actor,
    household: Household,
    rule_id: object,
    quantity: Any,
    occurred_on: dt.date | None = None,
    member_id: int | None = None,
    note: str = "",
    witness: str = "",
) -> Claim:
    """A staff member (grid worker or admin) proposes an award or a deduction."""
    require_role(
        actor,
        roles=PROPOSERS,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action="claim.submit",
    )
    rule = rule_in_force(scheme_id=household.scheme_id, rule_id=rule_id)
    only_grid = not actor.covers(
        roles=ADMIN_ROLES, scheme_id=household.scheme_id, region_path=household.village.path
    )
    return claim_create(
        NewClaim(
            household=household,
            rule=rule,
            quantity=quantity,
            occurred_on=occurred_on or timezone.localdate(),
            source=ClaimSource.GRID_WORKER if only_grid else ClaimSource.STAFF,
            proposed_by_id=actor.user_id,
            member_id=member_id,
            note=note,
            witness=witness,
        )
    )


def claim_self_report(
    *,
    household: Household,
    rule_id: object,
    quantity: Any,
    occurred_on: dt.date,
    note: str = "",
    witness: str = "",
    photo: bytes | None = None,
) -> Claim:
    """A resident reports their own good deed (with a photo when the rule asks for one)."""
    rule = rule_in_force(scheme_id=household.scheme_id, rule_id=rule_id)
    if rule.is_deduction:
        raise ApplicationError(ErrorCode.NOT_FOUND, detail={"object": "rule"})
    if rule.needs_photo and not photo:
        raise ApplicationError(
            ErrorCode.EVIDENCE_REQUIRED, _("这一项需要拍张照片"), {"field": "photo"}
        )
    with transaction.atomic():
        claim = claim_create(
            NewClaim(
                household=household,
                rule=rule,
                quantity=quantity,
                occurred_on=occurred_on,
                source=ClaimSource.SELF_REPORT,
                note=note,
                witness=witness,
            )
        )
        if photo:
            evidence_attach(claim=claim, data=photo, household=household)
    return claim
