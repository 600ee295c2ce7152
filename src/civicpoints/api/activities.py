"""Activities (志愿活动) and mutual help (互助): thin handlers over the activities services.

None of these calls moves points (closing an activity or confirming mutual help only creates
submitted claims, which post after review and notice), so none needs an Idempotency-Key:
a second close creates nothing twice, a second confirmation returns the first one's result,
and a repeated scan is answered with already_checked_in / already_checked_out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from civicpoints.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    Enrolment,
    MutualHelp,
    MutualHelpStatus,
)
from civicpoints.activities.selectors import (
    activities_visible,
    activity_counts,
    activity_for,
    attendance_for,
    attendances_of,
    mutual_help_for,
    mutual_helps_visible,
)
from civicpoints.activities.services import (
    activity_cancel,
    activity_check_in,
    activity_check_out,
    activity_close,
    activity_create,
    activity_enrol,
    activity_publish,
    attendance_close_checkout,
    mutual_help_confirm,
    mutual_help_reject,
    mutual_help_report,
)
from civicpoints.activities.services.hours import credited_hours
from civicpoints.api.schemas import (
    ErrorOut,
    Id,
    Points,
    RuleRef,
    Trimmed,
    beijing_aware,
    points_out,
)
from civicpoints.households.selectors import household_for
from civicpoints.ledger.amounts import parse_points
from civicpoints.rules.models import Rounding
from civicpoints.rules.services import claim_points
from civicpoints.schemes.scope import ADMIN_ROLES, Actor
from civicpoints.schemes.selectors import region_for, scheme_for_region

router = Router(tags=["activities"])
mutual_help_router = Router(tags=["mutual-help"])
ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# --- activities -----------------------------------------------------------------------------


class ActivityIn(Schema):
    region: Id = Field(description="村或乡镇")
    title: Trimmed = Field(min_length=1, max_length=100)
    description: Trimmed = Field(default="", max_length=2000)
    place: Trimmed = Field(min_length=1, max_length=200)
    starts_at: dt.datetime = Field(description="不带时区时按北京时间")
    ends_at: dt.datetime
    capacity: int | None = Field(default=None, ge=1, le=100_000, strict=True)
    rule: Id = Field(description="按小时计的加分细则，例如 H01 互助 15分/小时")
    per_activity_cap: Points | None = Field(default=None, description="每人本次最多积分")
    rounding_minutes: Literal[1, 15, 30, 60] = 30
    rounding: Rounding = Rounding.DOWN
    publish: bool = False
    self_check_in: bool = Field(default=True, description="村民可用手机扫活动码自助签到签退")


class ActivityOut(Schema):
    id: int
    region: int
    region_name: str
    title: str
    description: str
    place: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int | None
    rule: RuleRef
    per_activity_cap: float | None
    rounding_minutes: int
    rounding: str
    status: str
    code: str = Field(description="活动码（村民手机扫码签到签退用）")
    self_check_in: bool
    enrolled: int
    checked_in: int = Field(description="已签到、尚未签退")
    checked_out: int
    created_at: dt.datetime
    closed_at: dt.datetime | None


def activity_out(a: Activity) -> dict[str, Any]:
    counts = activity_counts(a)
    return {
        "id": a.pk,
        "region": a.region_id,
        "region_name": a.region.name,
        "title": a.title,
        "description": a.description,
        "place": a.place,
        "starts_at": timezone.localtime(a.starts_at),
        "ends_at": timezone.localtime(a.ends_at),
        "capacity": a.capacity,
        "rule": {
            "id": a.rule_id,
            "code": a.rule.code,
            "name": a.rule.name,
            "points_per_hour": points_out(a.rule.points_per_unit),
        },
        "per_activity_cap": None if a.per_activity_cap is None else points_out(a.per_activity_cap),
        "rounding_minutes": a.rounding_minutes,
        "rounding": a.rounding,
        "status": a.status,
        "code": a.code,
        "self_check_in": a.self_check_in,
        "enrolled": counts.enrolled,
        "checked_in": counts.checked_in,
        "checked_out": counts.checked_out,
        "created_at": a.created_at,
        "closed_at": a.closed_at,
    }


@router.post("", response={201: ActivityOut, **ERRORS})
def create(request: HttpRequest, body: ActivityIn) -> Status:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    region = region_for(actor, body.region)
    scheme = scheme_for_region(actor, region, prefer=ADMIN_ROLES)
    activity = activity_create(
        actor=actor,
        scheme=scheme,
        region=region,
        title=body.title,
        description=body.description,
        place=body.place,
        starts_at=beijing_aware(body.starts_at),
        ends_at=beijing_aware(body.ends_at),
        rule_id=body.rule,
        capacity=body.capacity,
        per_activity_cap=(
            None if body.per_activity_cap is None else parse_points(body.per_activity_cap)
        ),
        rounding_minutes=body.rounding_minutes,
        rounding=body.rounding,
        publish=body.publish,
        self_check_in=body.self_check_in,
    )
    return Status(201, activity_out(activity_for(actor, activity.pk)))


class ListIn(Schema):
    status: ActivityStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("", response={200: list[ActivityOut], 422: ErrorOut})
def list_activities(request: HttpRequest, params: Query[ListIn]) -> list[dict[str, Any]]:
    rows = activities_visible(request.actor)  # type: ignore[attr-defined]
    if params.status is not None:
        rows = rows.filter(status=params.status)
    return [activity_out(a) for a in rows[params.offset : params.offset + params.limit]]


@router.get("/{activity_id}", response={200: ActivityOut, 404: ErrorOut})
def detail(request: HttpRequest, activity_id: str) -> dict[str, Any]:
    return activity_out(activity_for(request.actor, activity_id))  # type: ignore[attr-defined]


@router.post("/{activity_id}/publish", response={200: ActivityOut, **ERRORS})
def publish(request: HttpRequest, activity_id: str) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    activity = activity_publish(actor=actor, activity=activity_for(actor, activity_id))
    return activity_out(activity_for(actor, activity.pk))


class ShortReasonIn(Schema):
    reason: Trimmed = Field(min_length=1, max_length=200)


@router.post("/{activity_id}/cancel", response={200: ActivityOut, **ERRORS})
def cancel(request: HttpRequest, activity_id: str, body: ShortReasonIn) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    activity = activity_cancel(
        actor=actor, activity=activity_for(actor, activity_id), reason=body.reason
    )
    return activity_out(activity_for(actor, activity.pk))


class EnrolmentIn(Schema):
    household: Id
    member: Id | None = None


class EnrolmentOut(Schema):
    id: int
    activity: int
    household: int
    head_name: str
    member: int | None
    status: str
    walk_in: bool
    created_at: dt.datetime


def enrolment_out(e: Enrolment, head_name: str) -> dict[str, Any]:
    return {
        "id": e.pk,
        "activity": e.activity_id,
        "household": e.household_id,
        "head_name": head_name,
        "member": e.member_id,
        "status": e.status,
        "walk_in": e.walk_in,
        "created_at": e.created_at,
    }


@router.post("/{activity_id}/enrolments", response={201: EnrolmentOut, **ERRORS})
def enrol(request: HttpRequest, activity_id: str, body: EnrolmentIn) -> Status:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    activity = activity_for(actor, activity_id)
    household = household_for(actor, body.household)
    enrolment = activity_enrol(
        activity=activity, household=household, actor=actor, member_id=body.member
    )
    return Status(201, enrolment_out(enrolment, household.head_name))


class ScanIn(Schema):
    code: Trimmed = Field(
        min_length=1, max_length=64, description="扫到的卡号（积分卡二维码或手工输入）"
    )


class AttendanceOut(Schema):
    id: int
    activity: int
    household: int
    head_name: str
    member: int | None
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    hours: float | None = Field(description="按活动时间与取整规则计的时长（签退后）")
    closed_by_staff: bool
    close_reason: str
    claim: int | None


def attendance_out(a: Attendance, activity: Activity) -> dict[str, Any]:
    hours = a.hours
    if hours is None and a.checked_out_at is not None:
        hours = credited_hours(activity, a.checked_in_at, a.checked_out_at)
    return {
        "id": a.pk,
        "activity": a.activity_id,
        "household": a.household_id,
        "head_name": a.household.head_name,
        "member": a.member_id,
        "checked_in_at": timezone.localtime(a.checked_in_at),
        "checked_out_at": a.checked_out_at and timezone.localtime(a.checked_out_at),
        "hours": None if hours is None else float(hours),
        "closed_by_staff": a.closed_by_staff,
        "close_reason": a.close_reason,
        "claim": a.claim_id,
    }


@router.post("/{activity_id}/checkins", response={201: AttendanceOut, **ERRORS})
def check_in(request: HttpRequest, activity_id: str, body: ScanIn) -> Status:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    activity = activity_for(actor, activity_id)
    attendance = activity_check_in(actor=actor, activity=activity, code=body.code)
    return Status(201, attendance_out(attendance, activity))


@router.post("/{activity_id}/checkouts", response={200: AttendanceOut, **ERRORS})
def check_out(request: HttpRequest, activity_id: str, body: ScanIn) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    activity = activity_for(actor, activity_id)
    attendance = activity_check_out(actor=actor, activity=activity, code=body.code)
    return attendance_out(attendance, activity)


@router.get("/{activity_id}/attendances", response={200: list[AttendanceOut], 404: ErrorOut})
def attendances(request: HttpRequest, activity_id: str) -> list[dict[str, Any]]:
    activity = activity_for(request.actor, activity_id)  # type: ignore[attr-defined]
    return [attendance_out(a, activity) for a in attendances_of(activity)]


class CloseCheckoutIn(Schema):
    reason: Trimmed = Field(min_length=1, max_length=200)
    checked_out_at: dt.datetime | None = Field(
        default=None, description="离开的时间；不填则取活动结束时间"
    )


@router.post(
    "/{activity_id}/attendances/{attendance_id}/checkout",
    response={200: AttendanceOut, **ERRORS},
)
def close_checkout(
    request: HttpRequest, activity_id: str, attendance_id: str, body: CloseCheckoutIn
) -> dict[str, Any]:
    """A forgotten check-out, closed by staff with a reason."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    activity = activity_for(actor, activity_id)
    attendance = attendance_close_checkout(
        actor=actor,
        attendance=attendance_for(activity, attendance_id),
        reason=body.reason,
        checked_out_at=None if body.checked_out_at is None else beijing_aware(body.checked_out_at),
    )
    return attendance_out(attendance, activity)


