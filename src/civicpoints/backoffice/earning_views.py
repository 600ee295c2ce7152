"""Staff pages for earning: the review queue, proposing a claim, a claim with its photos and
history, the village notice board (and its printable A4 sheet), budgets. Thin: every check
and write is in ``awards``; refusals come back as messages on the page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.awards.models import Claim, ClaimStatus, Fund, FundKind
from civicpoints.awards.selectors import (
    CLAIM_READERS,
    REVIEW_STAGES,
    budget_summary,
    claim_actions,
    claim_for,
    claims_for_rows,
    claims_visible,
    evidence_for,
    notice_board_for,
    notice_claims,
    notice_regions,
    notices_ending_today,
    objection_reasons,
    review_queue,
)
from civicpoints.awards.services import (
    claim_approve,
    claim_object,
    claim_reject,
    claim_submit,
    fund_record,
    quota_set,
)
from civicpoints.awards.services.evidence import evidence_attach, evidence_file
from civicpoints.backoffice.navigation import can_for
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError, NotFound, invalid
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.forms import typed_points
from civicpoints.faces.tables import Column, Table, points, table_export, township_of
from civicpoints.households.selectors import household_for, household_search
from civicpoints.ledger.chain import chain_head
from civicpoints.rules.selectors import rules_in_force
from civicpoints.schemes.models import RegionLevel, Role, Scheme
from civicpoints.schemes.scope import Actor, actor_for_user
from civicpoints.schemes.selectors import (
    region_for,
    regions_visible,
    schemes_governed,
)

QUEUE_STATUSES = [ClaimStatus.SUBMITTED, ClaimStatus.APPROVED]


QUEUES = {"mine", "village", "township", "objected"}


def _claim_points(claim: Claim) -> Decimal | None:
    return points(-claim.points if claim.is_deduction else claim.points)


CLAIMS = Table(
    gettext_lazy("积分申报"),
    (
        Column(gettext_lazy("编号"), lambda c: c.pk, 8),
        Column(gettext_lazy("乡镇"), lambda c: township_of(c.village)),
        Column(gettext_lazy("村"), lambda c: c.village.name),
        Column(gettext_lazy("户主"), lambda c: c.household.head_name, 10),
        Column(gettext_lazy("家庭成员"), lambda c: c.member.name if c.member_id else "", 10),
        Column(gettext_lazy("细则编号"), lambda c: c.rule.code, 8, text=True),
        Column(gettext_lazy("细则"), lambda c: c.rule.name, 24),
        Column(gettext_lazy("数量"), lambda c: c.quantity, 8),
        Column(gettext_lazy("单位"), lambda c: c.rule.get_unit_display(), 6),
        Column(gettext_lazy("积分"), _claim_points, 8),
        Column(gettext_lazy("发生日期"), lambda c: c.occurred_on, 11),
        Column(gettext_lazy("说明"), lambda c: c.note, 30),
        Column(gettext_lazy("证明人"), lambda c: c.witness, 10),
        Column(gettext_lazy("状态"), lambda c: c.get_status_display(), 10),
        Column(gettext_lazy("公示截止"), lambda c: c.notice_ends_at, 17),
    ),
)


@login_required
def claim_queue(request: HttpRequest) -> HttpResponseBase:
    actor = can_for(request).actor  # the menu's actor: the grants are read once per request
    status = request.GET.get("status", "")
    queue = request.GET.get("queue", "")
    ending_today = request.GET.get("ending") == "today"
    if queue in ("mine", *REVIEW_STAGES):
        # Scoped by the reviewer roles, within what they read; "village"/"township": one stage.
        rows = review_queue(actor, stage=None if queue == "mine" else queue)
    elif queue == "objected":
        rows = (
            review_queue(actor)
            .filter(status=ClaimStatus.SUBMITTED, events__action="object")
            .distinct()
        )
    elif ending_today:
        rows = notices_ending_today(actor)
    else:
        rows = claims_visible(actor)
        if status in ClaimStatus.values:
            rows = rows.filter(status=status)
        else:
            rows = rows.filter(status__in=QUEUE_STATUSES)
    listed = rows.select_related("household", "rule", "village__parent", "member").order_by("pk")
    if export := table_export(request, actor, CLAIMS, listed):
        return export
    # Page through ids alone, then load the page's claims with what the rows show: the
    # joins run for 50 claims, not for every claim in scope.
    page = paged(request, rows.order_by("pk").values_list("pk", flat=True))
    claims = claims_for_rows(list(page.object_list))
    reasons = objection_reasons([c.pk for c in claims])
    return render(
        request,
        "backoffice/claims.html",
        {
            "rows": [
                {"c": c, "objection": reasons.get(c.pk), "may": claim_actions(actor, c)}
                for c in claims
            ],
            "page": page,
            "status": status,
            "queue": queue if queue in QUEUES else "",
            "ending_today": ending_today,
            "statuses": ClaimStatus.choices,
        },
    )


@login_required
@require_POST
def claim_review(request: HttpRequest, claim_id: int, action: str) -> HttpResponse:
    actor = actor_for_user(request.user)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "backoffice:claims"  # never follow a "next" to another site
    # Every refusal, a claim gone from the queue too, is told on the list the review came from.
    refusals_return_to(
        request,
        target,
        words=lambda exc: (
            _("#%(claim)s：%(message)s") % {"claim": claim_id, "message": exc.message}
        ),
    )
    claim = claim_for(actor, claim_id)
    if action == "approve":
        claim_approve(actor=actor, claim=claim)
        done = _("已审核通过：#%(claim)s %(name)s")
        messages.success(request, done % {"claim": claim.pk, "name": claim.household.head_name})
    elif action == "reject":
        claim_reject(actor=actor, claim=claim, reason=request.POST.get("reason", "")[:500])
        done = _("已驳回：#%(claim)s %(name)s")
        messages.success(request, done % {"claim": claim.pk, "name": claim.household.head_name})
    elif action == "object":
        claim_object(actor=actor, claim=claim, reason=request.POST.get("reason", "")[:500])
        messages.success(request, _("已提出异议，退回审核：#%(claim)s") % {"claim": claim.pk})
    else:
        raise Http404
    return redirect(target)


@login_required
@require_http_methods(["GET", "POST"])
def claim_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    q = request.GET.get("q", "")[:40]
    household = None
    if request.GET.get("household"):
        household = household_for(actor, request.GET["household"])
    if request.method == "POST":
        try:
            household = household_for(actor, request.POST.get("household"))
            quantity = Decimal(request.POST.get("quantity", "").strip() or "x")
            occurred_on = dt.date.fromisoformat(request.POST.get("occurred_on") or "")
        except (ApplicationError, InvalidOperation, ValueError):
            messages.error(request, _("请选择农户并填写正确的数量和日期"))
        else:
            try:
                with transaction.atomic():  # a refused photo leaves no claim behind
                    claim = claim_submit(
                        actor=actor,
                        household=household,
                        rule_id=request.POST.get("rule"),
                        quantity=quantity,
                        occurred_on=occurred_on,
                        note=request.POST.get("note", "")[:500],
                        witness=request.POST.get("witness", "")[:60],
                    )
                    photo = request.FILES.get("photo")
                    if photo is not None:
                        evidence_attach(actor=actor, claim=claim, data=photo.read())
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request, _("已提交申报 #%(claim)s，等待审核") % {"claim": claim.pk}
                )
                return redirect("backoffice:claim", claim_id=claim.pk)
    rules = rules_in_force(scheme_id=household.scheme_id) if household else []
    found = list(household_search(actor, q, limit=20)) if q and household is None else []
    return render(
        request,
        "backoffice/claim_new.html",
        {
            "household": household,
            "rules": rules,
            "q": q,
            "found": found,
            "today": timezone.localdate().isoformat(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def claim_detail(request: HttpRequest, claim_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    claim = claim_for(actor, claim_id)
    if request.method == "POST":
        back = refusals_return_to(request, reverse("backoffice:claim", args=[claim.pk]))
        photo = request.FILES.get("photo")
        if photo is None:
            raise invalid(_("请选择照片"), field="photo")
        evidence_attach(actor=actor, claim=claim, data=photo.read())
        messages.success(request, _("照片已上传"))
        return redirect(back)
    events = [
        {
            "e": e,
            "action": EVENT_LABELS.get(e.action, _("办理")),
            "from": _status_label(e.from_status),
            "to": _status_label(e.to_status),
        }
        for e in claim.events.select_related("actor", "actor_household")
    ]
    return render(
        request,
        "backoffice/claim.html",
        {"claim": claim, "events": events, "may": claim_actions(actor, claim)},
    )


EVENT_LABELS = {
    "submit": gettext_lazy("申报"),
    "approve": gettext_lazy("审核通过"),
    "reject": gettext_lazy("驳回"),
    "withdraw": gettext_lazy("撤回"),
    "object": gettext_lazy("提出异议"),
    "post": gettext_lazy("入账"),
}


def _status_label(value: str) -> str:
    return str(ClaimStatus(value).label) if value in ClaimStatus.values else ""


@login_required
def claim_photo(request: HttpRequest, photo_id: int) -> HttpResponse | FileResponse:
    evidence = evidence_for(actor_for_user(request.user), photo_id)
    path = evidence_file(evidence)
    response = FileResponse(path.open("rb"), content_type=evidence.content_type)
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def notice_index(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    if not actor.grants_for(CLAIM_READERS):
        raise NotFound("notice")
    villages = notice_regions(actor).filter(level=RegionLevel.VILLAGE).select_related("parent")
    page = paged(request, villages, per_page=200)
    return render(request, "backoffice/notices.html", {"villages": page.object_list, "page": page})


def _board(request: HttpRequest, village_id: int) -> dict:
    village, scheme = notice_board_for(actor_for_user(request.user), village_id)
    return {
        "village": village,
        "scheme": scheme,
        "claims": list(notice_claims(village_id=village.pk)),
        "head": chain_head(scheme_id=scheme.pk),
        "now": timezone.localtime(),
    }


@login_required
def notice_board(request: HttpRequest, village_id: int) -> HttpResponse:
    return render(request, "backoffice/notice_board.html", _board(request, village_id))


@login_required
def notice_print(request: HttpRequest, village_id: int) -> HttpResponse:
    return render(request, "backoffice/notice_print.html", _board(request, village_id))


def _budget_scheme(actor: Actor) -> Scheme:
    """The first scheme the county admin or auditor governs, or 404."""
    governed = schemes_governed(actor, roles=[Role.COUNTY_ADMIN, Role.AUDITOR])
    if not governed:
        raise NotFound("scheme")
    return governed[0]


def _date(raw: str | None, *, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw or "")
    except ValueError:
        raise invalid(_("日期格式不对"), field=field) from None


@login_required
@require_http_methods(["GET", "POST"])
def budget(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = _budget_scheme(actor)
    year = timezone.localdate().year
    if request.method == "POST":
        back = refusals_return_to(request, reverse("backoffice:budget"))
        if request.POST.get("form") == "fund":
            fund_record(
                actor=actor,
                scheme=scheme,
                kind=request.POST.get("kind", ""),
                amount_fen=typed_points(request.POST.get("yuan", ""), field="yuan"),
                source=request.POST.get("source", "")[:100],
                received_on=_date(request.POST.get("received_on"), field="received_on"),
                note=request.POST.get("note", "")[:200],
            )
            messages.success(request, _("已登记资金"))
        else:
            quota_set(
                actor=actor,
                scheme=scheme,
                village=region_for(actor, request.POST.get("village")),
                year=year,
                points=typed_points(
                    request.POST.get("points", ""), field="points", allow_zero=True
                ),
            )
            messages.success(request, _("已设定额度"))
        return redirect(back)
    summary = budget_summary(scheme=scheme, year=year)
    return render(
        request,
        "backoffice/budget.html",
        {
            "scheme": scheme,
            "year": year,
            "summary": summary,
            "funds": Fund.objects.filter(scheme=scheme).order_by("-received_on")[:50],
            "kinds": FundKind.choices,
            "villages": regions_visible(actor).filter(level=RegionLevel.VILLAGE)[:500],
            "today": timezone.localdate().isoformat(),
        },
    )
