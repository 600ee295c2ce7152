"""Counter redemption and returns: one posting household -> store and the stock decrements
together; the redemption row is inserted first (its unique idempotency key is the gate for a
double tap or a retried request), then stock leaves by guarded ``UPDATE ... WHERE stock >= :n``
in product-id order (no oversell, no deadlock), then ``ledger.services.post()`` moves the points.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import household_verify_pin
from civicpoints.households.standing import disqualified_on
from civicpoints.ledger.amounts import MAX_HUNDREDTHS, format_points
from civicpoints.ledger.idempotency import Slot, idempotency_succeed
from civicpoints.ledger.idempotency import request_hash as hash_request
from civicpoints.ledger.models import Account, AccountKind, Posting, PostingKind
from civicpoints.ledger.services import (
    Leg,
    household_account,
    lock_household_accounts,
    post,
    reverse,
    system_account,
)
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor
from civicpoints.stores.models import (
    Ceremony,
    Delivery,
    DeliveryStatus,
    LimitPeriod,
    OfflineSale,
    OfflineStatus,
    OrderLine,
    OrderStatus,
    Product,
    Redemption,
    RedemptionLine,
    RedemptionMode,
    RedemptionSource,
    StockMove,
    StockMoveKind,
    Store,
)
from civicpoints.stores.selectors import local_midnight, period_start, serves
from civicpoints.stores.services.catalogue import require_counter, store_open_on
from civicpoints.stores.services.stock import _stock_in, _stock_out

EPOCH = dt.date(1970, 1, 1)

# Memos and reasons written into the ledger and the delivery stay Chinese whatever the clerk's
# language (the store's and the goods' names are Chinese data too).
STORED_TEXT = {
    "redeem": "%(store)s 兑换 %(items)s",
    "return": "退货 %(receipt)s",
    "returned": "已退货",
    "and": "、",
}


@dataclass(frozen=True)
class Item:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class OfflineMark:
    """A sale made at a counter while its network was down, as its device queued it: the PIN
    was checked on the device, the goods are gone; the sync books it (stores/services/offline.py)."""

    device_id: int
    seq: int
    offline_at: dt.datetime
    recorded_by_id: int | None
    items: list[list[int]]


def store_account(store: Store) -> Account:
    return system_account(
        scheme_id=store.scheme_id, kind=AccountKind.STORE, owner_ref=f"store:{store.pk}"
    )


def _check_limit(household: Household, product: Product, quantity: int, today: dt.date) -> None:
    start = period_start(product.limit_period, today)
    if start is None or not product.limit_quantity:
        return
    since = local_midnight(start)
    redeemed = (
        RedemptionLine.objects.filter(
            redemption__household=household,
            redemption__returned_at__isnull=True,
            redemption__created_at__gte=since,
            product=product,
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    ordered = (
        OrderLine.objects.filter(
            order__household=household,
            order__status=OrderStatus.HELD,
            order__created_at__gte=since,
            product=product,
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    if redeemed + ordered + quantity > product.limit_quantity:
        period = LimitPeriod(product.limit_period).label
        raise ApplicationError(
            ErrorCode.PURCHASE_LIMIT,
            _("%(name)s %(period)s每户限兑 %(limit)s%(unit)s，本期已兑 %(done)s")
            % {
                "name": product.name,
                "period": period,
                "limit": product.limit_quantity,
                "unit": product.unit,
                "done": redeemed + ordered,
            },
            detail={
                "product": product.pk,
                "limit": product.limit_quantity,
                "used": redeemed + ordered,
            },
        )


def _check_limits_locked(household: Household, basket: Basket, today: dt.date) -> None:
    """Per-household limits, checked under a lock on the household's account row so two
    counters cannot both sell the last allowed unit (only when a product has a limit)."""
    limited = [(p, q) for p, q in basket.lines if p.limit_quantity]
    if not limited:
        return
    lock_household_accounts([household.pk])
    for product, quantity in limited:
        _check_limit(household, product, quantity, today)


@dataclass(frozen=True)
class Basket:
    lines: list[tuple[Product, int]]

    @property
    def total(self) -> int:
        return sum(p.price * q for p, q in self.lines)


def _wanted(items: Sequence[Item]) -> dict[int, int]:
    """Units asked for, per product (a product named twice is added up)."""
    if not items:
        raise invalid(_("请至少选择一件商品"), field="items")
    wanted: dict[int, int] = defaultdict(int)
    for item in items:
        if not isinstance(item.quantity, int) or not 0 < item.quantity <= 10_000:
            raise invalid(_("数量必须是正整数"), field="items")
        wanted[item.product_id] += item.quantity
    return wanted


def _basket_of(products: dict[int, Product], wanted: dict[int, int]) -> Basket:
    """The basket from the store's products on sale that were asked for."""
    missing = [pk for pk in wanted if pk not in products]
    if missing:
        raise invalid(_("商品不存在或已下架"), field="items", products=missing)
    lines = [(products[pk], wanted[pk]) for pk in sorted(wanted)]
    basket = Basket(lines)
    if basket.total > MAX_HUNDREDTHS:
        raise invalid(_("积分超出允许范围"), field="items")
    return basket


