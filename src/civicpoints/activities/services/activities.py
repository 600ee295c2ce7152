"""Activity life cycle: create (draft), publish, cancel, enrol, close into claims.

Capacity is a guarded count under a row lock on the activity: every enrolment (and every
walk-in at check-in) locks the activity row first, so ten sign-ups for five places give
exactly five. Closing turns each attendance into one claim through ``claim_create``; the
``Attendance.claim`` link is the guard that makes a second close create nothing twice.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    Enrolment,
    EnrolmentStatus,
)
from civicpoints.activities.selectors import CHECKERS
from civicpoints.activities.services.hours import capped_quantity, credited_hours, format_hours
from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import ClaimSource
from civicpoints.awards.services.claims import NewClaim, claim_create
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.households.models import Household, HouseholdStatus, Member
from civicpoints.households.services import CARD_ALPHABET
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.rules.models import Rounding, Rule, Unit
from civicpoints.rules.selectors import rule_in_force
from civicpoints.schemes.models import Region, RegionLevel, Scheme, User
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role

CODE_LENGTH = 12  # card codes have 10: the two never look alike
MAX_DURATION = dt.timedelta(hours=24)
ROUNDING_MINUTES = (1, 15, 30, 60)

# Text written into the claims an activity makes (and into attendance rows) stays Chinese
# whatever the language of the admin who closes it.
STORED_TEXT = {
    "note": "志愿活动「%(activity)s」%(hours)s 小时%(capped)s",
    "capped": "（已按本次活动上限计）",
    "witness": "签到员 %(user)s",
    "witness_record": "活动签到记录",
    "too_short": "在活动时间内不足一个计时单位",
}


def new_activity_code() -> str:
    return "".join(secrets.choice(CARD_ALPHABET) for _ in range(CODE_LENGTH))


def clean_text(raw: str, *, field: str, limit: int, required: bool = False) -> str:
    value = (raw or "").strip()
    if required and not value:
        raise invalid(_("不能为空"), field=field)
    if len(value) > limit:
        raise invalid(_("太长（最多%(limit)d个字）") % {"limit": limit}, field=field)
    return value


def _require_manager(actor: Actor, activity: Activity, action: str) -> None:
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=activity.scheme_id,
        region_path=activity.region.path,
        action=action,
    )


def activity_locked(activity: Activity) -> Activity:
    """Re-read the activity under its row lock (the one lock every writer takes first)."""
    locked = Activity.objects.select_for_update().filter(pk=activity.pk).first()
    if locked is None:
        raise NotFound("activity")
    return Activity.objects.select_related("region", "rule", "scheme").get(pk=locked.pk)


def _activity_rule(scheme_id: int, rule_id: object, at: dt.datetime) -> Rule:
    rule = rule_in_force(scheme_id=scheme_id, rule_id=rule_id, at=at)
    if rule.unit != Unit.HOUR or rule.is_deduction:
        raise invalid(_("志愿活动只能使用按小时计的加分细则"), field="rule")
    return rule


def activity_create(
    *,
    actor: Actor,
    scheme: Scheme,
    region: Region,
    title: str,
    place: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    rule_id: object,
    description: str = "",
    capacity: int | None = None,
    per_activity_cap: int | None = None,
    rounding_minutes: int = 30,
    rounding: str = Rounding.DOWN,
    publish: bool = False,
    self_check_in: bool = True,
    at: dt.datetime | None = None,
) -> Activity:
    """A village or township admin (or above) creates an activity, as a draft or published.
    ``self_check_in``: residents may also check in and out by scanning the activity's code."""
    now = at or timezone.now()
    if region.level not in (
        RegionLevel.VILLAGE,
        RegionLevel.TOWNSHIP,
    ) or not region.path.startswith(scheme.operator_region.path):
        raise invalid(_("活动须属于本方案内的一个村或乡镇"), field="region")
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=scheme.pk,
        region_path=region.path,
        action="activity.create",
    )
    fields: dict[str, Any] = {
        "title": clean_text(title, field="title", limit=100, required=True),
        "place": clean_text(place, field="place", limit=200, required=True),
        "description": clean_text(description, field="description", limit=2000),
    }
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        raise invalid(_("时间须带时区"), field="starts_at")
    if not (2000 <= starts_at.year <= 2100 and 2000 <= ends_at.year <= 2100):
        raise invalid(_("活动时间不在合理范围内"), field="starts_at")
    if ends_at <= starts_at:
        raise invalid(_("结束时间须晚于开始时间"), field="ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise invalid(_("一次活动不超过24小时；多日活动请按天分别发布"), field="ends_at")
    if ends_at <= now:
        raise invalid(_("活动结束时间已过"), field="ends_at")
    if capacity is not None and not 1 <= capacity <= 100_000:
        raise invalid(_("名额应在1到100000之间"), field="capacity")
    if per_activity_cap is not None and not 0 < per_activity_cap <= MAX_HUNDREDTHS:
        raise invalid(_("每人上限必须为正数"), field="per_activity_cap")
    if rounding_minutes not in ROUNDING_MINUTES:
        raise invalid(_("时长取整只能是1、15、30或60分钟"), field="rounding_minutes")
    if rounding not in Rounding.values:
        raise invalid(_("取整方式无效"), field="rounding")
    rule = _activity_rule(scheme.pk, rule_id, now)
    with transaction.atomic():
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    activity = Activity.objects.create(
                        scheme=scheme,
                        region=region,
                        starts_at=starts_at,
                        ends_at=ends_at,
                        capacity=capacity,
                        rule=rule,
                        per_activity_cap=per_activity_cap,
                        rounding_minutes=rounding_minutes,
                        rounding=rounding,
                        status=ActivityStatus.PUBLISHED if publish else ActivityStatus.DRAFT,
                        code=new_activity_code(),
                        self_check_in=self_check_in,
                        created_by_id=actor.user_id,
                        created_at=now,
                        **fields,
                    )
                break
            except IntegrityError:  # a code collision (31^12): draw again
                continue
        else:  # pragma: no cover - three collisions in a row do not happen
            raise ApplicationError(ErrorCode.DUPLICATE)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.ACTIVITY_CREATE,
            obj=activity,
            detail={"status": activity.status, "rule": rule.code},
        )
    return activity


