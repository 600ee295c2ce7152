"""Check-in and check-out at the door: a grid worker or admin scans the resident's card, or
the resident's phone scans the activity's code (``activity_self_check_in``/``_out``).

The scanned text is the household's card code (a USB scanner types it, a phone camera reads
it), or the activity's code; it is trimmed and upper-cased. Check-in is open from an hour
before the start to the end; a household checks in once; check-out needs a check-in. A
forgotten check-out is closed by staff with a reason (kept on the row and in the audit log).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    Enrolment,
    EnrolmentStatus,
)
from civicpoints.activities.selectors import activity_by_code, household_by_code, works_at
from civicpoints.activities.services.activities import (
    activity_locked,
    clean_text,
    enrol_locked,
    may_take_part,
)
from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, PermissionDenied, invalid
from civicpoints.households.models import Household
from civicpoints.schemes.scope import Actor

CHECKIN_OPENS_BEFORE = dt.timedelta(hours=1)
UNKNOWN_CARD = gettext_lazy("未找到该卡号，或该户不在本活动范围内")


def _require_checker(actor: Actor, activity: Activity, action: str) -> None:
    if not works_at(actor, activity):
        raise PermissionDenied(action)


def _scanned(activity: Activity, code: str) -> Household:
    household = household_by_code(activity, code)
    if household is None:
        raise ApplicationError(ErrorCode.NOT_FOUND, str(UNKNOWN_CARD), {"object": "card"})
    may_take_part(activity, household)
    return household


def _open(activity: Activity) -> None:
    if activity.status != ActivityStatus.PUBLISHED:
        raise ApplicationError(
            ErrorCode.ACTIVITY_NOT_OPEN,
            _("活动未发布、已结束或已取消，不能签到签退"),
            {"status": activity.status},
        )


def _local_hm(value: dt.datetime) -> str:
    return f"{timezone.localtime(value):%H:%M}"


def _local_day_hm(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return _("%(month)s月%(day)s日 %(time)s") % {
        "month": f"{local:%m}",
        "day": f"{local:%d}",
        "time": f"{local:%H:%M}",
    }


def activity_check_in(
    *, actor: Actor, activity: Activity, code: str, at: dt.datetime | None = None
) -> Attendance:
    """Scan a card at the door. A household that did not sign up is enrolled on the spot
    (a walk-in) if a place is left."""
    now = at or timezone.now()
    _require_checker(actor, activity, "activity.check_in")
    household = _scanned(activity, code)
    with transaction.atomic():
        activity = activity_locked(activity)
        attendance = _check_in_locked(activity, household, user_id=actor.user_id, now=now)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_CHECK_IN,
            obj=attendance,
            detail={
                "activity": activity.pk,
                "household": household.pk,
                "walk_in": attendance.walk_in,  # type: ignore[attr-defined]
            },
        )
    attendance.household = household
    return attendance


def _check_in_locked(
    activity: Activity, household: Household, *, user_id: int | None, now: dt.datetime
) -> Attendance:
    """The door's rules, under the caller's lock on ``activity``: open, inside the window,
    once per household, a walk-in enrolled on the spot if a place is left."""
    _open(activity)
    opens = activity.starts_at - CHECKIN_OPENS_BEFORE
    if not opens <= now <= activity.ends_at:
        raise ApplicationError(
            ErrorCode.OUTSIDE_CHECKIN_WINDOW,
            _("签到时间为 %(opens)s 至 %(closes)s")
            % {"opens": _local_day_hm(opens), "closes": _local_hm(activity.ends_at)},
            {"opens_at": opens.isoformat(), "closes_at": activity.ends_at.isoformat()},
        )
    earlier = Attendance.objects.filter(activity_id=activity.pk, household_id=household.pk).first()
    if earlier is not None:
        _refuse_again(earlier, household)
    enrolment = Enrolment.objects.filter(
        activity_id=activity.pk, household_id=household.pk, status=EnrolmentStatus.ENROLLED
    ).first()
    if enrolment is None:
        enrolment = enrol_locked(
            activity, household, member_id=None, created_by_id=user_id, walk_in=True, now=now
        )
    attendance = Attendance.objects.create(
        scheme_id=activity.scheme_id,
        activity=activity,
        household=household,
        member_id=enrolment.member_id,
        checked_in_at=now,
        checked_in_by_id=user_id,
    )
    attendance.walk_in = enrolment.walk_in  # type: ignore[attr-defined]
    return attendance


def _self_scanned(household: Household, code: str) -> Activity:
    """The activity whose code the resident's phone read, if it takes self check-in."""
    activity = activity_by_code(household, code)
    if activity is None:
        raise ApplicationError(
            ErrorCode.NOT_FOUND,
            _("没有找到这个活动码，或这个活动不在您村的范围内"),
            {"object": "activity"},
        )
    if not activity.self_check_in:
        raise ApplicationError(
            ErrorCode.PERMISSION_DENIED,
            _("这个活动不能扫码自助签到，请到现场请工作人员扫您的积分卡"),
            {"action": "activity.self_check_in"},
        )
    may_take_part(activity, household)
    return activity


