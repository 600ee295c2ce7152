"""The keyed counter redemption (``POST /stores/{id}/redemptions``) in two round trips.

On PostgreSQL one call of ``stores_counter_context()`` reads what every check needs (the store
and the clerk's right to its counter, the household and its PIN state, the products, the key's
stored response); the checks run here in ``redeem()``'s order, with its messages; one call of
``stores_counter_redeem()`` then writes the key's stored response, the guarded stock
decrements, the posting (the ledger's own ``ledger_post()``), the redemption, its lines, stock
moves, delivery and audit row: one statement, its own transaction (sql/counter_postgresql.sql).
The answer is built from memory. Never takes a lock itself; products with a per-household
limit (checked under ``lock_household_accounts``), a store's first redemption, a key whose
first attempt is still in flight, an old PIN hash and SQLite go the general way: ``redeem()``
(``None`` here), so every guarantee lives in one place.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied, invalid
from civicpoints.households import crypto
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import (
    household_check_pin,
    household_pin_refused,
    pin_locked_out,
)
from civicpoints.ledger.amounts import format_points, to_points
from civicpoints.ledger.idempotency import (
    Slot,
    idempotency_fail,
    idempotency_key_check,
    idempotency_slot,
)
from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState
from civicpoints.ledger.selectors import household_balance
from civicpoints.prepared import PreparedStatement
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, parse_id
from civicpoints.stores.models import (
    DeliveryStatus,
    DeviceStatus,
    Product,
    RedemptionMode,
    RedemptionSource,
    Store,
    WindowKind,
)
from civicpoints.stores.selectors import STORE_READERS
from civicpoints.stores.services.catalogue import store_open_on
from civicpoints.stores.services.counter import (
    STORED_TEXT,
    Item,
    Terms,
    _basket_of,
    _disqualified,
    _terms,
    _wanted,
    offline_period_of,
    redemption_request_hash,
)
from civicpoints.stores.services.offline import (
    CLOCK_SLACK,
    CONFLICTS,
    pin_seal_matches,
    secret_digest,
)
from civicpoints.stores.services.stock import out_of_stock


@dataclass(frozen=True)
class CounterSale:
    """What the clerk asks for at the counter."""

    household_id: int
    items: Sequence[Item]
    pin: str | None = None
    assisted_reason: str = ""
    cash_fen: int = 0
    delivery_address: str | None = None


@dataclass(frozen=True)
class ReceiptLine:
    product_id: int
    name: str
    unit: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class Receipt:
    """A redemption as written, in memory: what the answer is built from."""

    id: int
    receipt_no: str
    store_id: int
    store_name: str
    household_id: int
    household_name: str
    points: int
    cash_fen: int
    mode: str
    source: str
    created_at: dt.datetime
    lines: list[ReceiptLine]
    delivery: tuple[int, str, str] | None  # id, status, address


# The face's: the receipt as (status, body). The body has a top-level "balance_after" (None
# here), which the write fills in: the household's balance right after the posting, in points.
ReceiptRender = Callable[[Receipt], tuple[int, dict[str, Any]]]

# Both calls are prepared once per connection and bound on the server (civicpoints/prepared.py):
# no parameter is quoted in Python, no call is parsed and planned again.
_CONTEXT = PreparedStatement(
    "SELECT * FROM stores_counter_context(%s::bigint, %s::bigint, %s::bigint, %s::bigint[], "
    "%s::text, %s::text, %s::date, %s::boolean, %s::bigint, %s::bigint, %s::text)"
)
_REDEEM = PreparedStatement(
    "SELECT stores_counter_redeem(%s::text, %s::text, %s::text, %s::text, %s::jsonb, "
    "%s::timestamptz, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint, "
    "%s::bigint, %s::text, %s::text, %s::text, %s::bigint[], %s::integer[], %s::bigint[], "
    "%s::bigint, %s::bigint, %s::text, %s::text, %s::bigint, %s::text, %s::text, %s::bigint, "
    "%s::jsonb, %s::boolean, %s::text, %s::jsonb)"
)


@dataclass(frozen=True)
class _Context:
    scheme_id: int
    store_name: str
    store_active: bool
    window_kind: str
    window_weekdays: str
    window_dates: str
    region_path: str
    yuan_per_point: Decimal
    is_clerk: bool
    served_paths: list[str]
    store_account: int | None
    household_scheme: int | None
    head_name: str | None
    household_status: str | None
    phone: str | None
    pin_hash: str | None
    pin_failures: int | None
    pin_locked_until: dt.datetime | None
    village_id: int | None
    village_path: str | None
    household_account: int | None
    banned_until: dt.date | None
    product_ids: list[int] | None
    product_names: list[str] | None
    product_units: list[str] | None
    product_prices: list[int] | None
    product_limits: list[int | None] | None
    record_state: str | None
    record_hash: str | None
    record_status: int | None
    record_body: str | None
    redemption_id: int | None
    delivery_id: int | None
    device_store: int | None
    device_status: str | None
    device_secret: str | None
    device_enrolled: dt.datetime | None
    offline_status: str | None
    seq_taken: bool | None
    offline_allowance: int
    offline_period_days: int


@dataclass(frozen=True)
class OfflineSync:
    """An offline sale's sync (stores/services/offline.py): the device as it presents itself,
    and the sale as it queued it."""

    device_id: int
    secret: str
    seq: int
    offline_at: dt.datetime
    recorded_by_id: int | None
    pin_seal: str = ""
    sale_key: str = ""


def _read(
    actor: Actor,
    store_id: int,
    sale: CounterSale,
    scope: str,
    key: str,
    today: dt.date,
    offline: OfflineSync | None,
    sale_key: str,
) -> _Context | None:
    rows = _CONTEXT.fetchall(
        [
            store_id,
            actor.user_id,
            sale.household_id,
            sorted({i.product_id for i in sale.items}),
            scope,
            key,
            today,
            sale.delivery_address is not None,
            offline.device_id if offline else None,
            offline.seq if offline else None,
            sale_key if offline else None,
        ]
    )
    return _Context(*rows[0]) if rows else None


def _check_scope(actor: Actor, ctx: _Context | None, household_id: int) -> _Context:
    """The same answers as ``store_for``, ``require_counter`` and ``counter_household``."""
    if ctx is None:
        raise NotFound("store")
    clerk = ctx.is_clerk and actor.user_id is not None
    scheme_id, path = ctx.scheme_id, ctx.region_path
    if not (clerk or actor.covers(roles=STORE_READERS, scheme_id=scheme_id, region_path=path)):
        raise NotFound("store")
    if not (clerk or actor.covers(roles=ADMIN_ROLES, scheme_id=scheme_id, region_path=path)):
        raise PermissionDenied("store.counter")
    served = ctx.served_paths or [ctx.region_path]
    if (
        ctx.household_scheme != ctx.scheme_id
        or ctx.household_status == HouseholdStatus.CLOSED
        or ctx.village_path is None
        or not any(ctx.village_path.startswith(p) for p in served)
    ):
        raise NotFound("household")
    return ctx


def _store(ctx: _Context, store_id: int) -> Store:
    """An unsaved Store with what ``store_open_on`` reads."""
    return Store(
        pk=store_id,
        scheme_id=ctx.scheme_id,
        name=ctx.store_name,
        active=ctx.store_active,
        window_kind=ctx.window_kind,
        window_weekdays=ctx.window_weekdays,
        window_dates=json.loads(ctx.window_dates) if ctx.window_kind == WindowKind.DATES else [],
    )


def _products(ctx: _Context, store_id: int) -> dict[int, Product]:
    rows = zip(
        ctx.product_ids or [],
        ctx.product_names or [],
        ctx.product_units or [],
        ctx.product_prices or [],
        ctx.product_limits or [],
        strict=True,
    )
    return {
        pk: Product(
            pk=pk,
            scheme_id=ctx.scheme_id,
            store_id=store_id,
            name=name,
            unit=unit,
            price=price,
            limit_quantity=limit,
        )
        for pk, name, unit, price, limit in rows
    }


def _general_way(ctx: _Context, sale: CounterSale) -> bool:
    """What the one-call write leaves to ``redeem()``."""
    if ctx.store_account is None or ctx.household_account is None or ctx.redemption_id is None:
        return True  # a store's first redemption creates its account the general way
    if any(ctx.product_limits or []):
        return True  # per-household limits are counted under the household's lock
    pin_hash = ctx.pin_hash or ""
    return bool(sale.pin) and bool(pin_hash) and not pin_hash.startswith(crypto.PIN_HASHER + "$")


def _replay(ctx: _Context, request_hash: str, slot_of: Callable[[], Slot]) -> Slot | None:
    """The key's stored response, if it has one (None: in flight, the general way decides)."""
    if ctx.record_hash != request_hash:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    if ctx.record_state == IdempotencyState.IN_FLIGHT:
        return None
    slot = slot_of()
    body = json.loads(ctx.record_body) if ctx.record_body is not None else None
    slot.replay = (ctx.record_status or 200, body)
    return slot


