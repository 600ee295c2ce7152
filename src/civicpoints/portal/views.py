"""Residents' phone pages (长辈版 first): log in with the card code and PIN, see points and
history, read the village's public notice and object, report a good deed with a photo.

Thin: the household comes from the session; every check and write is in the domain apps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.awards.resident_selectors import household_claims, household_on_notice
from civicpoints.awards.selectors import notice_claims, owed_total
from civicpoints.awards.services import claim_object
from civicpoints.awards.services.claims import claim_self_report
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.honours.campaigns import campaigns_open_for, title_state_label
from civicpoints.honours.rankings import period_for, rank_of
from civicpoints.honours.selectors import titles_of_household
from civicpoints.honours.stars import stars_of
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance, household_history
from civicpoints.reports.models import PeriodKind
from civicpoints.rules.selectors import rules_in_force
from civicpoints.stores.models import OrderStatus
from civicpoints.stores.selectors import orders_of_household

SESSION_KEY = "resident_household"
RETURN_KEY = "resident_return_to"  # set while an SMS login is under way


def return_path(raw: object) -> str:
    """A resident page to go back to after login: only a path under /m/ on this site."""
    if not isinstance(raw, str) or not raw.startswith("/m/") or raw.startswith("/m//"):
        return ""
    return "" if "\\" in raw else raw


# The household's login_epoch at sign-in: a PIN reset or change raises it and ends the session.
EPOCH_KEY = "resident_epoch"


def _household(request: HttpRequest) -> Household | None:
    pk = request.session.get(SESSION_KEY)
    if not pk:
        return None
    return (
        Household.objects.select_related("village")
        .filter(pk=pk, login_epoch=request.session.get(EPOCH_KEY, 0))
        .first()
    )


def resident_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        household = _household(request)
        if household is None:
            # A page opened while logged out (the door's QR code scanned with the phone's own
            # camera, a link in a text) is where the login brings the resident back to.
            login = reverse("portal:login")
            if request.method == "GET" and request.path != reverse("portal:home"):
                login += "?" + urlencode({"next": request.get_full_path()})
            return redirect(login)
        return view(request, household, *args, **kwargs)

    return wrapper


@resident_required
def home(request: HttpRequest, household: Household) -> HttpResponse:
    balance = household_balance(household_id=household.pk)
    return render(
        request,
        "portal/home.html",
        {
            "h": household,
            "available": format_points(balance.available),
            # Points held by app orders stay in the balance but cannot be spent (冻结中).
            "held": format_points(balance.held),
            "balance": format_points(balance.balance),
            "open_orders": orders_of_household(household).filter(status=OrderStatus.HELD).count(),
            "owed": format_points(owed_total(household_id=household.pk)),
            "on_notice": notice_claims(village_id=household.village_id).count(),
            # Points on their way (公示中, with end dates) and the household's own claims.
            "coming": household_on_notice(household_id=household.pk),
            "my_claims": household_claims(household_id=household.pk, today=timezone.localdate()),
            "stars": stars_of(household_id=household.pk),
            "open_votes": len(campaigns_open_for(household, timezone.now())),
        },
    )


@resident_required
def rank(request: HttpRequest, household: Household) -> HttpResponse:
    """我的排名: where the household stands this month and this year, in its village and its
    township, by points earned (honours/rankings.py)."""
    today = timezone.localdate()
    village = household.village
    township = village.parent or village
    standings = []
    for kind in (PeriodKind.MONTH, PeriodKind.YEAR):
        period = period_for(kind, today)
        places = []
        for region in (village, township):
            found = rank_of(
                scheme_id=household.scheme_id,
                region=region,
                period=period,
                household_id=household.pk,
                today=today,
            )
            places.append({"region": region.name, "found": found})
        standings.append({"label": period.label, "places": places})
    titles = [
        {"nominee": n, "state": title_state_label(n.claim_status)}
        for n in titles_of_household(household)
    ]
    return render(
        request,
        "portal/rank.html",
        {
            "h": household,
            "standings": standings,
            "stars": stars_of(household_id=household.pk),
            "titles": titles,
        },
    )


@resident_required
def history(request: HttpRequest, household: Household) -> HttpResponse:
    lines = household_history(household_id=household.pk, limit=50)
    return render(request, "portal/history.html", {"h": household, "lines": lines})


@resident_required
def notices(request: HttpRequest, household: Household) -> HttpResponse:
    return _notices_page(request, household)


def _notices_page(
    request: HttpRequest,
    household: Household,
    error: tuple[int, str] | None = None,
    reason: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "portal/notices.html",
        {
            "h": household,
            "claims": notice_claims(village_id=household.village_id),
            # A refused objection: its message at that claim's reason field, the text kept.
            "error_claim": error[0] if error else None,
            "error": error[1] if error else "",
            "reason": reason,
        },
        status=status,
    )


@require_POST
@resident_required
def object_view(request: HttpRequest, household: Household, claim_id: int) -> HttpResponse:
    claim = notice_claims(village_id=household.village_id).filter(pk=claim_id).first()
    if claim is None:
        raise NotFound("claim")
    reason = request.POST.get("reason", "")[:500]
    try:
        claim_object(claim=claim, objector=household, reason=reason)
    except ApplicationError as exc:
        return _notices_page(request, household, (claim.pk, exc.message), reason, exc.status)
    messages.success(request, _("您的异议已提交，村里会重新审核这条申报。"))
    return redirect("portal:notices")


@require_http_methods(["GET", "POST"])
@resident_required
def report(request: HttpRequest, household: Household) -> HttpResponse:
    rules = [r for r in rules_in_force(scheme_id=household.scheme_id) if not r.is_deduction]
    if request.method == "POST":
        photo = request.FILES.get("photo")
        try:
            quantity = Decimal(request.POST.get("quantity", "").strip() or "x")
            occurred_on = dt.date.fromisoformat(request.POST.get("occurred_on") or "")
        except (InvalidOperation, ValueError):
            messages.error(request, _("请填写数量和日期"))
        else:
            try:
                claim_self_report(
                    household=household,
                    rule_id=request.POST.get("rule"),
                    quantity=quantity,
                    occurred_on=occurred_on,
                    note=request.POST.get("note", "")[:500],
                    witness=request.POST.get("witness", "")[:60],
                    photo=photo.read() if photo is not None else None,
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("已提交，村里审核后会公示。"))
                return redirect("portal:home")
    return render(
        request,
        "portal/report.html",
        {"h": household, "rules": rules, "today": timezone.localdate().isoformat()},
    )