class SkippedOut(Schema):
    attendance: int
    household: int
    head_name: str
    hours: float
    problem: str


class CloseOut(Schema):
    activity: ActivityOut
    claims: list[int] = Field(description="本次生成的申报（待审核）")
    skipped: list[SkippedOut] = Field(description="未生成申报的签到记录及原因")
    earlier: int = Field(description="此前已生成申报的签到记录数")


@router.post("/{activity_id}/close", response={200: CloseOut, **ERRORS})
def close(request: HttpRequest, activity_id: str) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    result = activity_close(actor=actor, activity=activity_for(actor, activity_id))
    return {
        "activity": activity_out(activity_for(actor, result.activity.pk)),
        "claims": result.created,
        "skipped": result.skipped,
        "earlier": result.earlier,
    }


# --- mutual help ----------------------------------------------------------------------------


class MutualHelpIn(Schema):
    helper: Id = Field(description="帮助户")
    helped: Id = Field(description="受助户")
    hours: Points = Field(description="小时，最多两位小数，不超过24")
    occurred_on: dt.date
    note: Trimmed = Field(default="", max_length=300)
    member: Id | None = Field(default=None, description="帮助户中出力的成员")


class MutualHelpOut(Schema):
    id: int
    helper: int
    helper_name: str
    helped: int
    helped_name: str
    rule: int
    hours: float
    points: float = Field(description="确认后申报的积分（小时 x 细则分值）")
    occurred_on: dt.date
    note: str
    status: str
    reason: str
    claim: int | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