def _basket(store: Store, items: Sequence[Item]) -> Basket:
    wanted = _wanted(items)
    products = {
        p.pk: p for p in Product.objects.filter(store=store, pk__in=list(wanted), active=True)
    }
    return _basket_of(products, wanted)


def _disqualified(until: dt.date) -> ApplicationError:
    return ApplicationError(
        ErrorCode.DISQUALIFIED,
        _("该户处于一票否决期内（至 %(end)s），不能兑换") % {"end": until},
        detail={"until": str(until)},
    )


def _check_household(store: Store, household: Household, today: dt.date) -> None:
    if not serves(store, household):
        raise ApplicationError(ErrorCode.NOT_SERVED)
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    ban = disqualified_on(household_id=household.pk, day=today)
    if ban is not None:
        raise _disqualified(ban.ends_on)


@dataclass(frozen=True)
class Terms:
    """How a basket is paid: points, cash and how the resident confirmed it."""

    points: int
    cash_fen: int
    mode: str
    reason: str


def _terms(
    basket: Basket,
    *,
    rate: Decimal,
    cash_fen: int,
    pin: str | None,
    assisted_reason: str,
    delivery_address: str | None,
    offline: bool = False,
) -> Terms:
    if not isinstance(cash_fen, int) or cash_fen < 0:
        raise invalid(_("现金金额无效"), field="cash")
    points = basket.total - cash_covers(rate, cash_fen)
    if points <= 0:
        raise invalid(_("现金不能超过或等于商品总积分"), field="cash")
    reason = (assisted_reason or "").strip()
    if offline:
        mode = RedemptionMode.OFFLINE
    elif pin:
        mode = RedemptionMode.PIN
    elif reason:
        mode = RedemptionMode.ASSISTED
    else:
        raise ApplicationError(ErrorCode.PIN_REQUIRED)
    if delivery_address is not None and not delivery_address.strip():
        raise invalid(_("请填写送货地址"), field="delivery_address")
    return Terms(points=points, cash_fen=cash_fen, mode=mode, reason=reason)


def cash_covers(scheme_rate: Decimal, cash_fen: int) -> int:
    """Hundredths of a point that ``cash_fen`` pays for at the scheme's rate."""
    return int((Decimal(cash_fen) / scheme_rate).to_integral_value(ROUND_HALF_UP))


def redemption_request_hash(
    *, store_id: int, household_id: int, items: Sequence[Item], cash_fen: int
) -> str:
    return hash_request(
        {
            "store": store_id,
            "household": household_id,
            "items": sorted((i.product_id, i.quantity) for i in items),
            "cash_fen": cash_fen,
        }
    )


def _replay_redemption(scheme_id: int, key: str, digest: str) -> Redemption | None:
    earlier = (
        Redemption.objects.filter(scheme_id=scheme_id, idempotency_key=key)
        .select_related("posting")
        .first()
    )
    if earlier is not None and earlier.posting and earlier.posting.request_hash != digest:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return earlier


