"""Staff page for mutual help (邻里互助): what waits for the helped household's word, so that a
grid worker or admin can confirm (or reject) for a household without a phone after checking
with it. Staff covering either household read the list; only staff covering the helped
household, who did not report the help themselves, are offered the buttons.

Thin: every check is in ``activities.services.mutual_help``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civicpoints.activities.models import MutualHelpStatus
from civicpoints.activities.selectors import (
    ACTIVITY_READERS,
    may_decide_mutual_help,
    mutual_help_for,
    mutual_helps_visible,
)
from civicpoints.activities.services import mutual_help_confirm, mutual_help_reject
from civicpoints.activities.services.hours import format_hours
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.tables import Column, Table, points, table_export
from civicpoints.rules.services import claim_points
from civicpoints.schemes.scope import actor_for_user

FILTERS = {
    "pending": MutualHelpStatus.PENDING,
    "confirmed": MutualHelpStatus.CONFIRMED,
    "rejected": MutualHelpStatus.REJECTED,
    "all": None,
}


def _reported_by(m: Any) -> str:
    if m.reported_by_helped:
        return str(_("受助户登记"))
    return str(m.reported_by) if m.reported_by_id else str(_("帮助户登记"))


MUTUAL_HELP = Table(
    gettext_lazy("邻里互助"),
    (
        Column(gettext_lazy("帮助户"), lambda m: m.helper.head_name, 10),
        Column(gettext_lazy("帮助户所在村"), lambda m: m.helper.village.name),
        Column(gettext_lazy("受助户"), lambda m: m.helped.head_name, 10),
        Column(gettext_lazy("受助户所在村"), lambda m: m.helped.village.name),
        Column(gettext_lazy("日期"), lambda m: m.occurred_on, 11),
        Column(gettext_lazy("时长(小时)"), lambda m: m.hours, 10),
        Column(
            gettext_lazy("积分"), lambda m: points(claim_points(rule=m.rule, quantity=m.hours)), 8
        ),
        Column(gettext_lazy("说明"), lambda m: m.note, 30),
        Column(gettext_lazy("登记"), _reported_by, 12),
        Column(gettext_lazy("登记时间"), lambda m: m.created_at, 17),
        Column(gettext_lazy("状态"), lambda m: m.get_status_display(), 10),
        Column(gettext_lazy("否认原因"), lambda m: m.reason, 20),
    ),
)


@login_required
def help_list(
    request: HttpRequest, errors: dict[int, str] | None = None, status: int = 200
) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    if not actor.grants_for(ACTIVITY_READERS):
        raise NotFound("mutual_help")
    shown = request.GET.get("status", "pending")
    if shown not in FILTERS:
        shown = "pending"
    rows = mutual_helps_visible(actor).select_related("reported_by", "decided_by")
    if FILTERS[shown] is not None:
        rows = rows.filter(status=FILTERS[shown])
    if export := table_export(request, actor, MUTUAL_HELP, rows):
        return export
    page = paged(request, rows)
    items: list[dict[str, Any]] = [
        {
            "m": m,
            "hours": format_hours(m.hours),
            "points": claim_points(rule=m.rule, quantity=m.hours),
            "may_decide": may_decide_mutual_help(actor, m),
        }
        for m in page.object_list
    ]
    return render(
        request,
        "backoffice/mutual_help.html",
        {
            "items": items,
            "page": page,
            "shown": shown,
            "filters": [
                ("pending", _("待确认")),
                ("confirmed", _("已确认")),
                ("rejected", _("不属实")),
                ("all", _("全部")),
            ],
            "errors": errors or {},
        },
        status=status,
    )


def _pending() -> str:
    return reverse("backoffice:mutual_help") + "?status=pending"


@login_required
@require_POST
def help_confirm(request: HttpRequest, help_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    row = mutual_help_for(actor, help_id)
    back = refusals_return_to(request, _pending())
    if row.status == MutualHelpStatus.CONFIRMED:
        messages.info(request, _("这条互助已经确认过了，不用再确认。"))
        return redirect(back)
    row = mutual_help_confirm(help_row=row, actor=actor)
    messages.success(
        request,
        _("已代 %(helped)s 确认：%(helper)s 帮助 %(hours)s 小时，已生成申报待审核。")
        % {
            "helped": row.helped.head_name,
            "helper": row.helper.head_name,
            "hours": format_hours(row.hours),
        },
    )
    return redirect(back)


@login_required
@require_POST
def help_reject(request: HttpRequest, help_id: int) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    row = mutual_help_for(actor, help_id)
    back = refusals_return_to(request, _pending())
    try:
        row = mutual_help_reject(
            help_row=row, actor=actor, reason=request.POST.get("reason", "")[:500]
        )
    except ApplicationError as exc:
        if exc.detail.get("field") != "reason":
            raise
        # The reason is asked for on the list itself, at this row.
        return help_list(request, errors={row.pk: _("请填写不属实的原因")}, status=422)
    messages.success(
        request,
        _("已记为不属实：%(helper)s 帮助 %(helped)s，不生成申报。")
        % {"helper": row.helper.head_name, "helped": row.helped.head_name},
    )
    return redirect(back)
