"""Residents' app orders (points held until pickup) and deliveries of large items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Schema
from ninja.files import UploadedFile
from pydantic import Field

from civicpoints.api.idempotency import IdempotencyKey, keyed_body, run_keyed
from civicpoints.api.schemas import ErrorOut, QueryId, Trimmed, points_out
from civicpoints.api.stores.common import (
    ERRORS,
    KEYED_ERRORS,
    ItemIn,
    LineOut,
    actor_of,
    items_of,
    resident_of,
)
from civicpoints.api.stores.counter import RedemptionOut, redemption_body
from civicpoints.errors import PermissionDenied, invalid
from civicpoints.households.models import mask_phone
from civicpoints.ledger.idempotency import Slot
from civicpoints.ledger.selectors import household_balance
from civicpoints.stores.models import (
    Delivery,
    DeliveryStatus,
    Order,
    OrderStatus,
    Redemption,
)
from civicpoints.stores.selectors import (
    deliveries_visible,
    delivery_for,
    order_for,
    order_for_household,
    orders_of_household,
    orders_visible,
    store_for_household,
)
from civicpoints.stores.services import (
    delivery_complete,
    delivery_dispatch,
    delivery_fail,
    order_cancel,
    order_pickup,
    order_place,
    require_counter,
)

store_router = Router(tags=["stores"])
router = Router(tags=["stores"])
deliveries_router = Router(tags=["stores"])
MAX_PROOF_BYTES = 5 * 1024 * 1024


# --- residents' app orders -------------------------------------------------------------------


class OrderIn(Schema):
    items: list[ItemIn] = Field(min_length=1, max_length=100)
    delivery_address: Trimmed | None = Field(
        default=None, min_length=1, max_length=200, description="大件送货上门的地址"
    )


class OrderOut(Schema):
    id: int
    order_no: str
    store: int
    store_name: str
    household: int
    household_name: str
    points: float = Field(description="冻结的积分")
    status: str
    delivery: bool
    address: str
    created_at: dt.datetime
    expires_at: dt.datetime
    closed_at: dt.datetime | None
    redemption: int | None
    lines: list[LineOut]
    available_after: float | None = Field(description="下单后可用积分（仅下单时返回）")


def order_out(order: Order, *, available_after: int | None = None) -> dict[str, Any]:
    return {
        "id": order.pk,
        "order_no": order.order_no,
        "store": order.store_id,
        "store_name": order.store.name,
        "household": order.household_id,
        "household_name": order.household.head_name,
        "points": points_out(order.points),
        "status": order.status,
        "delivery": order.delivery,
        "address": order.address,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "closed_at": order.closed_at,
        "redemption": order.redemption_id,
        "lines": [
            {
                "product": line.product_id,
                "name": line.product.name,
                "unit": line.product.unit,
                "quantity": line.quantity,
                "unit_price": points_out(line.unit_price),
                "points": points_out(line.quantity * line.unit_price),
            }
            for line in order.lines.select_related("product").order_by("product_id")
        ],
        "available_after": None if available_after is None else points_out(available_after),
    }


@store_router.post("/{store_id}/orders", response={201: OrderOut, **KEYED_ERRORS})
def place_order(
    request: HttpRequest, store_id: str, body: OrderIn, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    """A resident orders in the app (resident token): points are held until pickup."""
    household = resident_of(request)
    if household is None:
        raise PermissionDenied("order.place")
    store = store_for_household(household, store_id)

    def act(key: str, slot: Slot) -> Order:
        return order_place(
            household=household,
            store=store,
            items=items_of(body.items),
            delivery_address=body.delivery_address,
            idempotency_key=key,
            slot=slot,
        )

    def render(order: Order) -> tuple[int, dict[str, Any]]:
        available = household_balance(household_id=household.pk).available
        fresh = orders_of_household(household).get(pk=order.pk)
        return 201, keyed_body(OrderOut, order_out(fresh, available_after=available))

    return run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)


class OrderListIn(Schema):
    status: OrderStatus | None = None
    store: QueryId | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("", response={200: list[OrderOut], 422: ErrorOut})
def list_orders(request: HttpRequest, params: Query[OrderListIn]) -> list[dict[str, Any]]:
    """A resident's own orders; staff: the orders of the stores they work or oversee."""
    household = resident_of(request)
    rows = (
        orders_of_household(household)
        if household is not None
        else orders_visible(actor_of(request))
    )
    if params.status:
        rows = rows.filter(status=params.status)
    if params.store:
        rows = rows.filter(store_id=params.store)
    return [
        order_out(o) for o in rows.order_by("-pk")[params.offset : params.offset + params.limit]
    ]


