"""The love-supermarket counter: find the household, fill a basket, confirm with the PIN (or
assisted with a reason), print the 58 mm receipt, take goods back within the window.

Thin: every rule (stock, limits, windows, balance, PIN) is in ``stores.services``. The form
carries an idempotency key made when the page rendered, so a double tap is one redemption.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from civicpoints.counter.common import (
    KEYS,
    error_text,
    items_of,
    parse_quantities,
    parse_yuan,
)
from civicpoints.counter.offline_views import offline_context
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.faces.errors import refusals_return_to
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance, household_balance_after
from civicpoints.schemes.scope import Actor, actor_for_user
from civicpoints.stores.models import Redemption, Store
from civicpoints.stores.selectors import (
    counter_household,
    counter_search,
    products_of,
    redemption_for,
    return_deadline,
    store_for,
)
from civicpoints.stores.services import redeem, redemption_return, require_counter, store_open_on


def _counter(actor: Actor, store_id: int) -> Store:
    """The store if the actor may work its counter: 404 outside scope, 403 for a reader."""
    store = store_for(actor, store_id)
    require_counter(actor, store)
    return store


def _sale(
    store: Store,
    household: Household,
    *,
    quantities: dict[int, int] | None = None,
    form: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Everything the basket panel shows for one household."""
    balance = household_balance(household_id=household.pk)
    products = list(products_of(store))
    quantities = quantities or {}
    return {
        "household": household,
        "balance": format_points(balance.balance),
        "available": format_points(balance.available),
        "available_hundredths": balance.available,
        "products": [(p, quantities.get(p.pk, 0)) for p in products],
        "has_large": any(p.large_item for p in products),
        "rate": store.scheme.yuan_per_point,
        "key": key or KEYS.new(),
        "form": form or {},
    }


@never_cache
@login_required
def store_counter(request: HttpRequest, store_id: int) -> HttpResponse:
    """The counter screen; with ``q`` it searches, with ``household`` it opens the basket."""
    store = _counter(actor_for_user(request.user), store_id)
    q = request.GET.get("q", "").strip()[:64]
    context: dict[str, Any] = {
        "store": store,
        "open_today": store_open_on(store, timezone.localdate()),
        "q": q,
        "candidates": None,
        "sale": None,
        **offline_context(),
    }
    household_id = request.GET.get("household")
    if household_id:
        try:
            context["sale"] = _sale(store, counter_household(store, household_id))
        except ApplicationError:
            context["candidates"] = []
    elif q:
        found = list(counter_search(store, q, limit=20))
        if len(found) == 1:
            context["sale"] = _sale(store, found[0])
        else:
            context["candidates"] = found
    template = (
        "counter/_store_panel.html" if request.headers.get("HX-Request") else "counter/store.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def store_redeem(request: HttpRequest, store_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    store = _counter(actor, store_id)
    household = counter_household(store, request.POST.get("household"))
    post = request.POST
    assisted = post.get("assisted") == "1"
    address = post.get("delivery_address", "").strip()[:200]
    reason = post.get("assisted_reason", "").strip()[:200]
    cash = post.get("cash", "").strip()[:12]
    form = {"assisted": assisted, "reason": reason, "cash": cash, "delivery_address": address}
    quantities: dict[int, int] = {}
    key = post.get("key", "")[:100]
    try:
        quantities = parse_quantities(post.dict())
        redemption = redeem(
            actor=actor,
            store=store,
            household=household,
            items=items_of(quantities),
            pin=None if assisted else post.get("pin", "").strip()[:12],
            assisted_reason=reason if assisted else "",
            cash_fen=parse_yuan(cash),
            delivery_address=address or None,
            idempotency_key=KEYS.check(key),
        )
    except ApplicationError as exc:
        context = {
            "store": store,
            "open_today": store_open_on(store, timezone.localdate()),
            "q": "",
            "candidates": None,
            "sale": _sale(
                store, household, quantities=quantities, form=form, key=KEYS.after(key, exc)
            ),
            "error": error_text(exc),
            "error_code": str(exc.code),
            **offline_context(),
        }
        return render(request, "counter/store.html", context, status=exc.status)
    return redirect("counter:store_receipt", store_id=store.pk, redemption_id=redemption.pk)


def _receipt(actor: Actor, store_id: int, redemption_id: int) -> tuple[Store, Redemption]:
    """A redemption of this counter's store, or 404 (403 for someone who only reads)."""
    store = _counter(actor, store_id)
    redemption = redemption_for(actor, redemption_id)
    if redemption.store_id != store.pk:
        raise NotFound("redemption")
    return store, redemption


def _receipt_context(store: Store, redemption: Redemption) -> dict[str, Any]:
    deadline = return_deadline(redemption)
    lines = list(redemption.lines.select_related("product").order_by("pk"))
    return {
        "store": store,
        "r": redemption,
        "lines": lines,
        "total": sum(line.amount for line in lines),
        "balance_after": (
            household_balance_after(
                posting_id=redemption.posting_id, household_id=redemption.household_id
            )
            if redemption.posting_id
            else None
        ),
        "deadline": deadline,
        "may_return": redemption.returned_at is None and timezone.now() <= deadline,
    }


@never_cache
@login_required
def store_receipt(request: HttpRequest, store_id: int, redemption_id: int) -> HttpResponse:
    store, redemption = _receipt(actor_for_user(request.user), store_id, redemption_id)
    return render(request, "counter/store_receipt.html", _receipt_context(store, redemption))


@login_required
@require_POST
def store_return(request: HttpRequest, store_id: int, redemption_id: int) -> HttpResponse:
    """Two steps: the first POST shows what will come back, the second (confirm) does it."""
    actor = actor_for_user(request.user)
    store, redemption = _receipt(actor, store_id, redemption_id)
    back = refusals_return_to(
        request,
        reverse("counter:store_receipt", args=[store.pk, redemption.pk]),
        words=error_text,
    )
    reason = request.POST.get("reason", "").strip()[:200]
    if request.POST.get("confirm") != "1":
        if not reason:
            messages.error(request, _("请填写退货原因"))
            return redirect(back)
        context = {**_receipt_context(store, redemption), "reason": reason}
        return render(request, "counter/store_return_confirm.html", context)
    redemption_return(actor=actor, redemption=redemption, reason=reason)
    messages.success(
        request,
        _("已退货：%(points)s 分已退回 %(name)s，商品已入库")
        % {"points": format_points(redemption.points), "name": redemption.household.head_name},
    )
    return redirect(back)
