"""Staff pages beyond the Django admin. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.awards.selectors import (
    notices_ending_today_count,
    objections_waiting_count,
    review_queue_count,
)
from civicpoints.backoffice.navigation import Can, can_for
from civicpoints.backoffice.paging import paged
from civicpoints.backoffice.report_views import home_figures
from civicpoints.backoffice.sessions import staff_session_started
from civicpoints.community.selectors import COMMUNITY_WRITERS
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.faces.tables import Column, Table, export_format, points, table_file, township_of
from civicpoints.honours.stars import stars_of
from civicpoints.households.cards import card_qr_svg
from civicpoints.households.importing.pending import pending_uploads
from civicpoints.households.selectors import (
    household_for,
    household_search_ids,
    households_by_ids,
    households_listed,
    id_number_shown,
    phone_shown,
)
from civicpoints.ledger.adjustments import APPROVERS
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance, household_history
from civicpoints.merchants.selectors import statements_overdue_count
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.selectors import region_for
from civicpoints.schemes.services import staff_login
from civicpoints.stores.selectors import (
    deliveries_to_do_count,
    low_stock_count,
    offline_conflicts_count,
    orders_to_pick_count,
)


@dataclass(frozen=True)
class Tile:
    """One count on the staff home that links to the work behind it."""

    label: str
    count: int
    url: str
    key: str


def _tiles(can: Can) -> list[Tile]:
    """The counts this person can act on, each a cheap scoped query (none for what they cannot)."""
    actor = can.actor
    claims = reverse("backoffice:claims")
    tiles: list[Tile] = []
    if can.claim_review:
        tiles.append(
            Tile(
                _("待村级审核的申报"),
                review_queue_count(actor, stage="village"),
                f"{claims}?queue=village",
                "review",
            )
        )
        if can.township_review:
            tiles.append(
                Tile(
                    _("待乡镇复核的申报"),
                    review_queue_count(actor, stage="township"),
                    f"{claims}?queue=township",
                    "township_review",
                )
            )
        tiles.append(
            Tile(
                _("异议待处理"),
                objections_waiting_count(actor),
                f"{claims}?queue=objected",
                "objections",
            )
        )
    if can.claims:
        tiles.append(
            Tile(
                _("今天公示到期"),
                notices_ending_today_count(actor),
                f"{claims}?status=on_notice&ending=today",
                "notices",
            )
        )
    if can.stores_run:
        tiles.append(
            Tile(_("库存不足的商品"), low_stock_count(actor), reverse("backoffice:stores"), "stock")
        )
        tiles.append(
            Tile(
                _("待取货订单"), orders_to_pick_count(actor), reverse("backoffice:orders"), "orders"
            )
        )
        tiles.append(
            Tile(
                _("待送货"),
                deliveries_to_do_count(actor),
                reverse("backoffice:deliveries"),
                "deliveries",
            )
        )
    if can.offline_conflicts:  # the offline sales refused at sync
        tiles.append(
            Tile(
                _("离线兑换冲突"),
                offline_conflicts_count(actor),
                reverse("backoffice:offline_conflicts"),
                "offline_conflicts",
            )
        )
    if can.merchants:
        tiles.append(
            Tile(
                _("逾期未付的结算单"),
                statements_overdue_count(actor),
                reverse("backoffice:settlement"),
                "overdue",
            )
        )
    if can.activity_door:
        # The same cached counts as the menu's badges: no second query.
        tiles.append(
            Tile(
                _("待确认的邻里互助"),
                can.mutual_help_pending,
                reverse("backoffice:mutual_help"),
                "mutual_help",
            )
        )
    if actor.grants_for(COMMUNITY_WRITERS):  # auditors read the list but have nothing to do
        tiles.append(
            Tile(
                _("待处理的投诉建议"),
                can.feedback_open,
                reverse("backoffice:feedback_list"),
                "feedback",
            )
        )
    if can.household_import or can.claim_propose:
        waiting = pending_uploads(user_id=actor.user_id)
        if can.household_import:
            tiles.append(
                Tile(
                    _("待确认的农户导入"),
                    sum(1 for u in waiting if u["kind"] == "households"),
                    reverse("backoffice:household_import"),
                    "household_imports",
                )
            )
        tiles.append(
            Tile(
                _("待确认的考评表导入"),
                sum(1 for u in waiting if u["kind"] == "claims"),
                reverse("backoffice:claim_import"),
                "claim_imports",
            )
        )
    return tiles


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "backoffice/home.html", {})
    can = can_for(request)
    return render(
        request,
        "backoffice/home.html",
        {
            "tiles": _tiles(can),
            "grants": request.user.grants.select_related("scheme", "region"),
            "figures": home_figures(request),
        },
    )


HOUSEHOLDS_MAX = 100_000  # a search's rows, paged (a county has ~53,000 households)


def _next_page(request: HttpRequest) -> str | None:
    """Where the login form came from (``?next=``), only if it is a path on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/") else None


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    status, retry_after = 200, None
    if request.method == "POST":
        try:
            user = staff_login(
                request=request,
                username=request.POST.get("username", "")[:150],
                password=request.POST.get("password", "")[:200],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = exc.status if exc.code == ErrorCode.LOCKED_OUT else 200
            retry_after = exc.retry_after
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            staff_session_started(request)
            return redirect(_next_page(request) or "backoffice:home")
    context = {"next": _next_page(request) or ""}
    response = render(request, "backoffice/login.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("backoffice:login")


HOUSEHOLDS = Table(
    gettext_lazy("农户名单"),
    (
        Column(gettext_lazy("户号"), lambda h: h.pk, 8),
        Column(gettext_lazy("乡镇"), lambda h: township_of(h.village)),
        Column(gettext_lazy("村/社区"), lambda h: h.village.name),
        Column(gettext_lazy("户主"), lambda h: h.head_name, 10),
        Column(gettext_lazy("户主身份证号"), id_number_shown, 20, text=True),
        Column(gettext_lazy("手机号"), phone_shown, 14, text=True),
        Column(gettext_lazy("家庭住址"), lambda h: h.address, 28),
        Column(gettext_lazy("家庭人口"), lambda h: h.size, 8),
        Column(gettext_lazy("状态"), lambda h: h.get_status_display(), 10),
        Column(gettext_lazy("卡号"), lambda h: h.card_code, 12, text=True),
        Column(gettext_lazy("积分余额"), lambda h: points(h.account.balance), 10),
        Column(gettext_lazy("可用积分"), lambda h: points(h.account.available), 10),
    ),
)


@login_required
def households(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    q = request.GET.get("q", "")[:40]
    # A region: the households behind a figure of the dashboard (one the person can see).
    region = region_for(actor, request.GET["region"]) if request.GET.get("region") else None
    within = region.path if region is not None else ""
    ids = household_search_ids(actor, q, limit=HOUSEHOLDS_MAX, within=within)
    if fmt := export_format(request):
        listed = households_listed(actor, ids)
        detail = {"full_ids": listed.full_ids}
        return table_file(request, actor, HOUSEHOLDS, listed.rows, fmt, detail=detail)
    # The page of ids first (counted and cut in the database), then only its rows.
    page = paged(request, ids)
    rows = list(households_by_ids(list(page.object_list)))
    prefetch_related_objects(rows, "village__parent")
    template = (
        "backoffice/_household_rows.html"
        if request.headers.get("HX-Request")
        else ("backoffice/households.html")
    )
    return render(request, template, {"rows": rows, "q": q, "page": page, "region": region})


@login_required
def household_detail(request: HttpRequest, household_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    household = household_for(actor, household_id)
    balance = household_balance(household_id=household.pk)
    entries = household_history(household_id=household.pk, limit=100)  # reasons in words
    return render(
        request,
        "backoffice/household.html",
        {
            "h": household,
            "balance": format_points(balance.balance),
            "held": format_points(balance.held),
            "available": format_points(balance.available),
            "entries": entries,
            "members": household.members.order_by("pk"),
            "stars": stars_of(household_id=household.pk),
            # The adjustment's own check, for this household (not "approves somewhere").
            "can_adjust": actor.covers(
                roles=APPROVERS,
                scheme_id=household.scheme_id,
                region_path=household.village.path,
            ),
        },
    )


@login_required
def household_card(request: HttpRequest, household_id: int) -> HttpResponse:
    """A printable card (85.6 x 54 mm, like an ID card) with the household's QR code."""
    household = household_for(actor_for_user(request.user), household_id)
    return render(
        request,
        "backoffice/household_card.html",
        {"h": household, "qr": mark_safe(card_qr_svg(household))},  # noqa: S308 (our SVG)
    )
