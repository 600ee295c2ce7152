"""Four-eyes pages for county admins: file a manual adjustment for a household, read what waits,
and approve or reject (after a confirmation page) what another admin filed; the requester sees
their own request as waiting, with a withdraw button and no approve button.

Thin: every check is in ``ledger.adjustments``; this module only words and renders.
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

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.tables import Column, Table, points, table_export
from civicpoints.households.selectors import household_for
from civicpoints.ledger.adjustments import (
    APPROVERS,
    adjustment_request,
    approval_approve,
    approval_for,
    approval_reject,
    approval_withdraw,
    approvals_visible,
)
from civicpoints.ledger.amounts import BadPoints, format_points, parse_points
from civicpoints.ledger.models import ApprovalKind, ApprovalRequest, ApprovalStatus
from civicpoints.schemes.scope import Actor, actor_for_user

FILTERS = {"pending": ApprovalStatus.PENDING, "all": None}


def _approver(request: HttpRequest) -> Actor:
    """The county admin acting; anyone else finds no approval pages (404)."""
    actor = actor_for_user(request.user)
    if not actor.grants_for(APPROVERS):
        raise NotFound("approval")
    return actor


def in_words(row: ApprovalRequest) -> str:
    """What would be (or was) posted, as a county admin reads it."""
    household = row.household
    who = _("%(name)s（%(village)s）") % {
        "name": household.head_name,
        "village": household.village.name,
    }
    points = format_points(abs(row.amount))
    if row.kind == ApprovalKind.REVERSAL and row.target is not None:
        target = row.target
        what = _("冲正第 %(n)s 号记账（%(kind)s %(memo)s）") % {
            "n": target.pk,
            "kind": target.get_kind_display(),
            "memo": target.memo,
        }
        if row.amount > 0:
            return _("%(what)s：给 %(who)s 退回 %(points)s 分") % {
                "what": what,
                "who": who,
                "points": points,
            }
        return _("%(what)s：从 %(who)s 扣回 %(points)s 分") % {
            "what": what,
            "who": who,
            "points": points,
        }
    if row.amount > 0:
        return _("给 %(who)s 加 %(points)s 分") % {"who": who, "points": points}
    return _("从 %(who)s 扣 %(points)s 分") % {"who": who, "points": points}


def _pending() -> str:
    return reverse("backoffice:approvals") + "?status=pending"


APPROVALS = Table(
    gettext_lazy("人工调整与冲正"),
    (
        Column(gettext_lazy("编号"), lambda r: r.pk, 8),
        Column(gettext_lazy("类型"), lambda r: r.get_kind_display(), 10),
        Column(gettext_lazy("入账内容"), in_words, 40),
        Column(gettext_lazy("积分"), lambda r: points(r.amount), 10),
        Column(gettext_lazy("原因"), lambda r: r.reason, 30),
        Column(gettext_lazy("申请人"), lambda r: str(r.requested_by), 12),
        Column(gettext_lazy("申请时间"), lambda r: r.created_at, 17),
        Column(gettext_lazy("状态"), lambda r: r.get_status_display(), 10),
    ),
)


@login_required
def approvals(request: HttpRequest) -> HttpResponseBase:
    actor = _approver(request)
    shown = request.GET.get("status", "pending")
    if shown not in FILTERS:
        shown = "pending"
    rows = approvals_visible(actor)
    if FILTERS[shown] is not None:
        rows = rows.filter(status=FILTERS[shown])
    if export := table_export(request, actor, APPROVALS, rows):
        return export
    page = paged(request, rows)
    items: list[dict[str, Any]] = [
        {
            "r": r,
            "words": in_words(r),
            "points": r.amount,
            "mine": r.requested_by_id == actor.user_id,
            "pending": r.status == ApprovalStatus.PENDING,
        }
        for r in page.object_list
    ]
    return render(
        request,
        "backoffice/approvals.html",
        {
            "items": items,
            "page": page,
            "shown": shown,
            "filters": [("pending", _("待复核")), ("all", _("全部"))],
        },
    )


@login_required
def adjustment_new(request: HttpRequest, household_id: int) -> HttpResponse:
    """File a manual adjustment for one household; a second county admin posts it."""
    actor = _approver(request)
    household = household_for(actor, household_id)
    if not actor.covers(
        roles=APPROVERS, scheme_id=household.scheme_id, region_path=household.village.path
    ):
        raise NotFound("household")
    form = {"points": "", "reason": ""}
    error = ""
    status = 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "")[:300] for k in form}
        try:
            amount = parse_points(form["points"], allow_negative=True)
            adjustment_request(
                actor=actor, household=household, amount=amount, reason=form["reason"]
            )
        except BadPoints as exc:
            error, status = str(exc), 422
        except ApplicationError as exc:
            error, status = exc.message, exc.status
        else:
            messages.success(
                request,
                _("已提交：%(what)s。等待另一位县级管理员复核后入账。")
                % {"what": f"{household.head_name} {format_points(amount)}"},
            )
            return redirect(_pending())
    return render(
        request,
        "backoffice/adjustment_new.html",
        {"h": household, "form": form, "error": error},
        status=status,
    )


def _decidable(request: HttpRequest, approval_id: int) -> tuple[Actor, ApprovalRequest]:
    """The approver and a request in their county, or 404; refusals from here on are told on
    the list of pending requests."""
    actor = _approver(request)
    row = approval_for(actor, approval_id)
    if not actor.covers(
        roles=APPROVERS, scheme_id=row.scheme_id, region_path=row.household.village.path
    ):
        raise NotFound("approval")
    refusals_return_to(request, _pending())
    return actor, row


@login_required
@require_POST
def approval_approve_view(request: HttpRequest, approval_id: int) -> HttpResponse:
    actor, row = _decidable(request, approval_id)
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("复核入账"),
            lines=[
                in_words(row),
                _("原因：%(reason)s") % {"reason": row.reason},
                _("申请人：%(who)s") % {"who": row.requested_by},
            ],
            button=_("确认入账"),
            back=reverse("backoffice:approvals"),
        )
    approval_approve(actor=actor, approval_id=row.pk, note=request.POST.get("note", ""))
    messages.success(request, _("已入账：%(what)s") % {"what": in_words(row)})
    return redirect(_pending())


@login_required
@require_POST
def approval_reject_view(request: HttpRequest, approval_id: int) -> HttpResponse:
    actor, row = _decidable(request, approval_id)
    note = request.POST.get("note", "").strip()
    if note and not confirmed(request):
        return confirm_page(
            request,
            title=_("驳回申请"),
            lines=[in_words(row), _("驳回理由：%(note)s") % {"note": note}],
            button=_("确认驳回"),
            back=reverse("backoffice:approvals"),
            danger=True,
        )
    approval_reject(actor=actor, approval_id=row.pk, note=note)
    messages.success(request, _("已驳回：%(what)s") % {"what": in_words(row)})
    return redirect(_pending())


@login_required
@require_POST
def approval_withdraw_view(request: HttpRequest, approval_id: int) -> HttpResponse:
    actor, row = _decidable(request, approval_id)
    approval_withdraw(actor=actor, approval_id=row.pk)
    messages.success(request, _("已撤回：%(what)s") % {"what": in_words(row)})
    return redirect(_pending())
