"""Small pieces the resident's activity and mutual-help pages share: hours written as people
say them (2.5, not 2.50), and the count of help waiting for this household's confirmation
(shown on the home page's 'more' list without the home view knowing about mutual help)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from civicpoints.activities.selectors import mutual_help_waiting
from civicpoints.activities.services.hours import format_hours
from civicpoints.households.models import Household

register = template.Library()


@register.filter
def hours(value: Decimal | None) -> str:
    return "" if value is None else format_hours(Decimal(value))


@register.simple_tag
def help_waiting(household: Household) -> int:
    return mutual_help_waiting(household).count()
