"""The claim workflow: submit, approve (village, then township when needed), reject, withdraw,
object. Caps, duplicates, the village quota and disqualification are checked at approval,
under row locks, so two approvals at once cannot both squeeze under a limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import (
    LIVE_STATUSES,
    Claim,
    ClaimEvent,
    ClaimSource,
    ClaimStatus,
    VillageQuota,
)
from civicpoints.awards.services.evidence import evidence_attach
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household, HouseholdStatus, Member
from civicpoints.households.standing import disqualified_on
from civicpoints.ledger.amounts import MAX_HUNDREDTHS, format_points
from civicpoints.notifications import events as notify_events
from civicpoints.rules.models import ApprovalLevel, Rule, Unit
from civicpoints.rules.selectors import rule_in_force
from civicpoints.rules.services import claim_points
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role

PROPOSERS = ADMIN_ROLES | {Role.GRID_WORKER}
TOWNSHIP_REVIEWERS = frozenset({Role.TOWNSHIP_ADMIN, Role.COUNTY_ADMIN})
MAX_QUANTITY = Decimal("1000000")
WHOLE_UNITS = {Unit.OCCURRENCE, Unit.BOTTLE, Unit.ITEM, Unit.DAY}


# A claim's move (``ClaimEvent.action``) as an audit action.
CLAIM_AUDIT = {
    "submit": AuditAction.CLAIM_SUBMIT,
    "approve": AuditAction.CLAIM_APPROVE,
    "reject": AuditAction.CLAIM_REJECT,
    "withdraw": AuditAction.CLAIM_WITHDRAW,
    "object": AuditAction.CLAIM_OBJECT,
}


def _event(
    claim: Claim,
    *,
    actor_id: int | None,
    action: str,
    from_status: str,
    reason: str = "",
    household_id: int | None = None,
) -> ClaimEvent:
    event = ClaimEvent.objects.create(
        scheme_id=claim.scheme_id,
        claim=claim,
        actor_id=actor_id,
        actor_household_id=household_id,
        action=action,
        from_status=from_status,
        to_status=claim.status,
        reason=reason[:500],
    )
    if actor_id is not None:
        audit_record(
            actor_id=actor_id,
            scheme_id=claim.scheme_id,
            action=CLAIM_AUDIT[action],
            obj=claim,
            detail={"from": from_status, "to": claim.status, "reason": reason[:200]},
        )
    return event


def clean_quantity(raw: Any, unit: str) -> Decimal:
    if isinstance(raw, bool) or raw is None:
        raise invalid("数量必须是数字", field="quantity")
    try:
        quantity = Decimal(str(raw)) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        raise invalid("数量必须是数字", field="quantity") from None
    if not quantity.is_finite() or quantity <= 0:
        raise invalid("数量必须大于0", field="quantity")
    if quantity > MAX_QUANTITY:
        raise invalid("数量太大", field="quantity")
    if quantity != quantity.quantize(Decimal("0.01")):
        raise invalid("数量最多两位小数", field="quantity")
    if unit in WHOLE_UNITS and quantity != quantity.to_integral_value():
        raise invalid("该细则按整数计数", field="quantity")
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
        raise invalid("细则不属于该方案", field="rule")
    quantity = clean_quantity(new.quantity, rule.unit)
    if new.occurred_on > timezone.localdate(now):
        raise invalid("发生日期不能晚于今天", field="occurred_on")
    if new.occurred_on < timezone.localdate(now) - dt.timedelta(days=366):
        raise invalid("发生日期不能早于一年前", field="occurred_on")
    note, witness = new.note.strip(), new.witness.strip()
    if len(note) > 500 or len(witness) > 60:
        raise invalid("说明或证明人太长", field="note")
    if rule.needs_note and not note:
        raise ApplicationError(ErrorCode.EVIDENCE_REQUIRED, "该细则需要填写说明", {"field": "note"})
    if rule.needs_witness and not witness:
        raise ApplicationError(
            ErrorCode.EVIDENCE_REQUIRED, "该细则需要填写证明人", {"field": "witness"}
        )
    points = claim_points(rule=rule, quantity=quantity)
    if not 0 < points <= MAX_HUNDREDTHS:
        raise invalid("积分超出允许范围", field="quantity")
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
        raise invalid("成员不属于该户", field="member")
    claim = build_claim(new, now=now)
    with transaction.atomic():
        claim.save()
        _event(claim, actor_id=new.proposed_by_id, action="submit", from_status="")
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


def _locked(claim: Claim) -> Claim:
    fresh = Claim.objects.select_for_update().filter(pk=claim.pk).first()
    if fresh is None:
        raise ApplicationError(ErrorCode.NOT_FOUND)
    return Claim.objects.select_related("rule", "village", "household", "scheme").get(pk=fresh.pk)


def _period_bounds(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    if period == "day":
        return day, day
    if period == "month":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        return start, end
    return day.replace(month=1, day=1), day.replace(month=12, day=31)


def _live_sum(queryset: QuerySet[Claim]) -> int:
    return queryset.filter(status__in=LIVE_STATUSES).aggregate(t=Sum("points"))["t"] or 0


def _check_disqualified(claim: Claim) -> None:
    if claim.is_deduction:
        return
    ban = disqualified_on(household_id=claim.household_id, day=claim.occurred_on)
    if ban is not None:
        raise ApplicationError(
            ErrorCode.DISQUALIFIED,
            _("该户处于一票否决期内（至 %(until)s）：%(reason)s")
            % {"until": f"{ban.ends_on:%Y-%m-%d}", "reason": ban.reason},
            {"until": ban.ends_on.isoformat(), "reason": ban.reason},
        )


def _check_duplicate(claim: Claim) -> None:
    import_ref = Q(origin_ref__startswith="import:")
    same = Claim.objects.filter(
        household_id=claim.household_id,
        rule__code=claim.rule.code,
        occurred_on=claim.occurred_on,
        status__in=LIVE_STATUSES,
    ).exclude(pk=claim.pk)
    # One activity or one mutual-help event is a different deed from another on the same day;
    # a claim from an imported sheet is no different from one typed in.
    if claim.origin_ref and not claim.origin_ref.startswith("import:"):
        same = same.filter(Q(origin_ref=claim.origin_ref) | Q(origin_ref="") | import_ref)
    earlier = same.order_by("pk").first()
    if earlier is not None:
        raise ApplicationError(
            ErrorCode.DUPLICATE_CLAIM,
            f"该户 {claim.occurred_on:%Y-%m-%d} 已有「{claim.rule.name}」的申报（#{earlier.pk}）",
            {"claim": earlier.pk, "rule": claim.rule.code, "day": claim.occurred_on.isoformat()},
        )


CAP_NAMES = {"day": "每日", "month": "每月", "year": "每年"}


def _check_caps(claim: Claim) -> None:
    rule = claim.rule
    for period, cap in (("day", rule.cap_day), ("month", rule.cap_month), ("year", rule.cap_year)):
        if cap is None:
            continue
        start, end = _period_bounds(claim.occurred_on, period)
        used = _live_sum(
            Claim.objects.filter(
                household_id=claim.household_id,
                rule__code=rule.code,
                occurred_on__range=(start, end),
            ).exclude(pk=claim.pk)
        )
        if used + claim.points > cap:
            raise ApplicationError(
                ErrorCode.CAP_EXCEEDED,
                f"「{rule.name}」{CAP_NAMES[period]}上限 {format_points(cap)} 分，"
                f"已有 {format_points(used)} 分，本次 {format_points(claim.points)} 分",
                {
                    "period": period,
                    "cap": cap / 100,
                    "used": used / 100,
                    "requested": claim.points / 100,
                },
            )


def _check_quota(claim: Claim) -> None:
    if claim.is_deduction:
        return
    year = claim.occurred_on.year
    quota = (
        VillageQuota.objects.select_for_update()
        .filter(scheme_id=claim.scheme_id, village_id=claim.village_id, year=year)
        .first()
    )
    if quota is None:
        return
    used = _live_sum(
        Claim.objects.filter(
            scheme_id=claim.scheme_id,
            village_id=claim.village_id,
            is_deduction=False,
            occurred_on__year=year,
        ).exclude(pk=claim.pk)
    )
    if used + claim.points > quota.points:
        raise ApplicationError(
            ErrorCode.QUOTA_EXCEEDED,
            f"{claim.village.name}{year}年积分额度 {format_points(quota.points)} 分，"
            f"已用 {format_points(used)} 分，本次 {format_points(claim.points)} 分",
            {"quota": quota.points / 100, "used": used / 100, "requested": claim.points / 100},
        )


def check_limits(claim: Claim) -> None:
    """Every limit a claim must pass before it counts (caller holds the household lock)."""
    _check_disqualified(claim)
    _check_duplicate(claim)
    if not claim.is_deduction:
        _check_caps(claim)
    _check_quota(claim)


def claim_approve(*, actor: Actor, claim: Claim, at: dt.datetime | None = None) -> Claim:
    now = at or timezone.now()
    with transaction.atomic():
        # Lock the household first (caps are per household), then the claim: one order always.
        Household.objects.select_for_update().filter(pk=claim.household_id).first()
        claim = _locked(claim)
        before = claim.status
        if before == ClaimStatus.SUBMITTED:
            require_role(
                actor,
                roles=ADMIN_ROLES,
                scheme_id=claim.scheme_id,
                region_path=claim.village.path,
                action="claim.approve",
            )
            # An activity's attendance record (scanned in and out) is its evidence.
            photo_due = claim.rule.needs_photo and claim.source != ClaimSource.ACTIVITY
            if photo_due and not claim.evidence.exists():
                raise ApplicationError(
                    ErrorCode.EVIDENCE_REQUIRED, "该细则需要上传照片", {"field": "photo"}
                )
            check_limits(claim)
            claim.village_approved_by_id = actor.user_id
            fields = ["village_approved_by", "status", "notice_ends_at", "updated_at"]
        elif before == ClaimStatus.APPROVED:
            require_role(
                actor,
                roles=TOWNSHIP_REVIEWERS,
                scheme_id=claim.scheme_id,
                region_path=claim.village.path,
                action="claim.approve_township",
            )
            if actor.user_id == claim.village_approved_by_id:
                raise ApplicationError(ErrorCode.SAME_APPROVER)
            claim.township_approved_by_id = actor.user_id
            fields = ["township_approved_by", "status", "notice_ends_at", "updated_at"]
        else:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, detail={"status": before, "action": "approve"}
            )
        if before == ClaimStatus.SUBMITTED and claim.needs_township:
            claim.status = ClaimStatus.APPROVED
        else:
            claim.status = ClaimStatus.ON_NOTICE
            claim.notice_ends_at = now + dt.timedelta(days=claim.scheme.notice_days)
        claim.save(update_fields=fields)
        _event(claim, actor_id=actor.user_id, action="approve", from_status=before)
    return claim


def _require_reviewer(actor: Actor, claim: Claim, action: str) -> None:
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=claim.scheme_id,
        region_path=claim.village.path,
        action=action,
    )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise invalid("请填写原因", field="reason")
    if len(reason) > 500:
        raise invalid("原因太长（最多500个字）", field="reason")
    return reason


def claim_reject(*, actor: Actor, claim: Claim, reason: str) -> Claim:
    reason = _reason(reason)
    with transaction.atomic():
        claim = _locked(claim)
        _require_reviewer(actor, claim, "claim.reject")
        before = claim.status
        if before not in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED, ClaimStatus.ON_NOTICE):
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, detail={"status": before, "action": "reject"}
            )
        claim.status = ClaimStatus.REJECTED
        claim.notice_ends_at = None
        claim.save(update_fields=["status", "notice_ends_at", "updated_at"])
        _event(claim, actor_id=actor.user_id, action="reject", from_status=before, reason=reason)
        notify_events.claim_rejected(claim, reason=reason)
    return claim


def claim_withdraw(*, actor: Actor, claim: Claim, reason: str = "") -> Claim:
    with transaction.atomic():
        claim = _locked(claim)
        if claim.proposed_by_id != actor.user_id:
            _require_reviewer(actor, claim, "claim.withdraw")
        before = claim.status
        if before not in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED):
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, detail={"status": before, "action": "withdraw"}
            )
        claim.status = ClaimStatus.WITHDRAWN
        claim.save(update_fields=["status", "updated_at"])
        _event(claim, actor_id=actor.user_id, action="withdraw", from_status=before, reason=reason)
    return claim


def claim_object(
    *,
    claim: Claim,
    reason: str,
    actor: Actor | None = None,
    objector: Household | None = None,
    at: dt.datetime | None = None,
) -> Claim:
    """An objection during notice sends the claim back to review (any resident of the village,
    or staff of the village who propose claims; auditors read, they never write)."""
    now = at or timezone.now()
    reason = _reason(reason)
    with transaction.atomic():
        claim = _locked(claim)
        if objector is not None:
            if objector.village_id != claim.village_id or objector.scheme_id != claim.scheme_id:
                raise ApplicationError(ErrorCode.NOT_FOUND)
            if objector.pk == claim.household_id:
                raise ApplicationError(
                    ErrorCode.PERMISSION_DENIED,
                    _("不能对自己家的申报提出异议"),
                    {"action": "claim.object", "field": "reason"},
                )
        elif actor is None or not actor.covers(
            roles=PROPOSERS,
            scheme_id=claim.scheme_id,
            region_path=claim.village.path,
        ):
            raise ApplicationError(ErrorCode.PERMISSION_DENIED, detail={"action": "claim.object"})
        before = claim.status
        if before != ClaimStatus.ON_NOTICE or (
            claim.notice_ends_at and claim.notice_ends_at <= now
        ):
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION,
                "只能在公示期内提出异议",
                {"status": before, "action": "object"},
            )
        claim.status = ClaimStatus.SUBMITTED
        claim.notice_ends_at = None
        claim.village_approved_by_id = None
        claim.township_approved_by_id = None
        claim.save(
            update_fields=[
                "status",
                "notice_ends_at",
                "village_approved_by",
                "township_approved_by",
                "updated_at",
            ]
        )
        event = _event(
            claim,
            actor_id=actor.user_id if actor else None,
            household_id=objector.pk if objector else None,
            action="object",
            from_status=before,
            reason=reason,
        )
        notify_events.claim_objected(claim, event_id=event.pk)
    return claim


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
