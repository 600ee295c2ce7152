"""Filters of the spending pages (money in yuan). Which pages the menu offers is decided in
``backoffice.navigation``."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def yuan(hundredths: int | None) -> str:
    """Fen (or hundredths of a point) with two decimals, as money is written: 2650 -> 26.50."""
    if hundredths is None:
        return ""
    return f"{Decimal(int(hundredths)) / 100:.2f}"
