"""Volunteer activities (志愿活动) on the resident's phone: what is coming up in the village and
township, sign up and give the place back, check in and out by scanning the activity's code
at the door, and the hours served with where their points stand.

Thin: the household comes from the session; capacity, deadlines, the door's window and every
other rule are in ``activities.services``, which say what is wrong in Chinese.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.activities.models import Activity, ActivityStatus, Attendance
from civicpoints.activities.selectors import (
    activities_upcoming,
    activity_by_code,
    activity_for_household,
    attendance_of,
    enrolment_of,
    hours_of,
    normalize_code,
)
from civicpoints.activities.services import (
    activity_enrol,
    activity_enrolment_cancel,
    activity_self_check_in,
    activity_self_check_out,
)
from civicpoints.activities.services.hours import credited_hours, format_hours
from civicpoints.awards.models import ClaimStatus
from civicpoints.faces.errors import refusals_return_to
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.portal.views import resident_required


@resident_required
def activity_list(request: HttpRequest, household: Household) -> HttpResponse:
    return render(
        request,
        "portal/activities.html",
        {"h": household, "activities": activities_upcoming(household)},
    )


@require_POST
@resident_required
def activity_enrol_view(
    request: HttpRequest, household: Household, activity_id: int
) -> HttpResponse:
    activity = activity_for_household(household, activity_id)
    back = refusals_return_to(request, reverse("portal:activities"))
    activity_enrol(activity=activity, household=household)
    text = (
        _("已报名「%(title)s」，%(when)s 到 %(place)s，到场后扫活动码签到。")
        if activity.self_check_in
        else _("已报名「%(title)s」，%(when)s 到 %(place)s，到场后请工作人员扫您的积分卡签到。")
    )
    messages.success(
        request, text % {"title": activity.title, "when": _when(activity), "place": activity.place}
    )
    return redirect(back)


@require_http_methods(["GET", "POST"])
@resident_required
def activity_cancel_view(
    request: HttpRequest, household: Household, activity_id: int
) -> HttpResponse:
    """Give the place back; a page asks first (no pop-ups in elder mode)."""
    activity = activity_for_household(household, activity_id)
    enrolment = enrolment_of(household, activity)
    if enrolment is None:
        messages.info(request, _("您没有报名这个活动，不用取消。"))
        return redirect("portal:activities")
    if request.method == "POST":
        back = refusals_return_to(request, reverse("portal:activities"))
        activity_enrolment_cancel(enrolment=enrolment, household=household)
        messages.success(request, _("已取消报名「%(title)s」。") % {"title": activity.title})
        return redirect(back)
    return render(
        request,
        "portal/activity_cancel.html",
        {"h": household, "a": activity, "when": _when(activity)},
    )


def _when(activity: Activity) -> str:
    start = timezone.localtime(activity.starts_at)
    end = timezone.localtime(activity.ends_at)
    return _("%(m)d月%(d)d日 %(start)s–%(end)s") % {
        "m": start.month,
        "d": start.day,
        "start": f"{start:%H:%M}",
        "end": f"{end:%H:%M}",
    }


def _hours_state(row: Attendance) -> tuple[str, str, str]:
    """(hours text, state text, css tone) of one attendance, in words."""
    activity = row.activity
    if row.checked_out_at is None:
        return "", _("已签到，离开时请扫码签退"), "waiting"
    if row.hours is None:  # the activity has not been closed yet
        hours = format_hours(credited_hours(activity, row.checked_in_at, row.checked_out_at))
        return hours, _("活动结束后交村里审核"), "waiting"
    hours = format_hours(row.hours)
    claim = row.claim
    if claim is None:
        return hours, _("未记分：%(why)s") % {"why": row.claim_problem or _("时长不足")}, "refused"
    points = format_points(claim.points)
    if claim.status == ClaimStatus.POSTED:
        return hours, _("已入账 +%(points)s 分") % {"points": points}, "done"
    if claim.status == ClaimStatus.ON_NOTICE and claim.notice_ends_at:
        end = timezone.localtime(claim.notice_ends_at)
        text = _("公示中，%(month)s月%(day)s日公示结束（%(points)s 分）") % {
            "month": end.month,
            "day": end.day,
            "points": points,
        }
        return hours, text, "waiting"
    if claim.status in (ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN):
        return hours, _("村里审核未通过"), "refused"
    return hours, _("村里审核中（%(points)s 分）") % {"points": points}, "waiting"


@resident_required
def my_hours(request: HttpRequest, household: Household) -> HttpResponse:
    rows = list(hours_of(household)[:50])
    for row in rows:
        row.hours_text, row.state, row.tone = _hours_state(row)  # type: ignore[attr-defined]
    # Hours that became a claim still standing (not rejected or withdrawn).
    dropped = (ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN)
    total = sum(
        (r.hours for r in rows if r.hours and r.claim and r.claim.status not in dropped),
        start=Decimal(0),
    )
    return render(
        request,
        "portal/activity_hours.html",
        {"h": household, "rows": rows, "total": format_hours(total) if total else ""},
    )


def _door(household: Household, activity: Activity) -> dict[str, Any]:
    """What the scan page offers for this activity: check in, check out, or nothing more."""
    attendance = attendance_of(household, activity)
    if not activity.self_check_in:
        return {"step": "staff"}
    if attendance is not None and attendance.checked_out_at is not None:
        hours = credited_hours(activity, attendance.checked_in_at, attendance.checked_out_at)
        return {"step": "done", "attendance": attendance, "hours": format_hours(hours)}
    if activity.status != ActivityStatus.PUBLISHED:
        return {"step": "closed"}
    if attendance is not None:
        return {"step": "out", "attendance": attendance}
    return {"step": "in"}


@require_http_methods(["GET", "POST"])
@resident_required
def activity_scan(request: HttpRequest, household: Household) -> HttpResponse:
    """The door, from the resident's side: scan (or type) the activity's code, then one big
    button, 签到 or 签退, whichever is due."""
    source = request.POST if request.method == "POST" else request.GET
    code = normalize_code(source.get("code", "")[:64])
    if request.method == "POST":
        url = reverse("portal:activity_scan")
        back = refusals_return_to(request, f"{url}?{urlencode({'code': code})}" if code else url)
        if request.POST.get("mode") == "out":
            done = activity_self_check_out(household=household, code=code)
            assert done.checked_out_at is not None
            hours = credited_hours(done.activity, done.checked_in_at, done.checked_out_at)
            messages.success(
                request,
                _("已签退「%(title)s」，共 %(hours)s 小时。谢谢您！")
                % {"title": done.activity.title, "hours": format_hours(hours)},
            )
        else:
            done = activity_self_check_in(household=household, code=code)
            messages.success(
                request,
                _("已签到「%(title)s」 %(time)s。离开时请再扫码签退。")
                % {
                    "title": done.activity.title,
                    "time": f"{timezone.localtime(done.checked_in_at):%H:%M}",
                },
            )
        return redirect(back)
    context: dict[str, Any] = {"h": household, "code": code, "error": ""}
    if code:
        activity = activity_by_code(household, code)
        if activity is None:
            context["error"] = _("没有找到这个活动码，或这个活动不在您村的范围内")
        else:
            context |= {"activity": activity, "when": _when(activity), **_door(household, activity)}
    return render(request, "portal/activity_scan.html", context)
