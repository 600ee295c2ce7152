"""Residents' app orders (points held until pickup, released on cancel or expiry) and home
delivery of large items.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household
from civicpoints.images import image_saved
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.idempotency import Slot, idempotency_succeed
from civicpoints.ledger.models import PostingKind
from civicpoints.ledger.services import (
    capture,
    hold,
    household_account,
    release,
)
from civicpoints.notifications import events as notify_events
from civicpoints.schemes.scope import Actor
from civicpoints.stores.models import (
    Delivery,
    DeliveryStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Redemption,
    RedemptionMode,
    RedemptionSource,
    StockMove,
    StockMoveKind,
    Store,
)
from civicpoints.stores.services.catalogue import require_counter
from civicpoints.stores.services.counter import (
    Basket,
    Item,
    _basket,
    _check_household,
    _check_limits_locked,
    _redeem_write,
    store_account,
)
from civicpoints.stores.services.stock import _stock_in, _stock_out

# Memos written into the ledger stay Chinese whatever the caller's language.
STORED_TEXT = {"order": "%(store)s 订单", "pickup": "%(store)s 订单取货 %(order)s"}


def order_place(
    *,
    household: Household,
    store: Store,
    items: Sequence[Item],
    delivery_address: str | None = None,
    idempotency_key: str | None = None,
    slot: Slot | None = None,
) -> Order:
    """A resident orders in the app: points held, goods set aside until pickup."""
    now = timezone.now()
    today = timezone.localdate(now)
    request = _order_request(household, store, items, delivery_address)
    if idempotency_key:
        earlier = _replay_order(store.scheme_id, idempotency_key, request)
        if earlier is not None:
            return earlier
    if not store.active:
        raise ApplicationError(ErrorCode.STORE_CLOSED, _("本超市暂停营业"))
    _check_household(store, household, today)
    basket = _basket(store, items)
    if delivery_address is not None and not delivery_address.strip():
        raise invalid(_("请填写送货地址"), field="delivery_address")
    expires_at = now + dt.timedelta(days=store.order_hold_days)
    try:
        with transaction.atomic(durable=True):
            # Under the household's lock, as at the counter: two orders (or an order and a
            # counter sale) at once cannot both take the last allowed unit.
            _check_limits_locked(household, basket, today)
            held = hold(
                account=household_account(household=household),
                amount=basket.total,
                memo=STORED_TEXT["order"] % {"store": store.name},
                expires_at=expires_at,
                idempotency_key=f"order:{idempotency_key}" if idempotency_key else None,
            )
            order = Order.objects.create(
                scheme_id=store.scheme_id,
                store=store,
                household=household,
                hold=held,
                points=basket.total,
                delivery=delivery_address is not None,
                address=(delivery_address or "").strip()[:200],
                idempotency_key=idempotency_key,
                created_at=now,
                expires_at=expires_at,
            )
            OrderLine.objects.bulk_create(
                [
                    OrderLine(
                        scheme_id=order.scheme_id,
                        order=order,
                        product=p,
                        quantity=q,
                        unit_price=p.price,
                    )
                    for p, q in basket.lines
                ]
            )
            for product, quantity in basket.lines:
                _stock_out(product.pk, quantity, product.name)
            _order_moves(order, basket.lines, StockMoveKind.ORDER, sign=-1, actor_id=None)
            audit_record(
                actor_id=None,
                scheme_id=store.scheme_id,
                action=AuditAction.ORDER_PLACE,
                obj=order,
                detail={"household": household.pk, "points": format_points(basket.total)},
            )
            notify_events.order_ready(order)  # texted after commit, once per order
            idempotency_succeed(slot=slot, result=order)
            return order
    except IntegrityError:
        earlier = (
            _replay_order(store.scheme_id, idempotency_key, request) if idempotency_key else None
        )
        if earlier is None:
            raise
        return earlier


def _order_request(
    household: Household, store: Store, items: Sequence[Item], delivery_address: str | None
) -> tuple[Any, ...]:
    """What an order asks for, to tell a retry from another request under the same key."""
    wanted: dict[int, int] = defaultdict(int)
    for item in items:
        wanted[item.product_id] += item.quantity
    address = (delivery_address or "").strip()[:200]
    return (household.pk, store.pk, sorted(wanted.items()), delivery_address is not None, address)


def _replay_order(scheme_id: int, key: str, request: tuple[Any, ...]) -> Order | None:
    earlier = Order.objects.filter(scheme_id=scheme_id, idempotency_key=key).first()
    if earlier is None:
        return None
    lines = sorted(earlier.lines.values_list("product_id", "quantity"))
    asked = (earlier.household_id, earlier.store_id, lines, earlier.delivery, earlier.address)
    if asked != request:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return earlier


def _order_moves(
    order: Order,
    lines: Sequence[tuple[Product, int]],
    kind: str,
    *,
    sign: int,
    actor_id: int | None,
) -> None:
    StockMove.objects.bulk_create(
        [
            StockMove(
                scheme_id=order.scheme_id,
                store_id=order.store_id,
                product=p,
                kind=kind,
                quantity=sign * q,
                order=order,
                actor_id=actor_id,
            )
            for p, q in lines
        ]
    )


def _close_order(order: Order, status: str) -> None:
    closed = Order.objects.filter(pk=order.pk, status=OrderStatus.HELD).update(
        status=status, closed_at=timezone.now()
    )
    if closed != 1:
        raise ApplicationError(ErrorCode.ORDER_NOT_OPEN)


def order_pickup(*, actor: Actor, order: Order, slot: Slot | None = None) -> Redemption:
    """The resident collects (or the store dispatches a delivery): the hold is captured."""
    store = order.store
    require_counter(actor, store)
    with transaction.atomic(durable=True):
        _close_order(order, OrderStatus.PICKED_UP)
        posting = capture(
            hold_obj=order.hold,
            to_account=store_account(store),
            kind=PostingKind.REDEMPTION,
            actor_id=actor.user_id,
            memo=STORED_TEXT["pickup"] % {"store": store.name, "order": order.order_no},
        )
        lines = []
        for line in order.lines.select_related("product"):
            # The receipt shows the price the order was placed (and the points held) at, not
            # today's (the product row is not saved).
            line.product.price = line.unit_price
            lines.append((line.product, line.quantity))
        redemption = _redeem_write(
            actor=actor,
            store=store,
            household=order.household,
            basket=Basket(lines),
            points=order.points,
            cash_fen=0,
            mode=RedemptionMode.APP,
            reason="",
            source=RedemptionSource.ORDER,
            ceremony=None,
            key=None,
            digest="",
            now=timezone.now(),
            posting=posting,
        )
        Order.objects.filter(pk=order.pk).update(redemption=redemption)
        if order.delivery:
            Delivery.objects.create(
                scheme_id=order.scheme_id,
                store=store,
                redemption=redemption,
                address=order.address,
                phone=order.household.phone,
            )
        idempotency_succeed(slot=slot, result=redemption)
    return redemption


def order_cancel(*, order: Order, actor: Actor | None = None, expired: bool = False) -> None:
    """Cancelled by the resident or the store, or expired: points released, goods back."""
    if actor is not None:
        require_counter(actor, order.store)
    with transaction.atomic():
        _close_order(order, OrderStatus.EXPIRED if expired else OrderStatus.CANCELLED)
        release(hold_obj=order.hold)
        lines = [(line.product, line.quantity) for line in order.lines.select_related("product")]
        for product, quantity in sorted(lines, key=lambda pq: pq[0].pk):
            _stock_in(product.pk, quantity)
        _order_moves(
            order,
            lines,
            StockMoveKind.ORDER_RELEASE,
            sign=1,
            actor_id=actor.user_id if actor else None,
        )
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=order.scheme_id,
            action=AuditAction.ORDER_EXPIRE if expired else AuditAction.ORDER_CANCEL,
            obj=order,
        )


def orders_expire(*, at: dt.datetime | None = None) -> int:
    """Release every held order past its pickup time (run by the scheduler); returns how many."""
    now = at or timezone.now()
    done = 0
    for order in Order.objects.filter(status=OrderStatus.HELD, expires_at__lte=now).select_related(
        "hold", "store"
    )[:500]:
        try:
            order_cancel(order=order, expired=True)
            done += 1
        except ApplicationError:
            continue  # picked up or cancelled meanwhile
    return done


# --- deliveries ------------------------------------------------------------------------------

_DELIVERY_NEXT = {
    DeliveryStatus.PENDING: {DeliveryStatus.OUT},
    DeliveryStatus.OUT: {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED},
    DeliveryStatus.FAILED: {DeliveryStatus.OUT},
}


def _delivery_move(delivery: Delivery, to: str, **changes: Any) -> None:
    allowed = [s for s, nexts in _DELIVERY_NEXT.items() if to in nexts]
    moved = Delivery.objects.filter(pk=delivery.pk, status__in=allowed).update(status=to, **changes)
    if moved != 1:
        raise ApplicationError(
            ErrorCode.INVALID_TRANSITION,
            _("送货单当前状态（%(status)s）不允许此操作")
            % {"status": DeliveryStatus(delivery.status).label},
        )


def delivery_dispatch(*, actor: Actor, delivery: Delivery, courier: str = "") -> Delivery:
    require_counter(actor, delivery.store)
    with transaction.atomic():
        _delivery_move(
            delivery, DeliveryStatus.OUT, courier=courier.strip()[:40], out_at=timezone.now()
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=delivery.scheme_id,
            action=AuditAction.DELIVERY_OUT,
            obj=delivery,
        )
        delivery.refresh_from_db(fields=["status", "out_at"])
        notify_events.delivery_out(delivery)  # texted after commit, once per dispatch
    delivery.refresh_from_db()
    return delivery


def delivery_complete(*, actor: Actor, delivery: Delivery, proof: bytes) -> Delivery:
    """Delivered, with a photo of the goods at the door or the resident's signature (an image)."""
    require_counter(actor, delivery.store)
    if not proof:
        raise invalid(_("请拍照或请农户签名后再确认送达"), field="proof")
    with (
        image_saved(proof, scheme_id=delivery.scheme_id, field="proof") as image,
        transaction.atomic(),
    ):
        _delivery_move(
            delivery,
            DeliveryStatus.DELIVERED,
            proof_path=image.path,
            proof_type=image.content_type,
            closed_at=timezone.now(),
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=delivery.scheme_id,
            action=AuditAction.DELIVERY_DELIVERED,
            obj=delivery,
            detail={"sha256": image.sha256},
        )
    delivery.refresh_from_db()
    return delivery


def delivery_fail(*, actor: Actor, delivery: Delivery, reason: str) -> Delivery:
    require_counter(actor, delivery.store)
    if not (reason or "").strip():
        raise invalid(_("请填写配送失败的原因"), field="reason")
    with transaction.atomic():
        _delivery_move(
            delivery,
            DeliveryStatus.FAILED,
            failure_reason=reason.strip()[:200],
            closed_at=timezone.now(),
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=delivery.scheme_id,
            action=AuditAction.DELIVERY_FAILED,
            obj=delivery,
            detail={"reason": reason.strip()},
        )
    delivery.refresh_from_db()
    return delivery