def counter_redeem_keyed(
    *,
    actor: Actor,
    store_id: Any,
    sale: CounterSale,
    scope: str,
    key: str,
    request_hash: str,
    idempotency_key: str,
    render: ReceiptRender,
    offline: OfflineSync | None = None,
) -> Slot | None:
    """A keyed counter redemption in one read and one write; ``None``: take the general way
    (``redeem()`` under ``run_keyed``). Returns the slot with its answer: ``replay`` (a
    retry), or ``response`` (stored with the effect). Refusals are stored for the key's
    retries (a wrong PIN with its count) and raised; a missing key is refused (400) after
    the scope checks, as for every keyed call.

    An ``offline`` sale's sync takes the same two calls; whatever would make it a conflict
    (or a revoked device's listed sale) goes the general way, which records it
    (stores/services/offline.py)."""
    if connection.vendor != "postgresql":
        return None
    pk = parse_id(store_id)
    if pk is None:
        raise NotFound("store")
    now = timezone.now()
    today = timezone.localdate(now)
    read = _read(actor, pk, sale, scope, key, today, offline, idempotency_key)
    if offline is not None and read is not None and not _bookable(read):
        return None  # a household closed or not served: a conflict to record
    ctx = _check_scope(actor, read, sale.household_id)
    if not key:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_MISSING)
    idempotency_key_check(key)

    def slot_of() -> Slot:
        return idempotency_slot(scope=scope, key=key, request_hash=request_hash)

    if offline is not None and not _device_ok(ctx, pk, offline):
        return None  # a revoked device: its sale is listed, never booked
    if ctx.record_state is not None:
        return _replay(ctx, request_hash, slot_of)
    if _general_way(ctx, sale) or (offline is not None and ctx.offline_status is not None):
        return None
    slot = slot_of()
    products = _products(ctx, pk)
    wanted = _wanted(sale.items)
    try:
        if offline is not None:
            _check_offline(ctx, offline, now)
        terms = _check(ctx, pk, sale, products, wanted, today, now, offline)
        if offline is not None and not pin_seal_matches(
            ctx.pin_hash or "", offline.pin_seal, offline.sale_key
        ):
            return None  # a PIN the server cannot confirm: a conflict to record
    except ApplicationError as exc:
        if offline is not None and exc.code in CONFLICTS:
            return None
        idempotency_fail(slot=slot, error=exc)
        raise
    if terms.mode == RedemptionMode.PIN and not household_check_pin(
        household=Household(pk=sale.household_id, pin_hash=ctx.pin_hash or ""),
        pin=sale.pin,
        offline_tag=False,
    ):
        raise household_pin_refused(household_id=sale.household_id, now=now, slot=slot)
    receipt = _receipt(ctx, pk, sale, products, wanted, terms, now, offline)
    status, body = render(receipt)
    try:
        after = _write(ctx, actor, sale, terms, receipt, slot, body, idempotency_key, offline)
    except ApplicationError as exc:
        if offline is not None and exc.code in CONFLICTS:
            return None
        idempotency_fail(slot=slot, error=exc)
        raise
    if after is None:
        return _answered_meanwhile(scope, key, request_hash, slot)
    body["balance_after"] = float(to_points(after))
    slot.response = (status, body)
    return slot


