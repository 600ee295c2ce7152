"""Mutual help (邻里互助): one household helps another for some hours.

The helper's claim (the scheme's 互助 rule, 15 points an hour in the demo) exists only once
the help is confirmed, by the helped household itself or by a grid worker or admin covering
it, so an unconfirmed report can never be approved. A rejection makes no claim at all.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from civicpoints.activities.models import MutualHelp, MutualHelpStatus
from civicpoints.activities.selectors import CHECKERS, mutual_help_rule
from civicpoints.activities.services.activities import clean_text
from civicpoints.activities.services.hours import format_hours
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import ClaimSource
from civicpoints.awards.services.claims import NewClaim, claim_create, clean_quantity
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.households.models import Household, HouseholdStatus, Member
from civicpoints.rules.models import Unit
from civicpoints.rules.selectors import rule_in_force
from civicpoints.schemes.models import User
from civicpoints.schemes.scope import Actor, require_role

MAX_HOURS = Decimal(24)


def mutual_help_report(
    *,
    helper: Household,
    helped: Household,
    hours: Any,
    occurred_on: dt.date,
    note: str = "",
    actor: Actor | None = None,
    helper_member_id: int | None = None,
    at: dt.datetime | None = None,
) -> MutualHelp:
    """Record help given, pending confirmation: by staff covering the helper (``actor``), or
    by the helper household itself (no actor: the resident face)."""
    now = at or timezone.now()
    if actor is not None:
        require_role(
            actor,
            roles=CHECKERS,
            scheme_id=helper.scheme_id,
            region_path=helper.village.path,
            action="mutual_help.report",
        )
    if helper.pk == helped.pk:
        raise invalid("帮助户和受助户不能是同一户", field="helped")
    if helper.scheme_id != helped.scheme_id:
        raise invalid("受助户不在本方案内", field="helped")
    if HouseholdStatus.CLOSED in (helper.status, helped.status):
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    quantity = clean_quantity(hours, Unit.HOUR)
    if quantity > MAX_HOURS:
        raise invalid("一次互助不超过24小时", field="hours")
    today = timezone.localdate(now)
    if occurred_on > today:
        raise invalid("日期不能晚于今天", field="occurred_on")
    if occurred_on < today - dt.timedelta(days=366):
        raise invalid("日期不能早于一年前", field="occurred_on")
    note = clean_text(note, field="note", limit=300)
    if (
        helper_member_id is not None
        and not Member.objects.filter(pk=helper_member_id, household=helper).exists()
    ):
        raise invalid("成员不属于帮助户", field="member")
    rule = mutual_help_rule(scheme_id=helper.scheme_id, at=now)
    if rule is None:
        raise invalid("本方案没有设置按小时计的「互助」细则", field="rule")
    with transaction.atomic():
        help_row = MutualHelp.objects.create(
            scheme_id=helper.scheme_id,
            helper=helper,
            helper_member_id=helper_member_id,
            helped=helped,
            rule=rule,
            hours=quantity,
            occurred_on=occurred_on,
            note=note,
            reported_by_id=actor.user_id if actor else None,
            created_at=now,
        )
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=helper.scheme_id,
            action="mutual_help.report",
            obj=help_row,
            detail={"helper": helper.pk, "helped": helped.pk, "hours": str(quantity)},
        )
    return help_row


def _decider(help_row: MutualHelp, actor: Actor | None, household: Household | None) -> None:
    """The helped household itself, or staff covering it who did not report the help."""
    if (actor is None) == (household is None):
        raise ValueError("give either actor or household")
    if household is not None:
        if household.pk != help_row.helped_id:
            raise NotFound("mutual_help")
        return
    assert actor is not None
    require_role(
        actor,
        roles=CHECKERS,
        scheme_id=help_row.scheme_id,
        region_path=help_row.helped.village.path,
        action="mutual_help.confirm",
    )
    if help_row.reported_by_id is not None and actor.user_id == help_row.reported_by_id:
        raise ApplicationError(
            ErrorCode.SAME_APPROVER, "报告人不能自己确认，请由受助户或另一位工作人员确认"
        )


def _locked(help_row: MutualHelp) -> MutualHelp:
    found = MutualHelp.objects.select_for_update().filter(pk=help_row.pk).first()
    if found is None:
        raise NotFound("mutual_help")
    return MutualHelp.objects.select_related("helper__village", "helped__village", "rule").get(
        pk=found.pk
    )


def mutual_help_confirm(
    *,
    help_row: MutualHelp,
    actor: Actor | None = None,
    household: Household | None = None,
    at: dt.datetime | None = None,
) -> MutualHelp:
    """Confirm the help and create the helper's claim (hours x the rule's rate), which then
    goes through review and notice. Confirming again changes nothing."""
    now = at or timezone.now()
    with transaction.atomic():
        help_row = _locked(help_row)
        _decider(help_row, actor, household)
        if help_row.status == MutualHelpStatus.CONFIRMED:
            return help_row
        if help_row.status != MutualHelpStatus.PENDING:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, "该互助记录已被否认", {"status": help_row.status}
            )
        rule = rule_in_force(scheme_id=help_row.scheme_id, rule_id=help_row.rule_id, at=now)
        helped_name = help_row.helped.head_name
        if actor is not None:
            user = User.objects.filter(pk=actor.user_id or 0).first()
            witness = f"受助户 {helped_name}（{user} 核实）"
        else:
            witness = f"受助户 {helped_name} 确认"
        note = f"邻里互助：帮助 {helped_name} {format_hours(help_row.hours)} 小时"
        if help_row.note:
            note += f"。{help_row.note}"
        claim = claim_create(
            NewClaim(
                household=help_row.helper,
                rule=rule,
                quantity=help_row.hours,
                occurred_on=help_row.occurred_on,
                source=ClaimSource.MUTUAL_HELP,
                proposed_by_id=help_row.reported_by_id or (actor.user_id if actor else None),
                member_id=help_row.helper_member_id,
                note=note,
                witness=witness[:60],
                origin_ref=f"mutual_help:{help_row.pk}",
            ),
            at=now,
        )
        help_row.status = MutualHelpStatus.CONFIRMED
        help_row.claim = claim
        help_row.decided_by_id = actor.user_id if actor else None
        help_row.decided_by_helped = actor is None
        help_row.decided_at = now
        help_row.save(
            update_fields=["status", "claim", "decided_by", "decided_by_helped", "decided_at"]
        )
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=help_row.scheme_id,
            action="mutual_help.confirm",
            obj=help_row,
            detail={"claim": claim.pk, "by_helped": actor is None},
        )
    return help_row


def mutual_help_reject(
    *,
    help_row: MutualHelp,
    reason: str,
    actor: Actor | None = None,
    household: Household | None = None,
    at: dt.datetime | None = None,
) -> MutualHelp:
    """The helped household (or staff) says it did not happen as reported: no claim."""
    now = at or timezone.now()
    reason = clean_text(reason, field="reason", limit=500, required=True)
    with transaction.atomic():
        help_row = _locked(help_row)
        _decider(help_row, actor, household)
        if help_row.status != MutualHelpStatus.PENDING:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, "该互助记录已处理", {"status": help_row.status}
            )
        help_row.status = MutualHelpStatus.REJECTED
        help_row.reason = reason
        help_row.decided_by_id = actor.user_id if actor else None
        help_row.decided_by_helped = actor is None
        help_row.decided_at = now
        help_row.save(
            update_fields=["status", "reason", "decided_by", "decided_by_helped", "decided_at"]
        )
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=help_row.scheme_id,
            action="mutual_help.reject",
            obj=help_row,
            detail={"reason": reason},
        )
    return help_row
