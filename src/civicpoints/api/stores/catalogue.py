"""Stores and their shelves: the stores a caller may see, products, and stock moves
(purchase, donation, stocktake)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import Field

from civicpoints.api.schemas import Day, ErrorOut, Id, Points, Trimmed, points_out
from civicpoints.api.stores.common import (
    ERRORS,
    StaffRef,
    actor_of,
    named_staff,
    readable_store,
    resident_of,
    yuan_out,
)
from civicpoints.errors import NotFound, invalid
from civicpoints.ledger.amounts import parse_points
from civicpoints.schemes.models import Region, Role
from civicpoints.schemes.scope import Actor
from civicpoints.schemes.selectors import region_for, scheme_for_region, staff_holding
from civicpoints.stores.models import (
    DEFAULT_UNIT,
    LimitPeriod,
    Product,
    StockMove,
    StockMoveKind,
    Store,
    StoreKind,
    WindowKind,
)
from civicpoints.stores.selectors import (
    orderable_for,
    product_for,
    products_of,
    store_for,
    stores_for_household,
    stores_visible,
)
from civicpoints.stores.services import (
    STORE_MANAGERS,
    product_create,
    stock_count,
    stock_receive,
    store_create,
    store_open_on,
)

router = Router(tags=["stores"])


# --- stores and products ---------------------------------------------------------------------


class StoreOut(Schema):
    id: int
    name: str
    kind: str
    region: int
    region_name: str
    region_level: int = Field(description="所属区划级别：3 县，4 乡镇，5 村")
    served_townships: list[int] = Field(
        description="县级超市只服务的乡镇；空表示服务所属区划的全部农户"
    )
    address: str
    active: bool
    open_today: bool
    window_kind: str
    return_days: int
    order_hold_days: int


def store_out(store: Store) -> dict[str, Any]:
    return {
        "id": store.pk,
        "name": store.name,
        "kind": store.kind,
        "region": store.region_id,
        "region_name": store.region.name,
        "region_level": store.region.level,
        "served_townships": sorted(r.pk for r in store.served_townships.all()),
        "address": store.address,
        "active": store.active,
        "open_today": store_open_on(store, timezone.localdate()),
        "window_kind": store.window_kind,
        "return_days": store.return_days,
        "order_hold_days": store.order_hold_days,
    }


@router.get("", response={200: list[StoreOut]})
def stores(request: HttpRequest) -> list[dict[str, Any]]:
    """Staff: the stores they work or oversee. Residents: the stores serving their village."""
    household = resident_of(request)
    rows = (
        stores_for_household(household)
        if household is not None
        else stores_visible(actor_of(request)).order_by("pk")
    )
    return [store_out(s) for s in rows]


class StoreIn(Schema):
    name: Trimmed = Field(min_length=1, max_length=100)
    region: Id = Field(description="所属区划：县（县级超市）、乡镇或村")
    kind: StoreKind = StoreKind.LOVE
    address: Trimmed = Field(default="", max_length=200)
    return_days: int = Field(default=7, ge=0, le=365, strict=True)
    order_hold_days: int = Field(default=7, ge=1, le=90, strict=True)
    window_kind: WindowKind = WindowKind.ALWAYS
    window_weekdays: list[Annotated[int, Field(strict=True, ge=1, le=7)]] = Field(
        default_factory=list, max_length=7, description="每周固定日（1-7，星期一为1）"
    )
    window_dates: list[Day] = Field(default_factory=list, max_length=366, description="指定日期")
    served_townships: list[Id] = Field(
        default_factory=list, max_length=200, description="县级超市只服务这些乡镇（不填：全县）"
    )
    clerks: list[StaffRef] = Field(
        default_factory=list, max_length=100, description="店员：用户 id 或用户名"
    )


def _region_in_scope(actor: Actor, region_id: int, field: str) -> Region:
    try:
        return region_for(actor, region_id)
    except NotFound:
        raise invalid(_("请选择您管辖范围内的县、乡镇或村"), field=field) from None


@router.post("", response={201: StoreOut, 400: ErrorOut, **ERRORS})
def create_store(request: HttpRequest, body: StoreIn) -> Status:
    """Open a store for a village, a township or the county (county admins: county stores),
    optionally serving chosen townships only, with its clerks named by id or username.
    A bad field is a 422 naming it (``detail.field``); nothing is written."""
    actor = actor_of(request)
    region = _region_in_scope(actor, body.region, "region")
    townships = [
        _region_in_scope(actor, pk, "served_townships")
        for pk in dict.fromkeys(body.served_townships)
    ]
    scheme = scheme_for_region(actor, region, prefer=STORE_MANAGERS)
    clerk_ids = named_staff(
        body.clerks,
        staff_holding(actor, role=Role.STORE_CLERK, over_roles=STORE_MANAGERS, scheme_id=scheme.pk),
        field="clerks",
        message=_("不是您管辖范围内的超市店员：%(who)s"),
    )
    store = store_create(
        actor=actor,
        scheme_id=scheme.pk,
        region=region,
        name=body.name,
        kind=body.kind,
        address=body.address,
        return_days=body.return_days,
        order_hold_days=body.order_hold_days,
        window_kind=body.window_kind,
        window_weekdays=",".join(str(d) for d in body.window_weekdays),
        window_dates=[d.isoformat() for d in body.window_dates],
        clerk_ids=clerk_ids,
        served_townships=townships,
    )
    return Status(201, store_out(store_for(actor, store.pk)))


class LimitOut(Schema):
    quantity: int
    period: str


class ProductOut(Schema):
    id: int
    name: str
    unit: str
    price: float = Field(description="积分")
    stock: int
    low_stock: bool
    large_item: bool
    limit: LimitOut | None = Field(description="每户限兑：数量与周期（day/week/month/year）")
    active: bool
    why_not: str | None = Field(
        default=None,
        description="居民令牌：现在不能下单的原因（积分不够、本期已达限额、缺货、一票否决）；"
        "可以下单或员工查询时为 null",
    )


def product_out(p: Product) -> dict[str, Any]:
    limited = p.limit_quantity and p.limit_period != LimitPeriod.NONE
    return {
        "id": p.pk,
        "name": p.name,
        "unit": p.unit,
        "price": points_out(p.price),
        "stock": p.stock,
        "low_stock": p.low_stock,
        "large_item": p.large_item,
        "limit": {"quantity": p.limit_quantity, "period": p.limit_period} if limited else None,
        "active": p.active,
    }


@router.get("/{store_id}/products", response={200: list[ProductOut], 404: ErrorOut})
def products(request: HttpRequest, store_id: str) -> list[dict[str, Any]]:
    """The store's products; for a resident each says why it cannot be ordered now, if so."""
    rows = list(products_of(readable_store(request, store_id)))
    household = resident_of(request)
    if household is None:
        return [product_out(p) for p in rows]
    can = orderable_for(household, rows)
    return [{**product_out(p), "why_not": can.why_not(p) or None} for p in rows]


