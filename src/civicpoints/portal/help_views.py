"""Mutual help (邻里互助) on the resident's phone, from both sides: record help given (it then
waits for the helped household) or help received (that is the confirmation), and confirm or
dispute what a neighbour says they did for this household.

Thin: the household comes from the session; lookups are the activities selectors (another
household only from the same village) and every rule is in ``activities.services``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.activities.models import MutualHelp, MutualHelpStatus
from civicpoints.activities.selectors import (
    mutual_help_of_household,
    mutual_help_rule,
    mutual_help_waiting,
    mutual_helps_of,
    neighbour_for,
    neighbours_of,
)
from civicpoints.activities.services import (
    mutual_help_confirm,
    mutual_help_record_received,
    mutual_help_reject,
    mutual_help_report,
)
from civicpoints.activities.services.hours import format_hours
from civicpoints.awards.models import ClaimStatus
from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.faces.errors import refusals_return_to
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.portal.views import resident_required

SIDES = ("gave", "received")
# Where a service's complaint belongs on the form.
FIELD_OF = {"helped": "other", "helper": "other", "card": "card", "other": "other"}


@resident_required
def help_index(request: HttpRequest, household: Household) -> HttpResponse:
    waiting = list(mutual_help_waiting(household))
    rows = list(mutual_helps_of(household).exclude(pk__in=[w.pk for w in waiting])[:50])
    for row in rows:
        row.state, row.tone = _state(row, household)  # type: ignore[attr-defined]
    return render(
        request,
        "portal/help.html",
        {"h": household, "waiting": waiting, "rows": rows, "rule": _rule(household)},
    )


def _state(row: MutualHelp, household: Household) -> tuple[str, str]:
    """Where a record stands, in words for this household: (text, css tone)."""
    mine = row.helper_id == household.pk  # the points are ours
    if row.status == MutualHelpStatus.PENDING:
        return _("等待 %(name)s 确认") % {"name": row.helped.head_name}, "waiting"
    if row.status == MutualHelpStatus.REJECTED:
        if not row.decided_by_helped:
            text = _("村里核实为不属实：%(reason)s")
        elif mine:
            text = _("对方表示不属实：%(reason)s")
        else:
            text = _("您已表示不属实：%(reason)s")
        return text % {"reason": row.reason}, "refused"
    claim = row.claim
    if claim is None:  # pragma: no cover - a database check rules it out
        return _("已确认"), "done"
    points = format_points(claim.points)
    if claim.status == ClaimStatus.POSTED:
        if mine:
            return _("已入账 +%(points)s 分") % {"points": points}, "done"
        return _("已给对方记分"), "done"
    if claim.status == ClaimStatus.ON_NOTICE and claim.notice_ends_at:
        end = timezone.localtime(claim.notice_ends_at)
        return _("公示中，%(month)s月%(day)s日公示结束（%(points)s 分）") % {
            "month": end.month,
            "day": end.day,
            "points": points,
        }, "waiting"
    if claim.status in (ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN):
        return _("已确认，但村里审核未通过"), "refused"
    return _("已确认，村里审核中（%(points)s 分）") % {"points": points}, "waiting"


def _rule(household: Household) -> Any:
    return mutual_help_rule(scheme_id=household.scheme_id)


def _choices(household: Household) -> list[tuple[int, str]]:
    """The village's other households by head name; a name shared by two households is told
    apart by the end of the address (the group and house number), nothing more."""
    rows = list(neighbours_of(household).values_list("pk", "head_name", "address")[:2000])
    seen = Counter(name for _pk, name, _address in rows)
    village = household.village.name
    out = []
    for pk, name, address in rows:
        if seen[name] > 1:
            tail = address.split(village)[-1] if village and village in address else address
            name = _("%(name)s（%(where)s）") % {"name": name, "where": tail[-10:] or pk}
        out.append((pk, name))
    return out


def _form_errors(exc: ApplicationError) -> dict[str, str]:
    field = exc.detail.get("field", "")
    if exc.code == ErrorCode.HOUSEHOLD_CLOSED or field in ("helped", "helper"):
        return {"other": exc.message}
    if field in ("hours", "occurred_on", "note", "card", "other"):
        return {field: exc.message}
    return {"form": exc.message}


@require_http_methods(["GET", "POST"])
@resident_required
def help_new(request: HttpRequest, household: Household, side: str) -> HttpResponse:
    """Record help this household gave (``gave``) or received (``received``)."""
    if side not in SIDES:
        raise NotFound("side")
    today = timezone.localdate()
    values = {"other": "", "card": "", "hours": "", "occurred_on": today.isoformat(), "note": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {key: request.POST.get(key, "")[:500].strip() for key in values}
        try:
            occurred_on = dt.date.fromisoformat(values["occurred_on"])
        except ValueError:
            errors["occurred_on"] = _("请填写日期")
        try:
            other = neighbour_for(
                household, household_id=values["other"], card_code=values["card"][:32]
            )
        except ApplicationError as exc:
            errors.update(_form_errors(exc))
        if not errors:
            try:
                row = _record(household, other, side, values, occurred_on)
            except ApplicationError as exc:
                errors.update(_form_errors(exc))
            else:
                messages.success(request, _done_text(row, side))
                return redirect("portal:help")
    return render(
        request,
        "portal/help_new.html",
        {
            "h": household,
            "side": side,
            "choices": _choices(household),
            "values": values,
            "errors": errors,
            "today": today.isoformat(),
            "rule": _rule(household),
        },
        status=422 if errors else 200,
    )


def _record(
    household: Household, other: Household, side: str, values: dict[str, str], day: dt.date
) -> MutualHelp:
    if side == "gave":
        return mutual_help_report(
            helper=household,
            helped=other,
            hours=values["hours"],
            occurred_on=day,
            note=values["note"],
        )
    return mutual_help_record_received(
        helped=household,
        helper=other,
        hours=values["hours"],
        occurred_on=day,
        note=values["note"],
    )


def _done_text(row: MutualHelp, side: str) -> str:
    hours = format_hours(row.hours)
    if side == "gave":
        return _("已登记您帮助 %(name)s %(hours)s 小时，等对方在手机上确认（或网格员核实）。") % {
            "name": row.helped.head_name,
            "hours": hours,
        }
    return _("已登记 %(name)s 帮助您 %(hours)s 小时，村里审核、公示后给对方记分。") % {
        "name": row.helper.head_name,
        "hours": hours,
    }


@require_POST
@resident_required
def help_confirm(request: HttpRequest, household: Household, help_id: int) -> HttpResponse:
    row = mutual_help_of_household(household, help_id)
    back = refusals_return_to(request, reverse("portal:help"))
    if row.status == MutualHelpStatus.CONFIRMED and row.helped_id == household.pk:
        messages.info(request, _("这条互助您已经确认过了，不用再确认。"))
        return redirect(back)
    row = mutual_help_confirm(help_row=row, household=household)
    messages.success(
        request,
        _("已确认 %(name)s 帮助您 %(hours)s 小时，村里审核、公示后给对方记分。")
        % {"name": row.helper.head_name, "hours": format_hours(row.hours)},
    )
    return redirect(back)


@require_http_methods(["GET", "POST"])
@resident_required
def help_dispute(request: HttpRequest, household: Household, help_id: int) -> HttpResponse:
    """Say it did not happen as recorded, with a reason: no claim is made."""
    row = mutual_help_of_household(household, help_id)
    if request.method == "GET" and not (
        row.helped_id == household.pk and row.status == MutualHelpStatus.PENDING
    ):
        messages.info(request, _("这条互助不需要您再答复。"))
        return redirect("portal:help")
    error = ""
    reason = ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")[:500]
        back = refusals_return_to(request, reverse("portal:help"))
        try:
            mutual_help_reject(help_row=row, household=household, reason=reason)
        except ApplicationError as exc:
            if exc.detail.get("field") != "reason":
                raise
            error = _("请写下哪里不属实")  # asked again on this page, with what was typed
        else:
            messages.success(request, _("已告诉村里这条互助不属实，不会给对方记分。"))
            return redirect(back)
    return render(
        request,
        "portal/help_dispute.html",
        {"h": household, "row": row, "reason": reason, "error": error},
        status=422 if error else 200,
    )