def redeem(
    *,
    actor: Actor,
    store: Store,
    household: Household,
    items: Sequence[Item],
    pin: str | None = None,
    assisted_reason: str = "",
    cash_fen: int = 0,
    delivery_address: str | None = None,
    idempotency_key: str | None = None,
    source: str = RedemptionSource.COUNTER,
    ceremony: Ceremony | None = None,
    at: dt.datetime | None = None,
    slot: Slot | None = None,
    offline: OfflineMark | None = None,
) -> Redemption:
    """Hand goods over for points at the counter; a repeated key returns the first redemption.

    With a ``slot`` (a keyed API call) the response is stored in the same durable transaction
    as the redemption, and a wrong PIN's count together with its stored refusal. An
    ``offline`` sale (checked on its device) is booked now, its ``OfflineSale`` row with it."""
    require_counter(actor, store)
    now = at or timezone.now()
    today = timezone.localdate(now)
    if offline is not None:
        source = RedemptionSource.OFFLINE
    digest = redemption_request_hash(
        store_id=store.pk, household_id=household.pk, items=items, cash_fen=cash_fen
    )
    if idempotency_key:
        earlier = _replay_redemption(store.scheme_id, idempotency_key, digest)
        if earlier is not None:
            return earlier
    if source == RedemptionSource.COUNTER and not store_open_on(store, today):
        raise ApplicationError(ErrorCode.STORE_CLOSED)
    if offline is not None and not store_open_on(store, timezone.localdate(offline.offline_at)):
        raise ApplicationError(ErrorCode.STORE_CLOSED)
    _check_household(store, household, today)
    basket = _basket(store, items)
    terms = _terms(
        basket,
        rate=store.scheme.yuan_per_point,
        cash_fen=cash_fen,
        pin=pin,
        assisted_reason=assisted_reason,
        delivery_address=delivery_address,
        offline=offline is not None,
    )
    points, mode, reason = terms.points, terms.mode, terms.reason
    if mode == RedemptionMode.PIN:
        # Counted even if the redemption is refused later: outside the write transaction.
        household_verify_pin(household=household, pin=pin, slot=slot)
    try:
        with transaction.atomic(durable=True):
            _check_limits_locked(household, basket, today)
            if offline is not None:
                offline_allowance_check(store, household, points, offline.offline_at)
            redemption = _redeem_write(
                actor=actor,
                store=store,
                household=household,
                basket=basket,
                points=points,
                cash_fen=cash_fen,
                mode=mode,
                reason=reason,
                source=source,
                ceremony=ceremony,
                key=idempotency_key,
                digest=digest,
                now=now,
            )
            if delivery_address is not None:
                Delivery.objects.create(
                    scheme_id=store.scheme_id,
                    store=store,
                    redemption=redemption,
                    address=delivery_address.strip()[:200],
                    phone=household.phone,
                )
            if offline is not None:
                _offline_booked(actor, store, household, redemption, offline, now)
            idempotency_succeed(slot=slot, result=redemption)
            return redemption
    except IntegrityError:
        # A concurrent twin with the same key committed first: its redemption is the answer.
        earlier = (
            _replay_redemption(store.scheme_id, idempotency_key, digest)
            if idempotency_key
            else None
        )
        if earlier is None:
            raise
        return earlier