class ProductIn(Schema):
    name: Trimmed = Field(min_length=1, max_length=100)
    price: Points = Field(description="积分价格，最多两位小数")
    unit: Trimmed = Field(default=DEFAULT_UNIT, min_length=1, max_length=10)
    limit_quantity: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    limit_period: LimitPeriod = LimitPeriod.NONE
    low_stock_at: int = Field(default=5, ge=0, le=1_000_000, strict=True)
    large_item: bool = Field(default=False, strict=True)


@router.post("/{store_id}/products", response={201: ProductOut, **ERRORS})
def create_product(request: HttpRequest, store_id: str, body: ProductIn) -> Status:
    """A new product (store managers: the admins over the store's region)."""
    actor = actor_of(request)
    store = store_for(actor, store_id)
    if (body.limit_quantity is None) != (body.limit_period == LimitPeriod.NONE):
        raise invalid(_("每户限兑数量和限兑周期要一起填写"), field="limit_period")
    product = product_create(
        actor=actor,
        store=store,
        name=body.name,
        price=parse_points(body.price),
        unit=body.unit,
        limit_quantity=body.limit_quantity,
        limit_period=body.limit_period,
        low_stock_at=body.low_stock_at,
        large_item=body.large_item,
    )
    return Status(201, product_out(product))


class StockIn(Schema):
    kind: Literal["purchase", "donation", "stocktake"]
    quantity: int | None = Field(
        default=None, ge=1, le=1_000_000, strict=True, description="入库数量（采购、捐赠）"
    )
    value: Points | None = Field(
        default=None, description="金额（元），最多两位小数：采购成本或捐赠估值"
    )
    donor: Trimmed = Field(default="", max_length=100)
    counted: int | None = Field(
        default=None, ge=0, le=1_000_000, strict=True, description="盘点实数（盘点）"
    )
    reason: Trimmed = Field(default="", max_length=200)


class StockMoveOut(Schema):
    id: int
    kind: str
    quantity: int
    value: float | None = Field(description="元")
    donor: str
    reason: str
    created_at: dt.datetime


class StockOut(Schema):
    product: ProductOut
    move: StockMoveOut | None = Field(description="盘点数与库存相同时为 null")


def move_out(move: StockMove) -> dict[str, Any]:
    return {
        "id": move.pk,
        "kind": move.kind,
        "quantity": move.quantity,
        "value": yuan_out(move.value_fen),
        "donor": move.donor,
        "reason": move.reason,
        "created_at": move.created_at,
    }


@router.post(
    "/{store_id}/products/{product_id}/stock", response={200: StockOut, 201: StockOut, **ERRORS}
)
def stock(request: HttpRequest, store_id: str, product_id: str, body: StockIn) -> Status:
    """Goods in (purchase or donation, valued in yuan) or a stocktake (counted, with a reason)."""
    actor = actor_of(request)
    product = product_for(store_for(actor, store_id), product_id)
    move: StockMove | None
    if body.kind == "stocktake":
        if body.counted is None:
            raise invalid(_("请填写盘点实数"), field="counted")
        move = stock_count(actor=actor, product=product, counted=body.counted, reason=body.reason)
    else:
        if body.quantity is None:
            raise invalid(_("请填写入库数量"), field="quantity")
        move = stock_receive(
            actor=actor,
            product=product,
            quantity=body.quantity,
            kind=StockMoveKind(body.kind),
            value_fen=None if body.value is None else parse_points(body.value),
            donor=body.donor,
            reason=body.reason,
        )
    product.refresh_from_db()
    out = {"product": product_out(product), "move": move_out(move) if move else None}
    return Status(201 if move else 200, out)
