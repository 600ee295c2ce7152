"""The counter: redemptions confirmed by PIN or assisted (keyed), the day's redemptions,
returns (keyed) and ceremony batches (keyed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Header, Query, Router, Schema
from ninja.responses import NinjaJSONEncoder
from pydantic import Field

from civicpoints.api.idempotency import (
    IdempotencyKey,
    keyed_body,
    keyed_request_hash,
    keyed_response,
    keyed_scope,
    run_keyed,
    service_key,
)
from civicpoints.api.schemas import Day, ErrorOut, Id, Points, Trimmed, points_out
from civicpoints.api.security import BearerToken, CounterSession
from civicpoints.api.stores.common import (
    KEYED_ERRORS,
    ItemIn,
    LineOut,
    actor_of,
    day_bounds,
    items_of,
)
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.ledger.amounts import parse_points
from civicpoints.ledger.idempotency import Slot
from civicpoints.ledger.selectors import household_balance_after
from civicpoints.schemes.scope import Actor, require_role
from civicpoints.schemes.selectors import user_exists
from civicpoints.stores.models import (
    Ceremony,
    Redemption,
    Store,
)
from civicpoints.stores.selectors import (
    counter_household,
    counter_household_any,
    redemption_for,
    redemptions_visible,
    store_for,
)
from civicpoints.stores.services import (
    STORE_MANAGERS,
    CeremonyRow,
    CounterSale,
    Receipt,
    ceremony_redeem,
    counter_redeem_keyed,
    redeem,
    redemption_return,
    require_counter,
)
from civicpoints.stores.services.counter import Item
from civicpoints.stores.services.counter_keyed import OfflineSync
from civicpoints.stores.services.offline import device_for_token, offline_sync

router = Router(tags=["stores"])

CounterDeviceHeader = Annotated[
    str | None,
    Header(
        alias="X-Counter-Device",
        description="离线柜台设备标识（启用离线兑换时发给设备，只在同步离线兑换时使用）",
    ),
]


# --- counter redemptions -----------------------------------------------------------------------


class OfflineIn(Schema):
    """A sale the counter made while its network was down (docs/offline-counter.md); the
    device's ``X-Counter-Device`` header names the device."""

    seq: int = Field(ge=1, le=2**53, description="设备离线流水号（每台设备从1起递增）")
    offline_at: dt.datetime = Field(description="离线兑换时间（设备时钟）")
    recorded_by: int | None = Field(default=None, ge=1, description="离线时办理的工作人员")
    pin_seal: str = Field(
        default="",
        max_length=400,
        description="农户离线输入的密码，由设备用服务器公钥加密并绑定本单号（docs/offline-counter.md）；"
        "联网核对不符或缺少时记为冲突",
    )


class RedemptionIn(Schema):
    household: Id
    items: list[ItemIn] = Field(min_length=1, max_length=100)
    # Only checked against the stored hash; never stored, never part of the request hash.
    pin: str | None = Field(default=None, min_length=1, max_length=12)
    assisted_reason: Trimmed = Field(
        default="", max_length=200, description="没有密码时由工作人员代办，须填写原因"
    )
    cash: Points | None = Field(default=None, description="现金补差（元），最多两位小数")
    delivery_address: Trimmed | None = Field(
        default=None, min_length=1, max_length=200, description="大件送货上门的地址"
    )
    offline: OfflineIn | None = Field(
        default=None, description="断网时柜台已办理、联网后同步的兑换（须带设备标识）"
    )


class DeliveryRef(Schema):
    id: int
    status: str
    address: str


class RedemptionOut(Schema):
    id: int
    receipt_no: str
    store: int
    store_name: str
    household: int
    household_name: str
    points: float = Field(description="以积分支付的部分")
    cash: float = Field(description="现金补差（元）")
    balance_after: float | None = Field(description="该笔之后的积分余额（列表中为 null）")
    mode: str
    source: str
    created_at: dt.datetime
    returned_at: dt.datetime | None
    return_reason: str
    lines: list[LineOut]
    delivery: DeliveryRef | None