def _bookable(ctx: _Context) -> bool:
    """The household is the store's to sell to (``_check_scope``'s household test)."""
    served = ctx.served_paths or [ctx.region_path]
    return (
        ctx.household_scheme == ctx.scheme_id
        and ctx.household_status != HouseholdStatus.CLOSED
        and ctx.village_path is not None
        and any(ctx.village_path.startswith(p) for p in served)
    )


def _device_ok(ctx: _Context, store_id: int, offline: OfflineSync) -> bool:
    """``device_for_token``'s answers: unknown, another store's or a wrong secret is refused;
    False for a revoked device (the general way lists its sale)."""
    if ctx.device_store != store_id or ctx.device_status not in (
        DeviceStatus.ACTIVE,
        DeviceStatus.REVOKED,
    ):
        raise ApplicationError(ErrorCode.DEVICE_UNKNOWN)
    if ctx.device_status == DeviceStatus.REVOKED:
        return False
    if not hmac.compare_digest(ctx.device_secret or "", secret_digest(offline.secret)):
        raise ApplicationError(ErrorCode.DEVICE_UNKNOWN)
    return True


def _check_offline(ctx: _Context, offline: OfflineSync, now: dt.datetime) -> None:
    """``offline_sync``'s refusals before the sale's own checks."""
    if offline.offline_at > now + CLOCK_SLACK:
        raise invalid(_("离线兑换时间晚于现在，请检查这台设备的时间"), field="offline_at")
    enrolled = ctx.device_enrolled
    if enrolled is not None and offline.offline_at < enrolled - CLOCK_SLACK:
        raise invalid(_("离线兑换时间早于设备启用时间，请检查这台设备的时间"), field="offline_at")
    if ctx.seq_taken:
        raise ApplicationError(ErrorCode.OFFLINE_SEQ_REUSED, detail={"seq": offline.seq})


