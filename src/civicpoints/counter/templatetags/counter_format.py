"""Display helpers for counter and payment-code pages: yuan, masked names, grouped digits."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    """1250 -> "12.50"."""
    value = int(fen or 0)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


@register.filter
def mask_name(name: str | None) -> str:
    """A payer's name at a merchant: the surname only (王秀英 -> 王**)."""
    text = (name or "").strip()
    return text[:1] + "*" * min(max(len(text) - 1, 1), 2) if text else ""


@register.filter
def group_code(code: str | None) -> str:
    """An 18-digit payment code grouped for reading aloud: 88 1234 5678 9012 3456."""
    text = code or ""
    head, rest = text[:2], text[2:]
    return " ".join([head, *(rest[i : i + 4] for i in range(0, len(rest), 4))]).strip()
