"""Residents order goods from their stores in the phone pages (长辈版): choose how many, see the
points, what stays available and until when the goods wait, confirm; list and cancel orders.

Thin: ``stores.services.order_place`` holds the points and sets the goods aside, ``order_cancel``
gives both back, and every rule (stock, limits, balance, 一票否决) is there. The confirm page
carries an idempotency key made when it rendered, so a double tap or a resubmit is one order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.forms import FormKeys, detail_hundredths
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance
from civicpoints.portal.views import resident_required
from civicpoints.stores.models import OrderStatus, Product, Store
from civicpoints.stores.selectors import (
    order_for_household,
    orderable_for,
    orders_of_household,
    product_for,
    store_for_household,
    words_disqualified,
    words_limit,
    words_out_of_stock,
    words_short,
)
from civicpoints.stores.services import Item, order_cancel, order_place

MAX_QUANTITY = 999
# The confirm page's key: a double tap or a resubmit is one order.
KEYS = FormKeys(prefix="app-order-", expired=gettext_lazy("页面已过期，请重新下单"))


@dataclass(frozen=True)
class Choice:
    """What the resident picked on the first page; it travels in the query string and form."""

    quantity: int
    delivery: bool
    address: str

    def query(self) -> str:
        wanted: dict[str, Any] = {"quantity": self.quantity, "delivery": int(self.delivery)}
        if self.delivery:  # else the page offers the household's own address again
            wanted["address"] = self.address
        return urlencode(wanted)


def _quantity(data: Mapping[str, Any]) -> int | None:
    raw = str(data.get("quantity") or "").strip()
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_QUANTITY:
        return int(raw)
    return None


def _first_choice(data: Mapping[str, Any], product: Product, household: Household) -> Choice:
    """The first page's values: what was picked before (back from a refusal), else one unit
    and the household's own address."""
    return Choice(
        quantity=_quantity(data) or 1,
        # Only large items go out for delivery; for others the choice is not offered.
        delivery=product.large_item and data.get("delivery") == "1",
        address=str(data.get("address", household.address) or "").strip()[:200],
    )


def _choice(data: Mapping[str, Any], product: Product, household: Household) -> Choice:
    """The picked values, or the reason they cannot go on to the confirm page."""
    if _quantity(data) is None:
        raise invalid(_("数量请填 1 到 999 之间的整数"), field="quantity")
    choice = _first_choice(data, product, household)
    if choice.delivery and not choice.address:
        raise invalid(_("请填写送货地址"), field="address")
    return choice


def _error_text(exc: ApplicationError, product: Product | None = None) -> str:
    """The service's refusal in the same words the stores page uses (``stores.selectors``),
    with the numbers to act on."""
    detail = exc.detail or {}
    if exc.code == ErrorCode.INSUFFICIENT_POINTS and "available" in detail:
        need = detail_hundredths(detail.get("needed", ""))
        have = detail_hundredths(detail["available"])
        if need is not None and have is not None:
            return words_short(need, have)
    if exc.code == ErrorCode.DISQUALIFIED and "until" in detail:
        return words_disqualified(detail["until"])
    if exc.code == ErrorCode.PURCHASE_LIMIT and product is not None and "used" in detail:
        return words_limit(product, detail["used"])
    if exc.code == ErrorCode.OUT_OF_STOCK and product is not None:
        product.refresh_from_db(fields=["stock"])
        return words_out_of_stock(product)
    if exc.code == ErrorCode.IDEMPOTENCY_KEY_REUSED:
        return _("页面已过期，请重新下单")
    return exc.message


def _why_not(household: Household, product: Product, quantity: int = 1) -> str:
    """Why the household cannot order this now (the stores page's words), or ""."""
    return orderable_for(household, [product]).why_not(product, quantity)


def _on_sale(household: Household, store_id: int, product_id: int) -> tuple[Store, Product]:
    """A product of one of the household's stores, still on the shelf; else NotFound."""
    store = store_for_household(household, store_id)
    product = product_for(store, product_id)
    if not product.active:
        raise NotFound("product")
    return store, product


def _start_url(store: Store, product: Product, choice: Choice | None = None) -> str:
    url = reverse("portal:order_start", args=[store.pk, product.pk])
    return f"{url}?{choice.query()}" if choice else url