def activity_publish(*, actor: Actor, activity: Activity) -> Activity:
    _require_manager(actor, activity, "activity.publish")
    with transaction.atomic():
        activity = activity_locked(activity)
        if activity.status != ActivityStatus.DRAFT:
            raise ApplicationError(
                ErrorCode.ACTIVITY_NOT_OPEN, _("只有草稿可以发布"), {"status": activity.status}
            )
        activity.status = ActivityStatus.PUBLISHED
        activity.save(update_fields=["status"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_PUBLISH,
            obj=activity,
        )
    return activity


def activity_cancel(*, actor: Actor, activity: Activity, reason: str) -> Activity:
    """Call an activity off before anyone has checked in (after that, close it instead)."""
    _require_manager(actor, activity, "activity.cancel")
    reason = clean_text(reason, field="reason", limit=200, required=True)
    with transaction.atomic():
        activity = activity_locked(activity)
        if activity.status not in (ActivityStatus.DRAFT, ActivityStatus.PUBLISHED):
            raise ApplicationError(
                ErrorCode.ACTIVITY_NOT_OPEN, _("活动已结束或已取消"), {"status": activity.status}
            )
        if Attendance.objects.filter(activity_id=activity.pk).exists():
            raise ApplicationError(
                ErrorCode.ACTIVITY_NOT_OPEN, _("已有人签到的活动不能取消，请结束活动"), {}
            )
        activity.status = ActivityStatus.CANCELLED
        activity.save(update_fields=["status"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_CANCEL,
            obj=activity,
            detail={"reason": reason},
        )
    return activity


def may_take_part(activity: Activity, household: Household) -> None:
    if household.scheme_id != activity.scheme_id or not household.village.path.startswith(
        activity.region.path
    ):
        raise NotFound("household")
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)


def enrol_locked(
    activity: Activity,
    household: Household,
    *,
    member_id: int | None,
    created_by_id: int | None,
    walk_in: bool,
    now: dt.datetime,
) -> Enrolment:
    """Enrol under the caller's lock on ``activity``: the guarded count of places."""
    existing = Enrolment.objects.filter(activity_id=activity.pk, household_id=household.pk).first()
    if existing is not None and existing.status == EnrolmentStatus.ENROLLED:
        raise ApplicationError(
            ErrorCode.DUPLICATE, _("该户已报名此活动"), {"enrolment": existing.pk}
        )
    if activity.capacity is not None:
        taken = Enrolment.objects.filter(
            activity_id=activity.pk, status=EnrolmentStatus.ENROLLED
        ).count()
        if taken >= activity.capacity:
            raise ApplicationError(
                ErrorCode.ACTIVITY_FULL,
                _("「%(activity)s」%(capacity)d 个名额已满")
                % {"activity": activity.title, "capacity": activity.capacity},
                {"capacity": activity.capacity, "enrolled": taken},
            )
    if existing is not None:  # signed up again after cancelling
        existing.status = EnrolmentStatus.ENROLLED
        existing.member_id = member_id
        existing.created_by_id = created_by_id
        existing.walk_in = walk_in
        existing.created_at = now
        existing.save(update_fields=["status", "member", "created_by", "walk_in", "created_at"])
        return existing
    return Enrolment.objects.create(
        scheme_id=activity.scheme_id,
        activity=activity,
        household=household,
        member_id=member_id,
        created_by_id=created_by_id,
        walk_in=walk_in,
        created_at=now,
    )


def activity_enrol(
    *,
    activity: Activity,
    household: Household,
    actor: Actor | None = None,
    member_id: int | None = None,
    at: dt.datetime | None = None,
) -> Enrolment:
    """Sign a household up: staff on its behalf (``actor``), or the household itself (no
    actor: the resident face, which has already established who the household is)."""
    now = at or timezone.now()
    if actor is not None:
        require_role(
            actor,
            roles=CHECKERS,
            scheme_id=household.scheme_id,
            region_path=household.village.path,
            action="activity.enrol",
        )
    may_take_part(activity, household)
    if (
        member_id is not None
        and not Member.objects.filter(pk=member_id, household=household).exists()
    ):
        raise invalid(_("成员不属于该户"), field="member")
    with transaction.atomic():
        activity = activity_locked(activity)
        if activity.status != ActivityStatus.PUBLISHED or now >= activity.ends_at:
            raise ApplicationError(
                ErrorCode.ACTIVITY_NOT_OPEN, _("活动未在报名中"), {"status": activity.status}
            )
        enrolment = enrol_locked(
            activity,
            household,
            member_id=member_id,
            created_by_id=actor.user_id if actor else None,
            walk_in=False,
            now=now,
        )
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_ENROL,
            obj=enrolment,
            detail={"activity": activity.pk, "household": household.pk, "self": actor is None},
        )
    return enrolment


