"""Which spending pages (stores, merchants, settlement) the nav offers this person, and how
many statements are overdue: worked out once per request."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from civicpoints.backoffice.merchant_views import readable_schemes
from civicpoints.backoffice.settlement_views import overdue_count
from civicpoints.backoffice.store_views import store_staff
from civicpoints.schemes.scope import actor_for_user

register = template.Library()


@register.simple_tag(takes_context=True)
def spending_nav(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {}
    found = getattr(request, "_spending_nav", None)
    if found is None:
        actor = actor_for_user(request.user)
        merchants = bool(readable_schemes(actor))
        found = {
            "stores": store_staff(actor),
            "merchants": merchants,
            "overdue": overdue_count(actor) if merchants else 0,
        }
        request._spending_nav = found
    return found


@register.filter
def yuan(hundredths: int | None) -> str:
    """Fen (or hundredths of a point) with two decimals, as money is written: 2650 -> 26.50."""
    if hundredths is None:
        return ""
    return f"{Decimal(int(hundredths)) / 100:.2f}"
