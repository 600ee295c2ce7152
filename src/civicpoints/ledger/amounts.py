"""Points as integers in hundredths: parsing from user input and formatting for display."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

# Far above any real balance (a county awards ~10^7 points), far below 2^63 hundredths.
MAX_POINTS = Decimal("1000000000")
MAX_HUNDREDTHS = int(MAX_POINTS * 100)


class BadPoints(ValueError):
    pass


def parse_points(value: object, *, allow_negative: bool = False, allow_zero: bool = False) -> int:
    """Hundredths from a JSON number or decimal text with at most two decimals."""
    if isinstance(value, bool) or value is None:
        raise BadPoints(_("积分必须是数字"))
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, (str, Decimal)):
        raise BadPoints(_("积分必须是数字"))
    if isinstance(value, str):
        text = value.strip()
        if not text or not text.isascii():
            raise BadPoints(_("积分必须是半角数字"))
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise BadPoints(_("积分必须是数字")) from None
    if not value.is_finite():
        raise BadPoints(_("积分必须是有限的数字"))
    if abs(value) > MAX_POINTS:
        raise BadPoints(_("积分超出允许范围"))
    if value != value.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise BadPoints(_("积分最多两位小数"))
    hundredths = int(value * 100)
    if hundredths == 0 and not allow_zero:
        raise BadPoints(_("积分不能为0"))
    if hundredths < 0 and not allow_negative:
        raise BadPoints(_("积分不能为负数"))
    return hundredths


def to_points(hundredths: int) -> Decimal:
    return (Decimal(hundredths) / 100).quantize(Decimal("0.01"))


def format_points(hundredths: int) -> str:
    """12.50 -> "12.5", 1200 -> "12": what a resident reads."""
    text = f"{to_points(hundredths):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