def redemption_out(r: Redemption, *, balance_after: int | None = None) -> dict[str, Any]:
    delivery = getattr(r, "delivery", None)  # a missing one-to-one raises AttributeError
    return {
        "id": r.pk,
        "receipt_no": r.receipt_no,
        "store": r.store_id,
        "store_name": r.store.name,
        "household": r.household_id,
        "household_name": r.household.head_name,
        "points": points_out(r.points),
        "cash": points_out(r.cash_fen),
        "balance_after": None if balance_after is None else points_out(balance_after),
        "mode": r.mode,
        "source": r.source,
        "created_at": r.created_at,
        "returned_at": r.returned_at,
        "return_reason": r.return_reason,
        "lines": [
            {
                "product": line.product_id,
                "name": line.product.name,
                "unit": line.product.unit,
                "quantity": line.quantity,
                "unit_price": points_out(line.unit_price),
                "points": points_out(line.amount),
            }
            for line in r.lines.select_related("product").order_by("product_id")
        ],
        "delivery": (
            {"id": delivery.pk, "status": delivery.status, "address": delivery.address}
            if delivery is not None
            else None
        ),
    }


_JSON = NinjaJSONEncoder()


def redemption_body(
    actor: Actor, redemption: Redemption, *, posting_id: int | None
) -> dict[str, Any]:
    """The redemption as it now stands, with the balance right after ``posting_id``."""
    fresh = redemption_for(actor, redemption.pk)
    after = (
        household_balance_after(posting_id=posting_id, household_id=fresh.household_id)
        if posting_id
        else None
    )
    return keyed_body(RedemptionOut, redemption_out(fresh, balance_after=after))


def receipt_body(receipt: Receipt) -> tuple[int, dict[str, Any]]:
    """A redemption just written, from memory, as ``redemption_out`` renders it from the
    database (``RedemptionOut``, already in JSON types: this is the counter's hot path);
    ``balance_after`` is filled in by the write (counter_keyed.py)."""
    body = {
        "id": receipt.id,
        "receipt_no": receipt.receipt_no,
        "store": receipt.store_id,
        "store_name": receipt.store_name,
        "household": receipt.household_id,
        "household_name": receipt.household_name,
        "points": points_out(receipt.points),
        "cash": points_out(receipt.cash_fen),
        "balance_after": None,
        "mode": receipt.mode,
        "source": receipt.source,
        "created_at": _JSON.default(receipt.created_at),
        "returned_at": None,
        "return_reason": "",
        "lines": [
            {
                "product": line.product_id,
                "name": line.name,
                "unit": line.unit,
                "quantity": line.quantity,
                "unit_price": points_out(line.unit_price),
                "points": points_out(line.quantity * line.unit_price),
            }
            for line in receipt.lines
        ],
        "delivery": (
            {
                "id": receipt.delivery[0],
                "status": receipt.delivery[1],
                "address": receipt.delivery[2],
            }
            if receipt.delivery is not None
            else None
        ),
    }
    return 201, body


@dataclass(frozen=True)
class _Keyed:
    """What both counter paths (online, offline sync) read off a keyed redemption request."""

    payload: dict[str, Any]  # what makes two requests the same: not the PIN
    items: list[Item]
    cash_fen: int
    scope: str
    key: str  # the Idempotency-Key as sent
    request_hash: str


def _keyed(request: HttpRequest, body: RedemptionIn) -> _Keyed:
    # The PIN proves who is paying; it is not part of what makes two requests the same.
    payload = body.model_dump(mode="json", exclude={"pin"})
    scope, caller = keyed_scope(request)
    return _Keyed(
        payload=payload,
        items=items_of(body.items),
        cash_fen=0 if body.cash is None else parse_points(body.cash),
        scope=scope,
        key=request.headers.get("Idempotency-Key", "").strip(),
        request_hash=keyed_request_hash(
            method=request.method or "", path=request.path, user_id=caller, payload=payload
        ),
    )


@router.post(
    "/{store_id}/redemptions",
    response={201: RedemptionOut, **KEYED_ERRORS},
    auth=[BearerToken(), CounterSession()],
)
def create_redemption(
    request: HttpRequest,
    store_id: str,
    body: RedemptionIn,
    idempotency_key: IdempotencyKey = None,
    counter_device: CounterDeviceHeader = None,
) -> JsonResponse:
    """Goods for points at the counter, confirmed by the resident's PIN or assisted; or a sale
    made offline, synced by its device (``offline`` and ``X-Counter-Device``)."""
    actor = actor_of(request)
    if body.offline is not None or counter_device is not None:
        return _sync_offline(request, actor, store_id, body, counter_device)
    keyed = _keyed(request, body)
    items, cash_fen = keyed.items, keyed.cash_fen
    # PostgreSQL: one read and one write (stores/services/counter_keyed.py).
    done = counter_redeem_keyed(
        actor=actor,
        store_id=store_id,
        sale=CounterSale(
            household_id=body.household,
            items=items,
            pin=body.pin,
            assisted_reason=body.assisted_reason,
            cash_fen=cash_fen,
            delivery_address=body.delivery_address,
        ),
        scope=keyed.scope,
        key=keyed.key,
        request_hash=keyed.request_hash,
        idempotency_key=service_key(keyed.scope, keyed.key),
        render=receipt_body,
    )
    if done is not None:
        return keyed_response(done)
    # The general way: SQLite, limited products, a store's first sale, a key in flight.
    store = store_for(actor, store_id)
    require_counter(actor, store)
    household = counter_household(store, body.household)

    def act(key: str, slot: Slot) -> Redemption:
        return redeem(
            actor=actor,
            store=store,
            household=household,
            items=items,
            pin=body.pin,
            assisted_reason=body.assisted_reason,
            cash_fen=cash_fen,
            delivery_address=body.delivery_address,
            idempotency_key=key,
            slot=slot,
        )

    def render(redemption: Redemption) -> tuple[int, dict[str, Any]]:
        return 201, redemption_body(actor, redemption, posting_id=redemption.posting_id)

    return run_keyed(request, payload=keyed.payload, action=act, render=render)