def activity_self_check_in(
    *, household: Household, code: str, at: dt.datetime | None = None
) -> Attendance:
    """The resident's phone scans the activity's code at the door (the resident face has
    established the household). Same rules as a staff scan: window, once, walk-in places."""
    now = at or timezone.now()
    activity = _self_scanned(household, code)
    with transaction.atomic():
        activity = activity_locked(activity)
        attendance = _check_in_locked(activity, household, user_id=None, now=now)
        audit_record(
            actor_id=None,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_SELF_CHECK_IN,
            obj=attendance,
            detail={
                "activity": activity.pk,
                "household": household.pk,
                "walk_in": attendance.walk_in,  # type: ignore[attr-defined]
            },
        )
    attendance.household = household
    attendance.activity = activity
    return attendance


def activity_self_check_out(
    *, household: Household, code: str, at: dt.datetime | None = None
) -> Attendance:
    """The resident scans the activity's code again on leaving: needs a check-in, once."""
    now = at or timezone.now()
    activity = _self_scanned(household, code)
    with transaction.atomic():
        activity = activity_locked(activity)
        attendance = _check_out_locked(activity, household, user_id=None, now=now)
        audit_record(
            actor_id=None,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_SELF_CHECK_OUT,
            obj=attendance,
            detail={"activity": activity.pk, "household": household.pk},
        )
    attendance.household = household
    attendance.activity = activity
    return attendance


def _refuse_again(earlier: Attendance, household: Household) -> None:
    detail = {
        "attendance": earlier.pk,
        "household": household.pk,
        "head_name": household.head_name,
        "checked_in_at": earlier.checked_in_at.isoformat(),
    }
    if earlier.checked_out_at is None:
        raise ApplicationError(
            ErrorCode.ALREADY_CHECKED_IN,
            _("%(name)s 已于 %(time)s 签到，请勿重复签到")
            % {"name": household.head_name, "time": _local_hm(earlier.checked_in_at)},
            detail,
        )
    raise ApplicationError(
        ErrorCode.ALREADY_CHECKED_OUT,
        _("%(name)s 已于 %(time)s 签退")
        % {"name": household.head_name, "time": _local_hm(earlier.checked_out_at)},
        detail | {"checked_out_at": earlier.checked_out_at.isoformat()},
    )


def _attendance_locked(activity: Activity, household: Household) -> Attendance:
    attendance = (
        Attendance.objects.select_for_update()
        .filter(activity_id=activity.pk, household_id=household.pk)
        .first()
    )
    if attendance is None:
        raise ApplicationError(
            ErrorCode.NOT_CHECKED_IN,
            _("%(name)s 尚未签到，不能签退") % {"name": household.head_name},
            {"household": household.pk, "head_name": household.head_name},
        )
    if attendance.checked_out_at is not None:
        _refuse_again(attendance, household)
    return attendance


def activity_check_out(
    *, actor: Actor, activity: Activity, code: str, at: dt.datetime | None = None
) -> Attendance:
    now = at or timezone.now()
    _require_checker(actor, activity, "activity.check_out")
    household = _scanned(activity, code)
    with transaction.atomic():
        activity = activity_locked(activity)
        attendance = _check_out_locked(activity, household, user_id=actor.user_id, now=now)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_CHECK_OUT,
            obj=attendance,
            detail={"activity": activity.pk, "household": household.pk},
        )
    attendance.household = household
    return attendance


def _check_out_locked(
    activity: Activity, household: Household, *, user_id: int | None, now: dt.datetime
) -> Attendance:
    _open(activity)
    attendance = _attendance_locked(activity, household)
    if now < attendance.checked_in_at:
        raise invalid(_("签退时间早于签到时间"), field="at")
    attendance.checked_out_at = now
    attendance.checked_out_by_id = user_id
    attendance.save(update_fields=["checked_out_at", "checked_out_by"])
    return attendance


def attendance_close_checkout(
    *,
    actor: Actor,
    attendance: Attendance,
    reason: str,
    checked_out_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> Attendance:
    """Staff close a check-out the resident forgot, with the time they left and why.

    Without a time, the end of the activity (or now, if it has not ended) is taken.
    """
    now = at or timezone.now()
    reason = clean_text(reason, field="reason", limit=200, required=True)
    activity = attendance.activity
    _require_checker(actor, activity, "activity.close_checkout")
    with transaction.atomic():
        activity = activity_locked(activity)
        _open(activity)
        household = Household.objects.get(pk=attendance.household_id)
        attendance = _attendance_locked(activity, household)
        leave = checked_out_at or min(activity.ends_at, now)
        if timezone.is_naive(leave):
            raise invalid(_("时间须带时区"), field="checked_out_at")
        if not attendance.checked_in_at <= leave <= now:
            raise invalid(_("签退时间须在签到之后、当前时间之前"), field="checked_out_at")
        attendance.checked_out_at = leave
        attendance.checked_out_by_id = actor.user_id
        attendance.closed_by_staff = True
        attendance.close_reason = reason
        attendance.save(
            update_fields=["checked_out_at", "checked_out_by", "closed_by_staff", "close_reason"]
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=activity.scheme_id,
            action=AuditAction.ACTIVITY_CLOSE_CHECKOUT,
            obj=attendance,
            detail={
                "activity": activity.pk,
                "household": household.pk,
                "checked_out_at": leave.isoformat(),
                "reason": reason,
            },
        )
    attendance.household = household
    return attendance
