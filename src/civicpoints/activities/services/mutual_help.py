"""Mutual help (邻里互助): one household helps another for some hours.

The helper's claim (the scheme's 互助 rule, 15 points an hour in the demo) exists only once
both sides agree: help reported by the helper (or staff for it) waits for the helped household
itself, or a grid worker or admin covering it, to confirm; help recorded by the helped
household ("someone helped me") is confirmed by that act. An unconfirmed report can never be
approved, a rejection makes no claim at all, and the helper never confirms its own report.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.activities.models import MutualHelp, MutualHelpStatus
from civicpoints.activities.selectors import CHECKERS, mutual_help_rule
from civicpoints.activities.services.activities import clean_text
from civicpoints.activities.services.hours import format_hours
from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import ClaimSource
from civicpoints.awards.services.claims import NewClaim, claim_create, clean_quantity
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.households.models import Household, HouseholdStatus, Member
from civicpoints.notifications.services import notify
from civicpoints.rules.models import Rule, Unit
from civicpoints.rules.selectors import rule_in_force
from civicpoints.schemes.models import User
from civicpoints.schemes.scope import Actor, require_role

MAX_HOURS = Decimal(24)

# Text written into the helper's claim stays Chinese whatever the language of who confirms it.
STORED_TEXT = {
    "note": "邻里互助：帮助 %(name)s %(hours)s 小时",
    "note_more": "%(note)s。%(more)s",
    "recorded": "受助户 %(name)s 登记",
    "confirmed": "受助户 %(name)s 确认",
    "checked": "受助户 %(name)s（%(user)s 核实）",
}


def _checked(
    *,
    helper: Household,
    helped: Household,
    hours: Any,
    occurred_on: dt.date,
    note: str,
    helper_member_id: int | None,
    same_village: bool,
    now: dt.datetime,
) -> tuple[Decimal, str, Rule]:
    """Every check on a record of help, before anything is written: (hours, note, rule)."""
    if helper.pk == helped.pk:
        raise invalid(_("帮助户和受助户不能是同一户"), field="helped")
    if helper.scheme_id != helped.scheme_id:
        raise invalid(_("受助户不在本方案内"), field="helped")
    if same_village and helper.village_id != helped.village_id:
        raise invalid(_("只能登记本村农户之间的互助"), field="helped")
    if HouseholdStatus.CLOSED in (helper.status, helped.status):
        closed = helper if helper.status == HouseholdStatus.CLOSED else helped
        raise ApplicationError(
            ErrorCode.HOUSEHOLD_CLOSED,
            _("%(name)s 户已注销，不能登记互助") % {"name": closed.head_name},
            {"household": closed.pk},
        )
    try:
        quantity = clean_quantity(hours, Unit.HOUR)
    except ApplicationError as exc:  # the same words, at the field the caller knows: hours
        raise invalid(exc.message, field="hours") from None
    if quantity > MAX_HOURS:
        raise invalid(_("一次互助不超过24小时"), field="hours")
    today = timezone.localdate(now)
    if occurred_on > today:
        raise invalid(_("日期不能晚于今天"), field="occurred_on")
    if occurred_on < today - dt.timedelta(days=366):
        raise invalid(_("日期不能早于一年前"), field="occurred_on")
    note = clean_text(note, field="note", limit=300)
    if (
        helper_member_id is not None
        and not Member.objects.filter(pk=helper_member_id, household=helper).exists()
    ):
        raise invalid(_("成员不属于帮助户"), field="member")
    rule = mutual_help_rule(scheme_id=helper.scheme_id, at=now)
    if rule is None:
        raise invalid(_("本方案没有设置按小时计的「互助」细则"), field="rule")
    return quantity, note, rule


def _refuse_duplicate(*, helper: Household, helped: Household, occurred_on: dt.date) -> None:
    """One record of help per pair of households and day (a double tap, a retry, or the same
    help recorded as given by one side and as received by the other would pay twice). The
    pair's household rows are locked in id order, so two parallel records cannot both pass."""
    list(
        Household.objects.select_for_update()
        .filter(pk__in=sorted({helper.pk, helped.pk}))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if (
        MutualHelp.objects.filter(helper=helper, helped=helped, occurred_on=occurred_on)
        .exclude(status=MutualHelpStatus.REJECTED)
        .exists()
    ):
        raise ApplicationError(
            ErrorCode.DUPLICATE_CLAIM,
            _("%(helper)s 户在这一天帮助 %(helped)s 户的互助已经登记过了")
            % {"helper": helper.head_name, "helped": helped.head_name},
            {"field": "other"},
        )


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
    by the helper household itself (no actor: the resident face, within its own village).
    The helped household is sent a text asking it to confirm on its phone."""
    now = at or timezone.now()
    if actor is not None:
        require_role(
            actor,
            roles=CHECKERS,
            scheme_id=helper.scheme_id,
            region_path=helper.village.path,
            action="mutual_help.report",
        )
    quantity, note, rule = _checked(
        helper=helper,
        helped=helped,
        hours=hours,
        occurred_on=occurred_on,
        note=note,
        helper_member_id=helper_member_id,
        same_village=actor is None,
        now=now,
    )
    with transaction.atomic():
        _refuse_duplicate(helper=helper, helped=helped, occurred_on=occurred_on)
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
            action=AuditAction.MUTUAL_HELP_REPORT,
            obj=help_row,
            detail={"helper": helper.pk, "helped": helped.pk, "hours": str(quantity)},
        )
        text = _(
            "【文明积分】%(helper)s 登记了 %(day)s 帮助您 %(hours)s 小时，请在手机上确认。"
        ) % {
            "helper": helper.head_name,
            "day": _("%(month)d月%(day)d日") % {"month": occurred_on.month, "day": occurred_on.day},
            "hours": format_hours(quantity),
        }
        # One "please confirm" text a day per helped household, however many records: a
        # resident cannot flood a neighbour's phone (the phone page lists every pending one).
        notify(
            scheme_id=helped.scheme_id,
            household_id=helped.pk,
            event_key=f"mutual_help.ask:{helped.pk}:{timezone.localdate(now).isoformat()}",
            text=text,
        )
    return help_row


def mutual_help_record_received(
    *,
    helped: Household,
    helper: Household,
    hours: Any,
    occurred_on: dt.date,
    note: str = "",
    at: dt.datetime | None = None,
) -> MutualHelp:
    """The helped household records, on its own phone, that a neighbour helped it. Its word
    is the confirmation: the record is confirmed and the helper's claim made at once (then
    review and notice as for every claim). Only households of the same village."""
    now = at or timezone.now()
    quantity, note, rule = _checked(
        helper=helper,
        helped=helped,
        hours=hours,
        occurred_on=occurred_on,
        note=note,
        helper_member_id=None,
        same_village=True,
        now=now,
    )
    with transaction.atomic():
        _refuse_duplicate(helper=helper, helped=helped, occurred_on=occurred_on)
        help_row = MutualHelp.objects.create(
            scheme_id=helper.scheme_id,
            helper=helper,
            helped=helped,
            rule=rule,
            hours=quantity,
            occurred_on=occurred_on,
            note=note,
            created_at=now,
        )
        # Inserted pending, then confirmed with its claim and marked as the helped side's own
        # record in one UPDATE: the database never holds a helped-side record without a claim.
        help_row = _locked(help_row)
        _confirm_locked(
            help_row,
            actor=None,
            now=now,
            witness=STORED_TEXT["recorded"] % {"name": helped.head_name},
            received=True,
        )
        audit_record(
            actor_id=None,
            scheme_id=helper.scheme_id,
            action=AuditAction.MUTUAL_HELP_RECORD_RECEIVED,
            obj=help_row,
            detail={
                "helper": helper.pk,
                "helped": helped.pk,
                "hours": str(quantity),
                "claim": help_row.claim_id,
            },
        )
    return help_row


def _decider(help_row: MutualHelp, actor: Actor | None, household: Household | None) -> None:
    """The helped household itself, or staff covering it who did not report the help."""
    if (actor is None) == (household is None):
        raise ValueError("give either actor or household")
    if household is not None:
        if household.pk == help_row.helper_id:
            raise ApplicationError(
                ErrorCode.SAME_APPROVER,
                _("您是帮助的一方，不能自己确认，须由受助户确认"),
                {"mutual_help": help_row.pk},
            )
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
            ErrorCode.SAME_APPROVER, _("报告人不能自己确认，请由受助户或另一位工作人员确认")
        )


def _locked(help_row: MutualHelp) -> MutualHelp:
    found = MutualHelp.objects.select_for_update().filter(pk=help_row.pk).first()
    if found is None:
        raise NotFound("mutual_help")
    return MutualHelp.objects.select_related("helper__village", "helped__village", "rule").get(
        pk=found.pk
    )


def _confirm_locked(
    help_row: MutualHelp,
    *,
    actor: Actor | None,
    now: dt.datetime,
    witness: str = "",
    received: bool = False,
) -> None:
    """Make the helper's claim and mark the record confirmed (caller holds its lock)."""
    rule = rule_in_force(scheme_id=help_row.scheme_id, rule_id=help_row.rule_id, at=now)
    helped_name = help_row.helped.head_name
    if not witness and actor is not None:
        user = User.objects.filter(pk=actor.user_id or 0).first()
        witness = STORED_TEXT["checked"] % {"name": helped_name, "user": user}
    elif not witness:
        witness = STORED_TEXT["confirmed"] % {"name": helped_name}
    note = STORED_TEXT["note"] % {
        "name": helped_name,
        "hours": format_hours(help_row.hours),
    }
    if help_row.note:
        note = STORED_TEXT["note_more"] % {"note": note, "more": help_row.note}
    claim = claim_create(
        NewClaim(
            household=help_row.helper,
            rule=rule,
            quantity=help_row.hours,
            occurred_on=help_row.occurred_on,
            source=ClaimSource.MUTUAL_HELP,
            proposed_by_id=help_row.reported_by_id or (actor.user_id if actor else None),
            member_id=help_row.helper_member_id,
            note=note[:500],
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
    help_row.reported_by_helped = received
    help_row.save(
        update_fields=[
            "status",
            "claim",
            "decided_by",
            "decided_by_helped",
            "decided_at",
            "reported_by_helped",
        ]
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
                ErrorCode.INVALID_TRANSITION,
                _("受助户已表示不属实，这条互助不能再确认"),
                {"status": help_row.status},
            )
        _confirm_locked(help_row, actor=actor, now=now)
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=help_row.scheme_id,
            action=AuditAction.MUTUAL_HELP_CONFIRM,
            obj=help_row,
            detail={"claim": help_row.claim_id, "by_helped": actor is None},
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
            message = (
                _("这条互助已确认，不能再表示不属实")
                if help_row.status == MutualHelpStatus.CONFIRMED
                else _("这条互助已表示过不属实")
            )
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, message, {"status": help_row.status}
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
            action=AuditAction.MUTUAL_HELP_REJECT,
            obj=help_row,
            detail={"reason": reason},
        )
    return help_row