@never_cache
@require_GET
@resident_required
def order_start(
    request: HttpRequest, household: Household, store_id: int, product_id: int
) -> HttpResponse:
    """How many (big - and + buttons) and, for a large item, pickup or delivery."""
    store, product = _on_sale(household, store_id, product_id)
    choice = _first_choice(request.GET, product, household)
    return render(
        request,
        "portal/order_start.html",
        {
            "h": household,
            "store": store,
            "product": product,
            "choice": choice,
            "total": product.price * choice.quantity,
            "max_quantity": max(min(product.stock, MAX_QUANTITY), 1),
            "available": household_balance(household_id=household.pk).available,
            "why": _why_not(household, product),
        },
    )


@never_cache
@require_GET
@resident_required
def order_confirm(
    request: HttpRequest, household: Household, store_id: int, product_id: int
) -> HttpResponse:
    """What the order costs and leaves available, and until when the goods wait. No write."""
    store, product = _on_sale(household, store_id, product_id)
    refusals_return_to(
        request, _start_url(store, product, _first_choice(request.GET, product, household))
    )
    choice = _choice(request.GET, product, household)
    available = household_balance(household_id=household.pk).available
    total = product.price * choice.quantity
    return render(
        request,
        "portal/order_confirm.html",
        {
            "h": household,
            "store": store,
            "product": product,
            "choice": choice,
            "total": total,
            "available": available,
            "after": available - total,
            "why": _why_not(household, product, choice.quantity),
            "deadline": timezone.localtime() + dt.timedelta(days=store.order_hold_days),
            "back": _start_url(store, product, choice),
            "key": KEYS.new(),
        },
    )


@require_POST
@resident_required
def order_place_view(
    request: HttpRequest, household: Household, store_id: int, product_id: int
) -> HttpResponse:
    store, product = _on_sale(household, store_id, product_id)
    # A refusal goes back to the first page with what was picked (a redirect: reloading it
    # never asks to resend a form), in the stores page's words.
    back = refusals_return_to(
        request,
        _start_url(store, product, _first_choice(request.POST, product, household)),
        words=lambda exc: _error_text(exc, product),
    )
    choice = _choice(request.POST, product, household)
    # Refused in the page's words before anything is written (the service checks again).
    if why := _why_not(household, product, choice.quantity):
        messages.error(request, why)
        return redirect(back)
    order = order_place(
        household=household,
        store=store,
        items=[Item(product_id=product.pk, quantity=choice.quantity)],
        delivery_address=choice.address if choice.delivery else None,
        idempotency_key=KEYS.check(request.POST.get("key", "")[:100]),
    )
    messages.success(
        request,
        _("下单成功，订单号 %(no)s。%(points)s 分先冻结，取货时才扣除。")
        % {"no": order.order_no, "points": format_points(order.points)},
    )
    return redirect("portal:orders")


@never_cache
@require_GET
@resident_required
def orders(request: HttpRequest, household: Household) -> HttpResponse:
    """我的订单: newest first, with what was ordered and, while held, until when."""
    rows = (
        orders_of_household(household)
        .prefetch_related("lines__product")
        .order_by("-created_at", "-pk")[:50]
    )
    return render(request, "portal/orders.html", {"h": household, "orders": list(rows)})


@never_cache
@require_http_methods(["GET", "POST"])
@resident_required
def order_cancel_view(request: HttpRequest, household: Household, order_id: int) -> HttpResponse:
    """GET asks "cancel this order?"; POST cancels it and the held points come back."""
    order = order_for_household(household, order_id)
    if request.method == "POST":
        refusals_return_to(request, reverse("portal:orders"), words=_error_text)
        order_cancel(order=order, actor=None)
        messages.success(
            request,
            _("订单 %(no)s 已取消，冻结的 %(points)s 分已退回。")
            % {"no": order.order_no, "points": format_points(order.points)},
        )
        return redirect("portal:orders")
    if order.status != OrderStatus.HELD:
        messages.error(request, ApplicationError(ErrorCode.ORDER_NOT_OPEN).message)
        return redirect("portal:orders")
    return render(
        request,
        "portal/order_cancel.html",
        {"h": household, "o": order, "lines": list(order.lines.select_related("product"))},
    )
