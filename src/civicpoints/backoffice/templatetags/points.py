from django import template

from civicpoints.ledger.amounts import format_points

register = template.Library()


@register.filter
def points(value: int | None) -> str:
    return "" if value is None else format_points(int(value))


@register.filter
def sub(value: int | None, other: int | None) -> int:
    return (value or 0) - (other or 0)