@router.post("/{order_id}/pickup", response={201: RedemptionOut, **KEYED_ERRORS})
def pickup(
    request: HttpRequest, order_id: str, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    """The store hands the goods over (clerks): the held points are taken."""
    actor = actor_of(request)
    order = order_for(actor, order_id)
    require_counter(actor, order.store)

    def act(key: str, slot: Slot) -> Redemption:
        return order_pickup(actor=actor, order=order, slot=slot)

    def render(redemption: Redemption) -> tuple[int, dict[str, Any]]:
        return 201, redemption_body(actor, redemption, posting_id=redemption.posting_id)

    return run_keyed(request, payload={"order": order.pk}, action=act, render=render)


@router.post("/{order_id}/cancel", response={200: OrderOut, **ERRORS})
def cancel(request: HttpRequest, order_id: str) -> dict[str, Any]:
    """Cancelled by the resident (their own order) or the store: points released, goods back."""
    household = resident_of(request)
    if household is not None:
        order = order_for_household(household, order_id)
        order_cancel(order=order)
        return order_out(orders_of_household(household).get(pk=order.pk))
    actor = actor_of(request)
    order = order_for(actor, order_id)
    order_cancel(order=order, actor=actor)
    return order_out(orders_visible(actor).get(pk=order.pk))


# --- deliveries ------------------------------------------------------------------------------


class DeliveryOut(Schema):
    id: int
    store: int
    redemption: int
    receipt_no: str
    household: int
    household_name: str
    address: str
    phone: str = Field(description="手机号（隐去中间四位）")
    status: str
    courier: str
    failure_reason: str
    has_proof: bool
    created_at: dt.datetime
    out_at: dt.datetime | None
    closed_at: dt.datetime | None


def delivery_out(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "store": d.store_id,
        "redemption": d.redemption_id,
        "receipt_no": d.redemption.receipt_no,
        "household": d.redemption.household_id,
        "household_name": d.redemption.household.head_name,
        "address": d.address,
        "phone": mask_phone(d.phone),
        "status": d.status,
        "courier": d.courier,
        "failure_reason": d.failure_reason,
        "has_proof": bool(d.proof_path),
        "created_at": d.created_at,
        "out_at": d.out_at,
        "closed_at": d.closed_at,
    }


class DeliveryListIn(Schema):
    status: DeliveryStatus | None = None
    store: QueryId | None = None
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10**7)


@deliveries_router.get("", response={200: list[DeliveryOut], 422: ErrorOut})
def deliveries(request: HttpRequest, params: Query[DeliveryListIn]) -> list[dict[str, Any]]:
    rows = deliveries_visible(actor_of(request))
    if params.status:
        rows = rows.filter(status=params.status)
    if params.store:
        rows = rows.filter(store_id=params.store)
    page = rows.order_by("-pk")[params.offset : params.offset + params.limit]
    return [delivery_out(d) for d in page]


class DispatchIn(Schema):
    courier: Trimmed = Field(default="", max_length=40)


@deliveries_router.post("/{delivery_id}/dispatch", response={200: DeliveryOut, **ERRORS})
def dispatch(request: HttpRequest, delivery_id: str, body: DispatchIn) -> dict[str, Any]:
    actor = actor_of(request)
    delivery = delivery_dispatch(
        actor=actor, delivery=delivery_for(actor, delivery_id), courier=body.courier
    )
    return delivery_out(delivery_for(actor, delivery.pk))


@deliveries_router.post(
    "/{delivery_id}/delivered", response={200: DeliveryOut, **ERRORS, 413: ErrorOut}
)
def delivered(
    request: HttpRequest,
    delivery_id: str,
    photo: UploadedFile | None = File(None),  # noqa: B008
    signature: UploadedFile | None = File(None),  # noqa: B008
) -> dict[str, Any]:
    """Delivered: multipart with a ``photo`` of the goods at the door or a ``signature`` image."""
    actor = actor_of(request)
    delivery = delivery_for(actor, delivery_id)
    proof = photo or signature
    if proof is None or (photo is not None and signature is not None):
        raise invalid(_("请上传一张送达照片或农户签名图片"), field="photo")
    if proof.size is None or proof.size > MAX_PROOF_BYTES:
        raise invalid(_("照片太大（最大 5 MB）"), field="photo" if photo else "signature")
    done = delivery_complete(actor=actor, delivery=delivery, proof=proof.read())
    return delivery_out(delivery_for(actor, done.pk))


class FailIn(Schema):
    reason: Trimmed = Field(min_length=1, max_length=200)


@deliveries_router.post("/{delivery_id}/failed", response={200: DeliveryOut, **ERRORS})
def failed(request: HttpRequest, delivery_id: str, body: FailIn) -> dict[str, Any]:
    actor = actor_of(request)
    delivery = delivery_fail(
        actor=actor, delivery=delivery_for(actor, delivery_id), reason=body.reason
    )
    return delivery_out(delivery_for(actor, delivery.pk))