def _sync_offline(
    request: HttpRequest,
    actor: Actor,
    store_id: str,
    body: RedemptionIn,
    token: str | None,
) -> JsonResponse:
    """One queued offline sale: the device's key scope, the general way, a conflict kept."""
    if body.offline is None or not token:
        raise invalid(_("离线同步须同时提供 offline 和 X-Counter-Device"), field="offline")
    if body.pin is not None or body.assisted_reason or body.delivery_address is not None:
        raise invalid(_("离线兑换不带密码、代办原因或送货地址"), field="offline")
    offline = body.offline
    recorded_by = offline.recorded_by
    if recorded_by is not None and recorded_by != actor.user_id and not user_exists(recorded_by):
        raise invalid(_("办理人不存在"), field="offline.recorded_by")
    device_id, _dot, secret = token.partition(".")
    if not (device_id.isascii() and device_id.isdigit() and len(device_id) < 19 and secret):
        raise ApplicationError(ErrorCode.DEVICE_UNKNOWN)
    # The device's keys: any clerk's retry on it replays (api/idempotency.keyed_scope)
    request.counter_device = SimpleNamespace(pk=int(device_id))  # type: ignore[attr-defined]
    keyed = _keyed(request, body)
    items, cash_fen = keyed.items, keyed.cash_fen
    # PostgreSQL: the same read and write as an online sale (stores/services/counter_keyed.py)
    done = counter_redeem_keyed(
        actor=actor,
        store_id=store_id,
        sale=CounterSale(household_id=body.household, items=items, cash_fen=cash_fen),
        scope=keyed.scope,
        key=keyed.key,
        request_hash=keyed.request_hash,
        idempotency_key=service_key(keyed.scope, keyed.key),
        render=receipt_body,
        offline=OfflineSync(
            device_id=int(device_id),
            secret=secret,
            seq=offline.seq,
            offline_at=offline.offline_at,
            recorded_by_id=recorded_by,
            pin_seal=offline.pin_seal,
            sale_key=keyed.key,
        ),
    )
    if done is not None:
        return keyed_response(done)
    # The general way: SQLite, a conflict to record, a revoked device's sale to list
    store = store_for(actor, store_id)
    require_counter(actor, store)
    device = device_for_token(store, token)
    household = counter_household_any(store, body.household)

    def act(key: str, slot: Slot) -> Redemption:
        return offline_sync(
            actor=actor,
            store=store,
            device=device,
            household=household,
            items=items,
            cash_fen=cash_fen,
            seq=offline.seq,
            offline_at=offline.offline_at,
            recorded_by_id=offline.recorded_by,
            key=key,
            pin_seal=offline.pin_seal,
            sale_key=keyed.key,  # as the device made it: the PIN's seal names it
            slot=slot,
        )

    def render(redemption: Redemption) -> tuple[int, dict[str, Any]]:
        # From what is at hand (the store, the household): no scoped re-read of the row
        redemption.store, redemption.household = store, household
        posting_id = redemption.posting_id
        assert posting_id is not None  # a booked redemption
        after = household_balance_after(posting_id=posting_id, household_id=household.pk)
        return 201, keyed_body(RedemptionOut, redemption_out(redemption, balance_after=after))

    return run_keyed(request, payload=keyed.payload, action=act, render=render)


