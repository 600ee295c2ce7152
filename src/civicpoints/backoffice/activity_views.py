"""Staff pages for activities: the list, and the check-in screen at the door.

The check-in screen takes a scan from a USB scanner (it types the card code and Enter into
the focused field) or from the phone's camera (the vendored qr-scanner library), posts it
with HTMX and shows the result in large text. Thin: every check is in ``activities``.
"""

from __future__ import annotations

from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civicpoints.activities.models import Activity, ActivityStatus
from civicpoints.activities.selectors import (
    activities_visible,
    activity_counts,
    activity_for,
    attendance_for,
    attendances_of,
    with_counts,
    works_at,
)
from civicpoints.activities.services import (
    activity_check_in,
    activity_check_out,
    activity_close,
    attendance_close_checkout,
)
from civicpoints.activities.services.hours import credited_hours, format_hours
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.tables import Column, Table, points, table_export
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, actor_for_user


def _may_close(actor: Actor, activity: Activity) -> bool:
    return actor.covers(
        roles=ADMIN_ROLES, scheme_id=activity.scheme_id, region_path=activity.region.path
    )


ACTIVITIES = Table(
    gettext_lazy("志愿活动"),
    (
        Column(gettext_lazy("活动"), lambda a: a.title, 24),
        Column(gettext_lazy("村/乡镇"), lambda a: a.region.name),
        Column(gettext_lazy("开始"), lambda a: a.starts_at, 17),
        Column(gettext_lazy("结束"), lambda a: a.ends_at, 17),
        Column(gettext_lazy("地点"), lambda a: a.place, 20),
        Column(gettext_lazy("细则"), lambda a: f"{a.rule.code} {a.rule.name}", 24),
        Column(gettext_lazy("每小时积分"), lambda a: points(a.rule.points_per_unit), 10),
        Column(gettext_lazy("名额"), lambda a: a.capacity or None, 8),
        Column(gettext_lazy("报名"), lambda a: a.enrolled_count, 8),
        Column(gettext_lazy("已签退"), lambda a: a.checked_out_count, 8),
        Column(gettext_lazy("状态"), lambda a: a.get_status_display(), 10),
    ),
)


@login_required
def activity_list(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    listed = activities_visible(actor).select_related("region", "rule")
    if export := table_export(request, actor, ACTIVITIES, with_counts(listed)):
        return export
    page = paged(request, listed)
    rows = [
        {"a": a, "counts": activity_counts(a), "may_close": _may_close(actor, a)}
        for a in page.object_list
    ]
    return render(request, "backoffice/activities.html", {"rows": rows, "page": page})


def _door(activity: Activity) -> dict[str, Any]:
    """What the check-in screen shows besides the last scan: counts and who is still in."""
    return {
        "counts": activity_counts(activity),
        "still_in": [a for a in attendances_of(activity) if a.checked_out_at is None],
    }


@login_required
def activity_checkin(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    activity = activity_for(actor, activity_id)
    mode = "out" if request.GET.get("mode") == "out" else "in"
    can_scan = works_at(actor, activity) and activity.status == ActivityStatus.PUBLISHED
    context = {
        "activity": activity,
        "mode": mode,
        "can_scan": can_scan,
        "may_close": _may_close(actor, activity),
        "door_qr": _door_qr(request, activity) if can_scan and activity.self_check_in else "",
        **_door(activity),
    }
    return render(request, "backoffice/activity_checkin.html", context)


def _door_qr(request: HttpRequest, activity: Activity) -> str:
    """The QR code residents scan with their phone to check in and out by themselves: a link
    to the resident scan page carrying the activity's code (a phone's own camera app opens
    it; the in-page scanner reads the code from it)."""
    url = request.build_absolute_uri(reverse("portal:activity_scan"))
    link = f"{url}?{urlencode({'code': activity.code})}"
    svg = segno.make_qr(link, error="m").svg_inline(scale=6, border=4, omitsize=True)
    return mark_safe(svg)  # noqa: S308 (segno's SVG of our own link)


def _scan(actor: Actor, activity: Activity, code: str, mode: str) -> dict[str, Any]:
    try:
        if mode == "out":
            a = activity_check_out(actor=actor, activity=activity, code=code)
            assert a.checked_out_at is not None
            hours = format_hours(credited_hours(activity, a.checked_in_at, a.checked_out_at))
            text = _("%(name)s 已签退 共 %(hours)s 小时") % {
                "name": a.household.head_name,
                "hours": hours,
            }
        else:
            a = activity_check_in(actor=actor, activity=activity, code=code)
            text = _("%(name)s 已签到 %(time)s") % {
                "name": a.household.head_name,
                "time": f"{timezone.localtime(a.checked_in_at):%H:%M}",
            }
    except ApplicationError as exc:
        return {"ok": False, "text": exc.message, "code": str(exc.code)}
    return {"ok": True, "text": text, "code": ""}


@login_required
@require_POST
def activity_scan(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    activity = activity_for(actor, activity_id)
    mode = "out" if request.POST.get("mode") == "out" else "in"
    result = _scan(actor, activity, request.POST.get("code", "")[:64], mode)
    if not request.headers.get("HX-Request"):
        (messages.success if result["ok"] else messages.error)(request, result["text"])
        url = reverse("backoffice:activity_checkin", args=[activity.pk])
        return redirect(f"{url}?mode={mode}")
    activity = activity_for(actor, activity.pk)
    return render(
        request,
        "backoffice/_activity_scan.html",
        {"result": result, "activity": activity, "oob": True, **_door(activity)},
    )


@login_required
@require_POST
def attendance_checkout(request: HttpRequest, activity_id: int, attendance_id: int) -> HttpResponse:
    """Close a forgotten check-out, with a reason."""
    actor = actor_for_user(request.user)
    activity = activity_for(actor, activity_id)
    attendance = attendance_for(activity, attendance_id)
    back = refusals_return_to(request, reverse("backoffice:activity_checkin", args=[activity.pk]))
    done = attendance_close_checkout(
        actor=actor, attendance=attendance, reason=request.POST.get("reason", "")[:200]
    )
    assert done.checked_out_at is not None
    hours = credited_hours(activity, done.checked_in_at, done.checked_out_at)
    messages.success(
        request,
        _("%(name)s 已补签退 共 %(hours)s 小时")
        % {"name": done.household.head_name, "hours": format_hours(hours)},
    )
    return redirect(back)


@login_required
@require_POST
def activity_close_view(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    activity = activity_for(actor, activity_id)
    refusals_return_to(request, reverse("backoffice:activity_checkin", args=[activity.pk]))
    result = activity_close(actor=actor, activity=activity)
    messages.success(
        request,
        _("「%(title)s」已结束：生成 %(made)s 条申报（待审核），%(skipped)s 条签到未生成申报")
        % {"title": activity.title, "made": len(result.created), "skipped": len(result.skipped)},
    )
    for skipped in result.skipped:
        messages.warning(
            request,
            _("%(name)s：%(problem)s")
            % {"name": skipped["head_name"], "problem": skipped["problem"]},
        )
    return redirect("backoffice:activities")
