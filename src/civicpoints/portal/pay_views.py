"""The resident's payment code (积分码) and the stores they may use (兑换), elder mode.

The code page shows a QR code and the 18 digits grouped for reading aloud; a fragment polled
every 50 seconds replaces it before its 60 seconds run out, so there is no time limit for the
resident. Thin: codes are issued by ``merchants.services``; stores come from ``stores.selectors``.
"""

from __future__ import annotations

from typing import Any

import segno
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache

from civicpoints.errors import ApplicationError
from civicpoints.households.cards import card_qr_svg
from civicpoints.households.models import Household
from civicpoints.merchants.services import payment_code_issue
from civicpoints.portal.views import resident_required
from civicpoints.stores.selectors import orderable_for, products_on_sale, stores_for_household

REFRESH_SECONDS = 50


def _code(household: Household) -> dict[str, Any]:
    try:
        code = payment_code_issue(household=household)
    except ApplicationError as exc:
        return {"error": exc.message}
    qr = segno.make_qr(code.code, error="m").svg_inline(scale=8, border=2, omitsize=True)
    return {
        "code": code.code,
        "qr": mark_safe(qr),  # noqa: S308 (segno's SVG of our digits)
        "ttl": max(int((code.expires_at - timezone.now()).total_seconds()), 0),
        "refresh": REFRESH_SECONDS,
    }


@never_cache
@resident_required
def pay(request: HttpRequest, household: Household) -> HttpResponse:
    return render(request, "portal/pay.html", {"h": household, "pay": _code(household)})


@never_cache
@resident_required
def pay_code(request: HttpRequest, household: Household) -> HttpResponse:
    """The code block alone, for htmx polling."""
    return render(request, "portal/_pay_code.html", {"pay": _code(household)})


@resident_required
def stores(request: HttpRequest, household: Household) -> HttpResponse:
    """The stores serving the household, each product with why it cannot be ordered now (if
    so): a handful of queries for the whole page, none per product."""
    shops = list(
        stores_for_household(household).prefetch_related(
            Prefetch("products", queryset=products_on_sale(), to_attr="on_sale")
        )
    )
    can = orderable_for(household, [p for s in shops for p in s.on_sale])
    rows = [(s, [(p, can.why_not(p)) for p in s.on_sale]) for s in shops]
    return render(
        request,
        "portal/stores.html",
        {"h": household, "stores": rows, "card_qr": mark_safe(card_qr_svg(household, scale=6))},  # noqa: S308
    )