def offline_period(scheme: Scheme, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The allowance period ``at`` falls in: ``offline_period_days`` local days, counted from
    1970-01-01 (the snapshot tells the device its bounds)."""
    return offline_period_of(scheme.offline_period_days, at)


def offline_period_of(days: int, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    day = timezone.localdate(at)
    start = EPOCH + dt.timedelta(days=(day - EPOCH).days // days * days)
    return local_midnight(start), local_midnight(start + dt.timedelta(days=days))


def offline_allowance_check(
    store: Store, household: Household, points: int, at: dt.datetime
) -> None:
    """A household's offline spending in ``at``'s period, across every device, stays within
    the scheme's allowance: checked under the household's account lock, so two devices syncing
    at once are counted one after the other."""
    scheme = store.scheme
    lock_household_accounts([household.pk])
    start, end = offline_period(scheme, at)
    used = (
        OfflineSale.objects.filter(
            household=household, offline_at__gte=start, offline_at__lt=end
        ).aggregate(n=Sum("points"))["n"]
        or 0
    )
    if used + points > scheme.offline_allowance:
        raise ApplicationError(
            ErrorCode.OFFLINE_ALLOWANCE,
            _("超过该户本周期的离线兑换额度（%(allowance)s 分，已用 %(used)s 分）")
            % {
                "allowance": format_points(scheme.offline_allowance),
                "used": format_points(used),
            },
            detail={"allowance": scheme.offline_allowance, "used": used, "needed": points},
        )


def _offline_booked(
    actor: Actor,
    store: Store,
    household: Household,
    redemption: Redemption,
    offline: OfflineMark,
    now: dt.datetime,
) -> None:
    OfflineSale.objects.create(
        scheme_id=store.scheme_id,
        device_id=offline.device_id,
        seq=offline.seq,
        key=redemption.idempotency_key or "",
        store=store,
        household=household,
        recorded_by_id=offline.recorded_by_id,
        offline_at=offline.offline_at,
        points=redemption.points,
        cash_fen=redemption.cash_fen,
        items=offline.items,
        status=OfflineStatus.SYNCED,
        redemption=redemption,
        synced_at=now,
        synced_by_id=actor.user_id,
    )


def _redeem_write(
    *,
    actor: Actor,
    store: Store,
    household: Household,
    basket: Basket,
    points: int,
    cash_fen: int,
    mode: str,
    reason: str,
    source: str,
    ceremony: Ceremony | None,
    key: str | None,
    digest: str,
    now: dt.datetime,
    posting: Posting | None = None,
) -> Redemption:
    redemption = Redemption.objects.create(
        scheme_id=store.scheme_id,
        store=store,
        household=household,
        points=points,
        cash_fen=cash_fen,
        mode=mode,
        assisted_reason=reason[:200],
        source=source,
        ceremony=ceremony,
        idempotency_key=key,
        actor_id=actor.user_id,
        created_at=now,
    )
    RedemptionLine.objects.bulk_create(
        [
            RedemptionLine(
                scheme_id=redemption.scheme_id,
                redemption=redemption,
                product=p,
                quantity=q,
                unit_price=p.price,
            )
            for p, q in basket.lines
        ]
    )
    if posting is None:
        for product, quantity in basket.lines:
            _stock_out(product.pk, quantity, product.name)
        StockMove.objects.bulk_create(
            [
                StockMove(
                    scheme_id=store.scheme_id,
                    store=store,
                    product=p,
                    kind=StockMoveKind.REDEMPTION,
                    quantity=-q,
                    redemption=redemption,
                    actor_id=actor.user_id,
                    created_at=now,
                )
                for p, q in basket.lines
            ]
        )
        names = STORED_TEXT["and"].join(f"{p.name}×{q}" for p, q in basket.lines)
        posting = post(
            scheme_id=store.scheme_id,
            kind=PostingKind.REDEMPTION,
            legs=[
                Leg(household_account(household=household), -points),
                Leg(store_account(store), points),
            ],
            actor_id=actor.user_id,
            memo=STORED_TEXT["redeem"] % {"store": store.name, "items": names},
            idempotency_key=f"redeem:{redemption.pk}",
            request_hash=digest,
            ref=("redemption", redemption.pk),
        )
    Redemption.objects.filter(pk=redemption.pk).update(posting=posting)
    redemption.posting = posting
    audit_record(
        actor_id=actor.user_id,
        scheme_id=store.scheme_id,
        action=AuditAction.STORE_REDEEM,
        obj=redemption,
        detail={
            "household": household.pk,
            "points": format_points(points),
            "cash_fen": cash_fen,
            "mode": mode,
            "reason": reason,
        },
    )
    return redemption


def redemption_return(
    *,
    actor: Actor,
    redemption: Redemption,
    reason: str,
    at: dt.datetime | None = None,
    slot: Slot | None = None,
) -> Redemption:
    """Take the goods back within the store's window: the posting is reversed, stock restored."""
    store = redemption.store
    require_counter(actor, store)
    now = at or timezone.now()
    if not (reason or "").strip():
        raise invalid(_("请填写退货原因"), field="reason")
    if redemption.returned_at is not None:
        raise ApplicationError(ErrorCode.ALREADY_RETURNED)
    if now > redemption.created_at + dt.timedelta(days=store.return_days):
        raise ApplicationError(
            ErrorCode.RETURN_WINDOW_CLOSED,
            _("已超过退货期限（%(days)s 天）") % {"days": store.return_days},
        )
    if redemption.posting is None:
        raise ApplicationError(ErrorCode.INVALID_TRANSITION)
    with transaction.atomic(durable=True):
        marked = Redemption.objects.filter(pk=redemption.pk, returned_at__isnull=True).update(
            returned_at=now, return_reason=reason.strip()[:200]
        )
        if marked != 1:
            raise ApplicationError(ErrorCode.ALREADY_RETURNED)
        reversal = reverse(
            posting=redemption.posting,
            actor_id=actor.user_id,
            memo=STORED_TEXT["return"] % {"receipt": redemption.receipt_no},
        )
        Redemption.objects.filter(pk=redemption.pk).update(return_posting=reversal)
        lines = list(redemption.lines.select_related("product").order_by("product_id"))
        for line in lines:
            _stock_in(line.product_id, line.quantity)
        StockMove.objects.bulk_create(
            [
                StockMove(
                    scheme_id=redemption.scheme_id,
                    store=store,
                    product=line.product,
                    kind=StockMoveKind.RETURN,
                    quantity=line.quantity,
                    redemption=redemption,
                    reason=reason.strip()[:200],
                    actor_id=actor.user_id,
                    created_at=now,
                )
                for line in lines
            ]
        )
        Delivery.objects.filter(
            redemption=redemption, status__in=[DeliveryStatus.PENDING, DeliveryStatus.OUT]
        ).update(
            status=DeliveryStatus.FAILED,
            failure_reason=STORED_TEXT["returned"],
            closed_at=now,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=redemption.scheme_id,
            action=AuditAction.STORE_RETURN,
            obj=redemption,
            detail={"reason": reason.strip()},
        )
        redemption.refresh_from_db()
        idempotency_succeed(slot=slot, result=redemption)
    return redemption
