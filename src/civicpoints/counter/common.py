"""What the counter pages share: error texts, their forms' keys, and input parsing.

Parsing turns form text into the values services take (hundredths, fen, items); it never
decides whether a sale is allowed: that is for ``stores.services`` and ``merchants.services``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.faces.forms import FormKeys, detail_points
from civicpoints.schemes.scope import parse_id
from civicpoints.stores.services import Item

MAX_QUANTITY = 999
MAX_CASH_FEN = 10_000_000  # 100,000 yuan: far above any counter sale
# The key put into a sale's form when the page renders: one key, one sale.
KEYS = FormKeys(prefix="counter-", expired=gettext_lazy("页面已过期，请重新打开本页再操作"))


def error_text(exc: ApplicationError) -> str:
    """The service's message, with the numbers a clerk needs to act on it."""
    detail = exc.detail or {}
    if exc.code == ErrorCode.INSUFFICIENT_POINTS and "available" in detail:
        return _("积分不足：可用 %(have)s 分，需要 %(need)s 分") % {
            "have": detail_points(detail["available"]),
            "need": detail_points(detail.get("needed", "")),
        }
    if exc.code == ErrorCode.PIN_INCORRECT and "attempts_left" in detail:
        left = detail["attempts_left"]
        if left:
            return _("密码不对，还可以再试 %(left)s 次") % {"left": left}
        return _("密码连续输错次数过多，已锁定15分钟，或请村委会重设密码")
    if exc.code == ErrorCode.IDEMPOTENCY_KEY_REUSED:
        return _("这张单子已经提交过另一笔，请核对后重新确认")
    if exc.code == ErrorCode.REFUND_EXCEEDS_PAYMENT and "refundable" in detail:
        return _("退款不能超过这笔收款剩余可退的 %(left)s 分") % {
            "left": detail_points(detail["refundable"])
        }
    return exc.message


def parse_quantities(data: dict[str, str]) -> dict[int, int]:
    """``qty_<product id>`` fields -> {product id: quantity}; zero lines are left out."""
    wanted: dict[int, int] = {}
    for name, raw in data.items():
        if not name.startswith("qty_"):
            continue
        pk = parse_id(name[4:])
        text = (raw or "").strip() or "0"
        if pk is None or not (text.isascii() and text.isdigit()) or int(text) > MAX_QUANTITY:
            raise invalid(_("数量必须是0到999的整数"), field="items")
        if int(text):
            wanted[pk] = int(text)
    return wanted


def items_of(quantities: dict[int, int]) -> list[Item]:
    return [Item(product_id=pk, quantity=q) for pk, q in sorted(quantities.items())]


def parse_yuan(raw: str | None) -> int:
    """Cash in yuan with at most two decimals -> fen; empty is 0."""
    text = (raw or "").strip()
    if not text:
        return 0
    try:
        value = Decimal(text) if text.isascii() else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise invalid(_("现金金额应为数字，例如 12.50"), field="cash")
    if value * 100 > MAX_CASH_FEN:
        raise invalid(_("现金金额太大"), field="cash")
    if value != value.quantize(Decimal("0.01")):
        raise invalid(_("现金金额最多两位小数"), field="cash")
    return int(value * 100)