def _check(
    ctx: _Context,
    store_id: int,
    sale: CounterSale,
    products: dict[int, Product],
    wanted: dict[int, int],
    today: dt.date,
    now: dt.datetime,
    offline: OfflineSync | None = None,
) -> Terms:
    """``redeem()``'s checks in its order, on what was read (an offline sale: the store's
    window on the day it was made)."""
    day = timezone.localdate(offline.offline_at) if offline is not None else today
    if not store_open_on(_store(ctx, store_id), day):
        raise ApplicationError(ErrorCode.STORE_CLOSED)
    if ctx.banned_until is not None:
        raise _disqualified(ctx.banned_until)
    basket = _basket_of(products, wanted)
    terms = _terms(
        basket,
        rate=ctx.yuan_per_point,
        cash_fen=sale.cash_fen,
        pin=sale.pin,
        assisted_reason=sale.assisted_reason,
        delivery_address=sale.delivery_address,
        offline=offline is not None,
    )
    if terms.mode == RedemptionMode.PIN:
        locked = pin_locked_out(ctx.pin_locked_until, now)
        if locked is not None:
            raise locked
    return terms


def _receipt(
    ctx: _Context,
    store_id: int,
    sale: CounterSale,
    products: dict[int, Product],
    wanted: dict[int, int],
    terms: Terms,
    now: dt.datetime,
    offline: OfflineSync | None = None,
) -> Receipt:
    assert ctx.redemption_id is not None
    address = (sale.delivery_address or "").strip()[:200]
    return Receipt(
        id=ctx.redemption_id,
        receipt_no=f"R{timezone.localtime(now):%Y%m%d}{ctx.redemption_id:06d}",
        store_id=store_id,
        store_name=ctx.store_name,
        household_id=sale.household_id,
        household_name=ctx.head_name or "",
        points=terms.points,
        cash_fen=terms.cash_fen,
        mode=terms.mode,
        source=RedemptionSource.OFFLINE if offline is not None else RedemptionSource.COUNTER,
        created_at=now,
        lines=[
            ReceiptLine(pk, products[pk].name, products[pk].unit, wanted[pk], products[pk].price)
            for pk in sorted(wanted)
        ],
        delivery=(
            (ctx.delivery_id, DeliveryStatus.PENDING.value, address)
            if sale.delivery_address is not None and ctx.delivery_id is not None
            else None
        ),
    )