class RedemptionListIn(Schema):
    date: Day | None = Field(default=None, description="营业日（缺省：今天）")
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get(
    "/{store_id}/redemptions", response={200: list[RedemptionOut], 404: ErrorOut, 422: ErrorOut}
)
def list_redemptions(
    request: HttpRequest, store_id: str, params: Query[RedemptionListIn]
) -> list[dict[str, Any]]:
    actor = actor_of(request)
    store = store_for(actor, store_id)
    start, end = day_bounds(params.date)
    rows = (
        redemptions_visible(actor)
        .filter(store=store, created_at__gte=start, created_at__lt=end)
        .select_related("delivery")
        .order_by("-pk")[params.offset : params.offset + params.limit]
    )
    return [redemption_out(r) for r in rows]


def _store_redemption(actor: Actor, store: Store, redemption_id: str) -> Redemption:
    redemption = redemption_for(actor, redemption_id)
    if redemption.store_id != store.pk:
        raise NotFound("redemption")  # the same answer as for a missing one
    return redemption


@router.get("/{store_id}/redemptions/{redemption_id}", response={200: RedemptionOut, 404: ErrorOut})
def redemption_detail(request: HttpRequest, store_id: str, redemption_id: str) -> dict[str, Any]:
    actor = actor_of(request)
    redemption = _store_redemption(actor, store_for(actor, store_id), redemption_id)
    posting_id = redemption.return_posting_id or redemption.posting_id
    return redemption_body(actor, redemption, posting_id=posting_id)


class ReturnIn(Schema):
    reason: Trimmed = Field(min_length=1, max_length=200)


@router.post(
    "/{store_id}/redemptions/{redemption_id}/return",
    response={200: RedemptionOut, **KEYED_ERRORS},
)
def return_redemption(
    request: HttpRequest,
    store_id: str,
    redemption_id: str,
    body: ReturnIn,
    idempotency_key: IdempotencyKey = None,
) -> JsonResponse:
    """Goods back within the store's window: the posting is reversed and stock restored."""
    actor = actor_of(request)
    store = store_for(actor, store_id)
    redemption = _store_redemption(actor, store, redemption_id)
    require_counter(actor, store)

    def act(key: str, slot: Slot) -> Redemption:
        return redemption_return(actor=actor, redemption=redemption, reason=body.reason, slot=slot)

    def render(returned: Redemption) -> tuple[int, dict[str, Any]]:
        return 200, redemption_body(actor, returned, posting_id=returned.return_posting_id)

    return run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)


# --- ceremony batches ----------------------------------------------------------------------------


class CeremonyRowIn(Schema):
    household: Id
    items: list[ItemIn] = Field(min_length=1, max_length=100)


class CeremonyIn(Schema):
    title: Trimmed = Field(min_length=1, max_length=100)
    held_on: Day
    rows: list[CeremonyRowIn] = Field(min_length=1, max_length=2000)


class CeremonyRedemptionOut(Schema):
    id: int
    receipt_no: str
    household: int
    household_name: str
    points: float


class CeremonyOut(Schema):
    id: int
    title: str
    held_on: dt.date
    store: int
    households: int
    points: float
    redemptions: list[CeremonyRedemptionOut]


@router.post("/{store_id}/ceremonies", response={201: CeremonyOut, **KEYED_ERRORS})
def ceremony(
    request: HttpRequest, store_id: str, body: CeremonyIn, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    """Redeem for many households at one event: all of them, or none with the rows named
    (422 ceremony_invalid, ``detail.errors``: row, household, code, message)."""
    actor = actor_of(request)
    store = store_for(actor, store_id)
    require_role(
        actor,
        roles=STORE_MANAGERS,
        scheme_id=store.scheme_id,
        region_path=store.region.path,
        action="store.ceremony",
    )

    def act(key: str, slot: Slot) -> Ceremony:
        return ceremony_redeem(
            actor=actor,
            store=store,
            title=body.title,
            held_on=body.held_on,
            rows=[
                CeremonyRow(household_id=r.household, items=tuple(items_of(r.items)))
                for r in body.rows
            ],
            idempotency_key=key,
            slot=slot,
        )

    def render(made: Ceremony) -> tuple[int, dict[str, Any]]:
        redemptions = list(made.redemptions.select_related("household").order_by("pk"))
        return 201, keyed_body(
            CeremonyOut,
            {
                "id": made.pk,
                "title": made.title,
                "held_on": made.held_on,
                "store": store.pk,
                "households": len(redemptions),
                "points": points_out(sum(r.points for r in redemptions)),
                "redemptions": [
                    {
                        "id": r.pk,
                        "receipt_no": r.receipt_no,
                        "household": r.household_id,
                        "household_name": r.household.head_name,
                        "points": points_out(r.points),
                    }
                    for r in redemptions
                ],
            },
        )

    return run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)
