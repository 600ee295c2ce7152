"""Stock in and out: the guarded decrement that never goes below zero, goods received, stocktakes."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.schemes.scope import Actor
from civicpoints.stores.models import (
    Product,
    StockMove,
    StockMoveKind,
)
from civicpoints.stores.services.catalogue import require_counter

STOCK_IN_AUDIT: dict[str, AuditAction] = {
    StockMoveKind.PURCHASE: AuditAction.STOCK_PURCHASE,
    StockMoveKind.DONATION: AuditAction.STOCK_DONATION,
}


def _stock_out(product_id: int, quantity: int, name: str) -> None:
    """Take units from stock if there are enough; the CHECK backs this guard."""
    taken = Product.objects.filter(pk=product_id, stock__gte=quantity).update(
        stock=F("stock") - quantity
    )
    if taken != 1:
        raise out_of_stock(product_id, quantity, name)


def out_of_stock(product_id: int, quantity: int, name: str) -> ApplicationError:
    """The refusal for a product without ``quantity`` units left, with what is left."""
    left = Product.objects.filter(pk=product_id).values_list("stock", flat=True).first() or 0
    return ApplicationError(
        ErrorCode.OUT_OF_STOCK,
        _("%(name)s 库存不足（剩 %(left)s）") % {"name": name, "left": left},
        detail={"product": product_id, "stock": left, "wanted": quantity},
    )


def _stock_in(product_id: int, quantity: int) -> None:
    Product.objects.filter(pk=product_id).update(stock=F("stock") + quantity)


def stock_receive(
    *,
    actor: Actor,
    product: Product,
    quantity: int,
    kind: str = StockMoveKind.PURCHASE,
    value_fen: int | None = None,
    donor: str = "",
    reason: str = "",
) -> StockMove:
    """Goods in: a purchase (cost in yuan) or a donation (valued in yuan, donor recorded)."""
    store = product.store
    require_counter(actor, store)
    if kind not in (StockMoveKind.PURCHASE, StockMoveKind.DONATION):
        raise invalid(_("入库类型无效"), field="kind")
    if not isinstance(quantity, int) or not 0 < quantity <= 1_000_000:
        raise invalid(_("数量必须是正整数"), field="quantity")
    if value_fen is not None and value_fen < 0:
        raise invalid(_("金额不能为负数"), field="value")
    if kind == StockMoveKind.DONATION and not donor.strip():
        raise invalid(_("捐赠入库请填写捐赠人"), field="donor")
    with transaction.atomic():
        _stock_in(product.pk, quantity)
        move = StockMove.objects.create(
            scheme_id=product.scheme_id,
            store=store,
            product=product,
            kind=kind,
            quantity=quantity,
            value_fen=value_fen,
            donor=donor.strip()[:100],
            reason=reason.strip()[:200],
            actor_id=actor.user_id,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=product.scheme_id,
            action=STOCK_IN_AUDIT[kind],
            obj=move,
            detail={"product": product.pk, "quantity": quantity},
        )
    return move


def stock_count(*, actor: Actor, product: Product, counted: int, reason: str) -> StockMove | None:
    """A stocktake: set the stock to what was counted, recording the difference and why."""
    require_counter(actor, product.store)
    if not isinstance(counted, int) or not 0 <= counted <= 1_000_000:
        raise invalid(_("盘点数量必须是0或正整数"), field="counted")
    if not (reason or "").strip():
        raise invalid(_("请填写盘点调整的原因"), field="reason")
    with transaction.atomic():
        current = (
            Product.objects.select_for_update().values_list("stock", flat=True).get(pk=product.pk)
        )
        difference = counted - current
        if difference == 0:
            return None
        Product.objects.filter(pk=product.pk).update(stock=counted)
        move = StockMove.objects.create(
            scheme_id=product.scheme_id,
            store_id=product.store_id,
            product=product,
            kind=StockMoveKind.STOCKTAKE,
            quantity=difference,
            reason=reason.strip()[:200],
            actor_id=actor.user_id,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=product.scheme_id,
            action=AuditAction.STOCK_STOCKTAKE,
            obj=move,
            detail={"product": product.pk, "from": current, "to": counted},
        )
    return move
