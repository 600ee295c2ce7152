"""Form helpers the page faces share: the idempotency key a form carries (made when the page
renders, so a double tap or a resubmit is one sale, one order, one batch), points typed in a
form, and the points a service's refusal names in its detail (``"available": "12.5"``).

Parsing only: whether a sale may happen is decided by the services, never here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.functional import Promise

from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.ledger.amounts import BadPoints, format_points, parse_points

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,100}$")


@dataclass(frozen=True)
class FormKeys:
    """The keys of one kind of form: ``prefix`` tells them apart in the stored requests,
    ``expired`` is what the page says when a key is missing or malformed."""

    prefix: str
    expired: str | Promise

    def new(self) -> str:
        """A key for a form being rendered: one key, one write."""
        return self.prefix + secrets.token_hex(16)

    def check(self, raw: str | None) -> str:
        """The posted key, or a refusal at the ``key`` field (the page is stale or forged)."""
        key = (raw or "").strip()
        if not KEY_PATTERN.match(key):
            raise invalid(str(self.expired), field="key")
        return key

    def after(self, raw: str | None, exc: ApplicationError) -> str:
        """The key for the form shown again after a refusal: the same one (nothing happened,
        so a retry is still one write), unless it was bad or already spent on another request."""
        key = (raw or "").strip()
        if exc.code == ErrorCode.IDEMPOTENCY_KEY_REUSED or not KEY_PATTERN.match(key):
            return self.new()
        return key


def typed_points(
    raw: str, *, field: str, words: str | Promise = "%(problem)s", **options: bool
) -> int:
    """Points typed in a form, in hundredths; else a refusal at ``field`` in ``words`` (which
    take the parser's ``problem``: "积分价格：%(problem)s"). ``options`` go to ``parse_points``."""
    try:
        return parse_points(raw, **options)
    except BadPoints as exc:
        raise invalid(str(words) % {"problem": exc}, field=field) from None


def detail_hundredths(value: object) -> int | None:
    """Points as a refusal's detail gives them (``"12.5"``, ``12.5``) in hundredths, or None."""
    try:
        return int((Decimal(str(value)) * 100).to_integral_value())
    except (InvalidOperation, ValueError, OverflowError):
        return None


def detail_points(value: object) -> str:
    """Points from a refusal's detail written as the pages write points (``12.50`` -> "12.5")."""
    hundredths = detail_hundredths(value)
    return str(value) if hundredths is None else format_points(hundredths)