def mutual_help_out(m: MutualHelp) -> dict[str, Any]:
    return {
        "id": m.pk,
        "helper": m.helper_id,
        "helper_name": m.helper.head_name,
        "helped": m.helped_id,
        "helped_name": m.helped.head_name,
        "rule": m.rule_id,
        "hours": float(m.hours),
        "points": points_out(
            m.claim.points if m.claim is not None else claim_points(rule=m.rule, quantity=m.hours)
        ),
        "occurred_on": m.occurred_on,
        "note": m.note,
        "status": m.status,
        "reason": m.reason,
        "claim": m.claim_id,
        "created_at": m.created_at,
        "decided_at": m.decided_at,
    }


@mutual_help_router.post("", response={201: MutualHelpOut, **ERRORS})
def report(request: HttpRequest, body: MutualHelpIn) -> Status:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    helper = household_for(actor, body.helper)
    helped = household_for(actor, body.helped)
    row = mutual_help_report(
        actor=actor,
        helper=helper,
        helped=helped,
        hours=body.hours,
        occurred_on=body.occurred_on,
        note=body.note,
        helper_member_id=body.member,
    )
    return Status(201, mutual_help_out(mutual_help_for(actor, row.pk)))


class MutualHelpListIn(Schema):
    status: MutualHelpStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@mutual_help_router.get("", response={200: list[MutualHelpOut], 422: ErrorOut})
def list_mutual_help(request: HttpRequest, params: Query[MutualHelpListIn]) -> list[dict]:
    rows = mutual_helps_visible(request.actor)  # type: ignore[attr-defined]
    if params.status is not None:
        rows = rows.filter(status=params.status)
    return [mutual_help_out(m) for m in rows[params.offset : params.offset + params.limit]]


@mutual_help_router.get("/{help_id}", response={200: MutualHelpOut, 404: ErrorOut})
def mutual_help_detail(request: HttpRequest, help_id: str) -> dict[str, Any]:
    return mutual_help_out(mutual_help_for(request.actor, help_id))  # type: ignore[attr-defined]


@mutual_help_router.post("/{help_id}/confirm", response={200: MutualHelpOut, **ERRORS})
def confirm(request: HttpRequest, help_id: str) -> dict[str, Any]:
    """Staff covering the helped household confirm the help; the helper's claim is created."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    row = mutual_help_confirm(help_row=mutual_help_for(actor, help_id), actor=actor)
    return mutual_help_out(mutual_help_for(actor, row.pk))


@mutual_help_router.post("/{help_id}/reject", response={200: MutualHelpOut, **ERRORS})
def reject(request: HttpRequest, help_id: str, body: ShortReasonIn) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    row = mutual_help_reject(
        help_row=mutual_help_for(actor, help_id), actor=actor, reason=body.reason
    )
    return mutual_help_out(mutual_help_for(actor, row.pk))