def activity_enrolment_cancel(
    *, enrolment: Enrolment, actor: Actor | None = None, household: Household | None = None
) -> Enrolment:
    """Give a place back (staff, or the household itself) before checking in."""
    with transaction.atomic():
        activity = activity_locked(enrolment.activity)
        enrolment = Enrolment.objects.select_related("household__village").get(pk=enrolment.pk)
        if actor is not None:
            require_role(
                actor,
                roles=CHECKERS,
                scheme_id=activity.scheme_id,
                region_path=enrolment.household.village.path,
                action="activity.enrol_cancel",
            )
        elif household is None or household.pk != enrolment.household_id:
            raise NotFound("enrolment")
        if Attendance.objects.filter(
            activity_id=activity.pk, household_id=enrolment.household_id
        ).exists():
            raise ApplicationError(ErrorCode.ALREADY_CHECKED_IN, _("已签到，不能取消报名"))
        if enrolment.status == EnrolmentStatus.ENROLLED:
            enrolment.status = EnrolmentStatus.CANCELLED
            enrolment.save(update_fields=["status"])
            audit_record(
                actor_id=actor.user_id if actor else None,
                scheme_id=activity.scheme_id,
                action=AuditAction.ACTIVITY_ENROL_CANCEL,
                obj=enrolment,
            )
    return enrolment


@dataclass
class CloseResult:
    activity: Activity
    created: list[int] = field(default_factory=list)  # claims made by this close
    skipped: list[dict[str, Any]] = field(default_factory=list)  # attendances with no claim
    earlier: int = 0  # attendances that already had their claim


