"""Staff pages beyond the Django admin. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.errors import ApplicationError
from civicpoints.households.cards import card_qr_svg
from civicpoints.households.selectors import household_for, household_search
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance, household_entries
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.services import staff_login


def home(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    return render(request, "backoffice/home.html", {"actor": actor})


def _next_page(request: HttpRequest) -> str | None:
    """Where the login form came from (``?next=``), only if it is a path on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/") else None


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            user = staff_login(
                username=request.POST.get("username", "")[:150],
                password=request.POST.get("password", "")[:200],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_next_page(request) or "backoffice:home")
    return render(request, "backoffice/login.html", {"next": _next_page(request) or ""})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("backoffice:login")


@login_required
def households(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    q = request.GET.get("q", "")[:40]
    rows = list(household_search(actor, q, limit=100))
    template = (
        "backoffice/_household_rows.html"
        if request.headers.get("HX-Request")
        else ("backoffice/households.html")
    )
    return render(request, template, {"rows": rows, "q": q})


@login_required
def household_detail(request: HttpRequest, household_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    try:
        household = household_for(actor, household_id)
    except ApplicationError:
        return render(request, "backoffice/not_found.html", status=404)
    balance = household_balance(household_id=household.pk)
    entries = list(household_entries(household_id=household.pk)[:100])
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
        },
    )


@login_required
def household_card(request: HttpRequest, household_id: int) -> HttpResponse:
    """A printable card (85.6 x 54 mm, like an ID card) with the household's QR code."""
    actor = actor_for_user(request.user)
    try:
        household = household_for(actor, household_id)
    except ApplicationError:
        return render(request, "backoffice/not_found.html", status=404)
    return render(
        request,
        "backoffice/household_card.html",
        {"h": household, "qr": mark_safe(card_qr_svg(household))},  # noqa: S308 (our SVG)
    )