def _write(
    ctx: _Context,
    actor: Actor,
    sale: CounterSale,
    terms: Terms,
    receipt: Receipt,
    slot: Slot,
    body: dict[str, Any],
    idempotency_key: str,
    offline: OfflineSync | None = None,
) -> int | None:
    """The one statement (a savepoint stands for its transaction inside a test's); the
    refusals it raises become the service's."""
    lines = receipt.lines
    if offline is not None:
        period = offline_period_of(ctx.offline_period_days, offline.offline_at)
    names = STORED_TEXT["and"].join(f"{line.name}×{line.quantity}" for line in lines)
    params: list[Any] = [
        slot.scope,
        slot.key,
        slot.request_hash,
        slot.owner,
        connection.ops.adapt_json_value(body, None),
        receipt.created_at,
        ctx.scheme_id,
        receipt.store_id,
        sale.household_id,
        actor.user_id,
        receipt.id,
        terms.points,
        terms.cash_fen,
        terms.mode,
        terms.reason[:200],
        idempotency_key,
        [line.product_id for line in lines],
        [line.quantity for line in lines],
        [line.unit_price for line in lines],
        ctx.household_account,
        ctx.store_account,
        (STORED_TEXT["redeem"] % {"store": ctx.store_name, "items": names})[:200],
        redemption_request_hash(
            store_id=receipt.store_id,
            household_id=sale.household_id,
            items=sale.items,
            cash_fen=terms.cash_fen,
        ),
        receipt.delivery[0] if receipt.delivery else None,
        receipt.delivery[2] if receipt.delivery else "",
        ctx.phone or "",
        ctx.village_id,
        connection.ops.adapt_json_value(
            {
                "household": sale.household_id,
                "points": format_points(terms.points),
                "cash_fen": terms.cash_fen,
                "mode": terms.mode,
                "reason": terms.reason,
            },
            None,
        ),
        terms.mode == RedemptionMode.PIN and bool(ctx.pin_failures or ctx.pin_locked_until),
        receipt.source,
        None
        if offline is None
        else connection.ops.adapt_json_value(
            {
                "device": offline.device_id,
                "seq": offline.seq,
                "recorded_by": offline.recorded_by_id,
                "offline_at": offline.offline_at.isoformat(),
                "items": [[i.product_id, i.quantity] for i in sale.items],
                "allowance": ctx.offline_allowance,
                "period_start": period[0].isoformat(),
                "period_end": period[1].isoformat(),
            },
            None,
        ),
    ]
    # Durable: never inside a caller's transaction (a test case's stands for none).
    block = transaction.atomic(durable=True) if connection.in_atomic_block else nullcontext()
    try:
        with block:
            ((after,),) = _REDEEM.fetchall(params)
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "CP003":
            return None  # the key was taken meanwhile: nothing was written
        refusal = _refusal(exc, sale, terms, receipt)
        if refusal is None:
            raise
        raise refusal from None
    return None if after is None else int(after)


def _refusal(
    exc: DatabaseError, sale: CounterSale, terms: Terms, receipt: Receipt
) -> ApplicationError | None:
    """The write's own refusals, in the words ``redeem()`` uses for them."""
    state = getattr(exc.__cause__, "sqlstate", None)
    if state == "CP002":
        product_id = int(str(exc.__cause__).split()[0])
        line = next(line for line in receipt.lines if line.product_id == product_id)
        return out_of_stock(product_id, line.quantity, line.name)
    if state == "CP004":
        return ApplicationError(ErrorCode.OFFLINE_ALLOWANCE)
    if state == "CP001":
        return ApplicationError(
            ErrorCode.INSUFFICIENT_POINTS,
            detail={
                "household": sale.household_id,
                "available": household_balance(household_id=sale.household_id).available / 100,
                "needed": terms.points / 100,
            },
        )
    return None


def _answered_meanwhile(scope: str, key: str, request_hash: str, slot: Slot) -> Slot:
    """A twin of this request took the key between the read and the write: its answer."""
    record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if record is None or record.state == IdempotencyState.IN_FLIGHT:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)
    if record.request_hash != request_hash:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    slot.replay = (record.response_status or 200, record.response_body)
    return slot