def _witness(attendance: Attendance) -> str:
    user_id = attendance.checked_out_by_id or attendance.checked_in_by_id
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        return STORED_TEXT["witness_record"]
    return (STORED_TEXT["witness"] % {"user": user})[:60]


def activity_close(
    *, actor: Actor, activity: Activity, at: dt.datetime | None = None
) -> CloseResult:
    """End the activity and turn each attendance into a submitted claim (hours x rate).

    Re-running it (after a failure, or by a second admin) makes claims only for attendances
    that still have none: the ``claim`` link, set in the same transaction, is the guard.
    """
    now = at or timezone.now()
    _require_manager(actor, activity, "activity.close")
    with transaction.atomic():
        activity = activity_locked(activity)
        if activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
            raise ApplicationError(
                ErrorCode.ACTIVITY_NOT_OPEN,
                _("草稿或已取消的活动不能结束"),
                {"status": activity.status},
            )
        if now < activity.starts_at:
            raise ApplicationError(ErrorCode.ACTIVITY_NOT_OPEN, _("活动开始后才能结束"))
        still_in = list(
            Attendance.objects.filter(activity_id=activity.pk, checked_out_at__isnull=True)
            .select_related("household")
            .order_by("pk")
        )
        if still_in:
            names = _("、").join(a.household.head_name for a in still_in[:5])
            raise ApplicationError(
                ErrorCode.OPEN_ATTENDANCE,
                _("还有 %(count)d 户未签退（%(names)s），请先签退或由工作人员补签退")
                % {"count": len(still_in), "names": names},
                {"attendances": [a.pk for a in still_in]},
            )
        try:
            rule = _activity_rule(activity.scheme_id, activity.rule_id, now)
        except NotFound:
            raise invalid(_("该活动的积分细则已停用，请联系管理员"), field="rule") from None
        result = CloseResult(activity=activity)
        rows = (
            Attendance.objects.select_for_update()
            .filter(activity_id=activity.pk)
            .select_related("household__village")
            .order_by("pk")
        )
        for attendance in rows:
            if attendance.claim_id is not None:
                result.earlier += 1
                continue
            _claim_for(attendance, activity, rule, actor, now, result)
        if activity.status != ActivityStatus.CLOSED:
            activity.status = ActivityStatus.CLOSED
            activity.closed_at = now
            activity.save(update_fields=["status", "closed_at"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_CLOSE,
            obj=activity,
            detail={"claims": result.created, "skipped": len(result.skipped)},
        )
    return result


def _claim_for(
    attendance: Attendance,
    activity: Activity,
    rule: Rule,
    actor: Actor,
    now: dt.datetime,
    result: CloseResult,
) -> None:
    assert attendance.checked_out_at is not None  # no open attendance reaches here
    hours = credited_hours(activity, attendance.checked_in_at, attendance.checked_out_at)
    quantity = capped_quantity(activity, rule, hours)
    problem = ""
    claim = None
    if quantity <= 0:
        problem = STORED_TEXT["too_short"]
    else:
        capped = STORED_TEXT["capped"] if quantity < hours else ""
        try:
            with transaction.atomic():
                claim = claim_create(
                    NewClaim(
                        household=attendance.household,
                        rule=rule,
                        quantity=quantity,
                        occurred_on=timezone.localdate(activity.starts_at),
                        source=ClaimSource.ACTIVITY,
                        proposed_by_id=actor.user_id,
                        member_id=attendance.member_id,
                        note=STORED_TEXT["note"]
                        % {
                            "activity": activity.title,
                            "hours": format_hours(hours),
                            "capped": capped,
                        },
                        witness=_witness(attendance),
                        origin_ref=f"activity:{activity.pk}",
                    ),
                    at=now,
                )
        except ApplicationError as exc:
            problem = exc.message[:200]
    attendance.hours = hours
    attendance.claim = claim
    attendance.claim_problem = problem
    attendance.save(update_fields=["hours", "claim", "claim_problem"])
    if claim is not None:
        result.created.append(claim.pk)
    else:
        result.skipped.append(
            {
                "attendance": attendance.pk,
                "household": attendance.household_id,
                "head_name": attendance.household.head_name,
                "hours": float(hours),
                "problem": problem,
            }
        )
