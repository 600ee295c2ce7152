"""Every write for stores: products, stock moves, counter redemptions and returns, app orders
(holds), deliveries and ceremony batches. Each function is one transaction.

A redemption is one posting household -> store and the stock decrements, together: the
redemption row is inserted first (its unique idempotency key is the gate for a double tap or a
retried request), then stock leaves by guarded ``UPDATE ... WHERE stock >= :n`` in product-id
order (no oversell, no deadlock), then ``ledger.services.post()`` moves the points.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.services import audit_record
from civicpoints.awards.services.sanctions import disqualified_on
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import household_verify_pin
from civicpoints.images import image_saved
from civicpoints.ledger.amounts import MAX_HUNDREDTHS, format_points
from civicpoints.ledger.idempotency import request_hash as hash_request
from civicpoints.ledger.models import Account, AccountKind, Posting, PostingKind
from civicpoints.ledger.services import (
    Leg,
    capture,
    hold,
    household_account,
    post,
    release,
    reverse,
    system_account,
)
from civicpoints.schemes.models import Region
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role
from civicpoints.stores.models import (
    Ceremony,
    Delivery,
    DeliveryStatus,
    LimitPeriod,
    Order,
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
    StoreKind,
    WindowKind,
)

STORE_MANAGERS = ADMIN_ROLES


# --- stores and products -------------------------------------------------------------------


def _require_manager(actor: Actor, store: Store, action: str) -> None:
    require_role(
        actor,
        roles=STORE_MANAGERS,
        scheme_id=store.scheme_id,
        region_path=store.region.path,
        action=action,
    )


def _is_clerk(actor: Actor, store: Store) -> bool:
    return actor.user_id is not None and store.clerks.filter(pk=actor.user_id).exists()


def require_counter(actor: Actor, store: Store) -> None:
    """Who may work the counter: the store's clerks and the admins over its region."""
    if _is_clerk(actor, store):
        return
    _require_manager(actor, store, "store.counter")


def store_create(
    *,
    actor: Actor,
    scheme_id: int,
    region: Region,
    name: str,
    kind: str = StoreKind.LOVE,
    address: str = "",
    return_days: int = 7,
    window_kind: str = WindowKind.ALWAYS,
    window_weekdays: str = "",
    window_dates: Sequence[str] = (),
    clerk_ids: Sequence[int] = (),
) -> Store:
    require_role(
        actor,
        roles=STORE_MANAGERS,
        scheme_id=scheme_id,
        region_path=region.path,
        action="store.create",
    )
    name = (name or "").strip()
    if not name:
        raise invalid(_("请填写超市名称"), field="name")
    weekdays = _clean_weekdays(window_weekdays) if window_kind == WindowKind.WEEKDAYS else ""
    dates = _clean_dates(window_dates) if window_kind == WindowKind.DATES else []
    if window_kind not in WindowKind.values:
        raise invalid(_("兑换时间设置无效"), field="window_kind")
    with transaction.atomic():
        store = Store.objects.create(
            scheme_id=scheme_id,
            region=region,
            name=name[:100],
            kind=kind,
            address=address[:200],
            return_days=return_days,
            window_kind=window_kind,
            window_weekdays=weekdays,
            window_dates=dates,
        )
        if clerk_ids:
            store.clerks.set(clerk_ids)
        system_account(scheme_id=scheme_id, kind=AccountKind.STORE, owner_ref=f"store:{store.pk}")
        audit_record(actor_id=actor.user_id, scheme_id=scheme_id, action="store.create", obj=store)
    return store


def _clean_weekdays(raw: str) -> str:
    days = sorted({p.strip() for p in (raw or "").split(",") if p.strip()})
    if not days or any(d not in "1234567" or len(d) != 1 for d in days):
        raise invalid(_("开放的星期应为 1-7，用逗号分开"), field="window_weekdays")
    return ",".join(days)


def _clean_dates(raw: Sequence[str]) -> list[str]:
    out = []
    for value in raw:
        try:
            out.append(dt.date.fromisoformat(str(value).strip()).isoformat())
        except ValueError:
            raise invalid(_("日期格式应为 2026-12-01"), field="window_dates") from None
    if not out:
        raise invalid(_("请至少填写一个兑换日期"), field="window_dates")
    return sorted(set(out))


def store_open_on(store: Store, day: dt.date) -> bool:
    if not store.active:
        return False
    if store.window_kind == WindowKind.WEEKDAYS:
        return str(day.isoweekday()) in store.window_weekdays.split(",")
    if store.window_kind == WindowKind.DATES:
        return day.isoformat() in (store.window_dates or [])
    return True


def product_create(
    *,
    actor: Actor,
    store: Store,
    name: str,
    price: int,
    unit: str = "件",
    limit_quantity: int | None = None,
    limit_period: str = LimitPeriod.NONE,
    low_stock_at: int = 5,
    large_item: bool = False,
    photo: bytes | None = None,
) -> Product:
    _require_manager(actor, store, "store.product")
    name = (name or "").strip()
    if not name:
        raise invalid(_("请填写商品名称"), field="name")
    if not isinstance(price, int) or not 0 < price <= MAX_HUNDREDTHS:
        raise invalid(_("积分价格必须大于0"), field="price")
    if limit_period not in LimitPeriod.values:
        raise invalid(_("限兑周期无效"), field="limit_period")
    if limit_quantity is not None and limit_quantity <= 0:
        raise invalid(_("限兑数量必须大于0"), field="limit_quantity")
    fields: dict[str, Any] = {
        "scheme_id": store.scheme_id,
        "store": store,
        "name": name[:100],
        "unit": (unit or "件")[:10],
        "price": price,
        "limit_quantity": limit_quantity if limit_period != LimitPeriod.NONE else None,
        "limit_period": limit_period if limit_quantity else LimitPeriod.NONE,
        "low_stock_at": low_stock_at,
        "large_item": large_item,
    }
    if photo:
        with image_saved(photo, scheme_id=store.scheme_id) as image, transaction.atomic():
            product = Product.objects.create(photo=image.path, **fields)
            audit_record(
                actor_id=actor.user_id,
                scheme_id=store.scheme_id,
                action="product.create",
                obj=product,
            )
            return product
    with transaction.atomic():
        product = Product.objects.create(**fields)
        audit_record(
            actor_id=actor.user_id, scheme_id=store.scheme_id, action="product.create", obj=product
        )
    return product


def product_update(
    *, actor: Actor, product: Product, price: int | None = None, active: bool | None = None
) -> Product:
    _require_manager(actor, product.store, "store.product")
    changes: dict[str, Any] = {}
    if price is not None:
        if not isinstance(price, int) or not 0 < price <= MAX_HUNDREDTHS:
            raise invalid(_("积分价格必须大于0"), field="price")
        changes["price"] = price
    if active is not None:
        changes["active"] = bool(active)
    with transaction.atomic():
        Product.objects.filter(pk=product.pk).update(**changes)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=product.scheme_id,
            action="product.update",
            obj=product,
            detail={k: (v if k != "price" else v / 100) for k, v in changes.items()},
        )
    product.refresh_from_db()
    return product


# --- stock -----------------------------------------------------------------------------------


def _stock_out(product_id: int, quantity: int, name: str) -> None:
    """Take units from stock if there are enough; the CHECK backs this guard."""
    taken = Product.objects.filter(pk=product_id, stock__gte=quantity).update(
        stock=F("stock") - quantity
    )
    if taken != 1:
        left = Product.objects.filter(pk=product_id).values_list("stock", flat=True).first() or 0
        raise ApplicationError(
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
            action=f"stock.{kind}",
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
            action="stock.stocktake",
            obj=move,
            detail={"product": product.pk, "from": current, "to": counted},
        )
    return move


# --- counter redemption ----------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    product_id: int
    quantity: int


def store_account(store: Store) -> Account:
    return system_account(
        scheme_id=store.scheme_id, kind=AccountKind.STORE, owner_ref=f"store:{store.pk}"
    )


def _period_start(period: str, today: dt.date) -> dt.date | None:
    if period == LimitPeriod.DAY:
        return today
    if period == LimitPeriod.WEEK:
        return today - dt.timedelta(days=today.weekday())
    if period == LimitPeriod.MONTH:
        return today.replace(day=1)
    if period == LimitPeriod.YEAR:
        return today.replace(month=1, day=1)
    return None


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _check_limit(household: Household, product: Product, quantity: int, today: dt.date) -> None:
    start = _period_start(product.limit_period, today)
    if start is None or not product.limit_quantity:
        return
    since = _local_midnight(start)
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
    list(Account.objects.select_for_update().filter(household=household).values_list("pk"))
    for product, quantity in limited:
        _check_limit(household, product, quantity, today)


@dataclass(frozen=True)
class Basket:
    lines: list[tuple[Product, int]]

    @property
    def total(self) -> int:
        return sum(p.price * q for p, q in self.lines)


def _basket(store: Store, items: Sequence[Item]) -> Basket:
    if not items:
        raise invalid(_("请至少选择一件商品"), field="items")
    wanted: dict[int, int] = defaultdict(int)
    for item in items:
        if not isinstance(item.quantity, int) or not 0 < item.quantity <= 10_000:
            raise invalid(_("数量必须是正整数"), field="items")
        wanted[item.product_id] += item.quantity
    products = {
        p.pk: p for p in Product.objects.filter(store=store, pk__in=list(wanted), active=True)
    }
    missing = [pk for pk in wanted if pk not in products]
    if missing:
        raise invalid(_("商品不存在或已下架"), field="items", products=missing)
    lines = [(products[pk], wanted[pk]) for pk in sorted(wanted)]
    basket = Basket(lines)
    if basket.total > MAX_HUNDREDTHS:
        raise invalid(_("积分超出允许范围"), field="items")
    return basket


def _check_household(store: Store, household: Household, today: dt.date) -> None:
    if household.scheme_id != store.scheme_id or not household.village.path.startswith(
        store.region.path
    ):
        raise ApplicationError(ErrorCode.NOT_SERVED)
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    ban = disqualified_on(household_id=household.pk, day=today)
    if ban is not None:
        raise ApplicationError(
            ErrorCode.DISQUALIFIED,
            _("该户处于一票否决期内（至 %(end)s），不能兑换") % {"end": ban.ends_on},
            detail={"until": str(ban.ends_on)},
        )


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
) -> Redemption:
    """Hand goods over for points at the counter; a repeated key returns the first redemption."""
    require_counter(actor, store)
    now = at or timezone.now()
    today = timezone.localdate(now)
    digest = redemption_request_hash(
        store_id=store.pk, household_id=household.pk, items=items, cash_fen=cash_fen
    )
    if idempotency_key:
        earlier = _replay_redemption(store.scheme_id, idempotency_key, digest)
        if earlier is not None:
            return earlier
    if source == RedemptionSource.COUNTER and not store_open_on(store, today):
        raise ApplicationError(ErrorCode.STORE_CLOSED)
    _check_household(store, household, today)
    basket = _basket(store, items)
    if not isinstance(cash_fen, int) or cash_fen < 0:
        raise invalid(_("现金金额无效"), field="cash")
    rate = store.scheme.yuan_per_point
    points = basket.total - cash_covers(rate, cash_fen)
    if points <= 0:
        raise invalid(_("现金不能超过或等于商品总积分"), field="cash")
    reason = (assisted_reason or "").strip()
    if pin:
        mode = RedemptionMode.PIN
    elif reason:
        mode = RedemptionMode.ASSISTED
    else:
        raise ApplicationError(ErrorCode.PIN_REQUIRED)
    if delivery_address is not None and not delivery_address.strip():
        raise invalid(_("请填写送货地址"), field="delivery_address")
    if mode == RedemptionMode.PIN:
        # Counted even if the redemption is refused later: outside the write transaction.
        household_verify_pin(household=household, pin=pin)
    try:
        with transaction.atomic():
            _check_limits_locked(household, basket, today)
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
            RedemptionLine(redemption=redemption, product=p, quantity=q, unit_price=p.price)
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
        names = "、".join(f"{p.name}×{q}" for p, q in basket.lines)
        posting = post(
            scheme_id=store.scheme_id,
            kind=PostingKind.REDEMPTION,
            legs=[
                Leg(household_account(household=household), -points),
                Leg(store_account(store), points),
            ],
            actor_id=actor.user_id,
            memo=f"{store.name} 兑换 {names}",
            idempotency_key=f"redeem:{redemption.pk}",
            request_hash=digest,
            ref=("redemption", redemption.pk),
        )
    Redemption.objects.filter(pk=redemption.pk).update(posting=posting)
    redemption.posting = posting
    audit_record(
        actor_id=actor.user_id,
        scheme_id=store.scheme_id,
        action="store.redeem",
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
    *, actor: Actor, redemption: Redemption, reason: str, at: dt.datetime | None = None
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
    with transaction.atomic():
        marked = Redemption.objects.filter(pk=redemption.pk, returned_at__isnull=True).update(
            returned_at=now, return_reason=reason.strip()[:200]
        )
        if marked != 1:
            raise ApplicationError(ErrorCode.ALREADY_RETURNED)
        reversal = reverse(
            posting=redemption.posting, actor_id=actor.user_id, memo=f"退货 {redemption.receipt_no}"
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
            failure_reason="已退货",  # stored text stays Chinese
            closed_at=now,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=redemption.scheme_id,
            action="store.return",
            obj=redemption,
            detail={"reason": reason.strip()},
        )
    redemption.refresh_from_db()
    return redemption


# --- app orders (holds) ----------------------------------------------------------------------


def order_place(
    *,
    household: Household,
    store: Store,
    items: Sequence[Item],
    delivery_address: str | None = None,
    idempotency_key: str | None = None,
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
        with transaction.atomic():
            # Under the household's lock, as at the counter: two orders (or an order and a
            # counter sale) at once cannot both take the last allowed unit.
            _check_limits_locked(household, basket, today)
            held = hold(
                account=household_account(household=household),
                amount=basket.total,
                memo=f"{store.name} 订单",
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
                    OrderLine(order=order, product=p, quantity=q, unit_price=p.price)
                    for p, q in basket.lines
                ]
            )
            for product, quantity in basket.lines:
                _stock_out(product.pk, quantity, product.name)
            _order_moves(order, basket.lines, StockMoveKind.ORDER, sign=-1, actor_id=None)
            audit_record(
                actor_id=None,
                scheme_id=store.scheme_id,
                action="order.place",
                obj=order,
                detail={"household": household.pk, "points": format_points(basket.total)},
            )
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


def order_pickup(*, actor: Actor, order: Order) -> Redemption:
    """The resident collects (or the store dispatches a delivery): the hold is captured."""
    store = order.store
    require_counter(actor, store)
    with transaction.atomic():
        _close_order(order, OrderStatus.PICKED_UP)
        posting = capture(
            hold_obj=order.hold,
            to_account=store_account(store),
            kind=PostingKind.REDEMPTION,
            actor_id=actor.user_id,
            memo=f"{store.name} 订单取货 {order.order_no}",
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
            action="order.expire" if expired else "order.cancel",
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
            action="delivery.out",
            obj=delivery,
        )
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
            action="delivery.delivered",
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
            action="delivery.failed",
            obj=delivery,
            detail={"reason": reason.strip()},
        )
    delivery.refresh_from_db()
    return delivery


# --- ceremony batches ------------------------------------------------------------------------


@dataclass(frozen=True)
class CeremonyRow:
    household_id: int
    items: tuple[Item, ...]


def ceremony_redeem(
    *,
    actor: Actor,
    store: Store,
    title: str,
    held_on: dt.date,
    rows: Sequence[CeremonyRow],
    idempotency_key: str | None = None,
) -> Ceremony:
    """Redeem for many households at one event: all of them, or none and the failures named."""
    _require_manager(actor, store, "store.ceremony")
    if not store.active:
        raise ApplicationError(ErrorCode.STORE_CLOSED, _("本超市暂停营业"))
    title = (title or "").strip()
    if not title:
        raise invalid(_("请填写表彰活动名称"), field="title")
    if not rows:
        raise invalid(_("请至少添加一户"), field="rows")
    if idempotency_key:
        earlier = _replay_ceremony(store, idempotency_key, title, held_on, rows)
        if earlier is not None:
            return earlier
    households = {
        h.pk: h
        for h in Household.objects.select_related("village", "account").filter(
            scheme_id=store.scheme_id, pk__in=[r.household_id for r in rows]
        )
    }
    today = timezone.localdate()
    problems: list[dict[str, Any]] = []
    plans: list[tuple[int, Household, Basket]] = []
    stock_needed: dict[int, int] = defaultdict(int)
    products: dict[int, Product] = {}
    seen: set[int] = set()
    for number, row in enumerate(rows, start=1):
        household = households.get(row.household_id)
        try:
            if household is None or not actor.covers(
                roles=STORE_MANAGERS,
                scheme_id=household.scheme_id,
                region_path=household.village.path,
            ):
                raise ApplicationError(ErrorCode.NOT_FOUND, _("找不到该户或不在您的管辖范围"))
            if household.pk in seen:
                raise ApplicationError(ErrorCode.DUPLICATE, _("同一户在名单里出现了两次"))
            seen.add(household.pk)
            _check_household(store, household, today)
            basket = _basket(store, row.items)
            for product, quantity in basket.lines:
                _check_limit(household, product, quantity, today)
                stock_needed[product.pk] += quantity
                products[product.pk] = product
            available = household.account.balance - household.account.held
            if available < basket.total:
                raise ApplicationError(
                    ErrorCode.INSUFFICIENT_POINTS,
                    _("可用积分 %(have)s，需要 %(need)s")
                    % {"have": format_points(available), "need": format_points(basket.total)},
                )
            plans.append((number, household, basket))
        except ApplicationError as exc:
            problems.append(
                {
                    "row": number,
                    "household": row.household_id,
                    "name": household.head_name if household else "",
                    "code": str(exc.code),
                    "message": exc.message,
                }
            )
    for pk, needed in stock_needed.items():
        if products[pk].stock < needed:
            problems.append(
                {
                    "row": None,
                    "product": pk,
                    "name": products[pk].name,
                    "code": str(ErrorCode.OUT_OF_STOCK),
                    "message": _("%(name)s 共需 %(need)s，库存只有 %(have)s")
                    % {"name": products[pk].name, "need": needed, "have": products[pk].stock},
                }
            )
    if problems:
        raise ApplicationError(ErrorCode.CEREMONY_INVALID, detail={"errors": problems})
    try:
        with transaction.atomic():
            ceremony = Ceremony.objects.create(
                scheme_id=store.scheme_id,
                store=store,
                title=title[:100],
                held_on=held_on,
                idempotency_key=idempotency_key,
                actor_id=actor.user_id,
            )
            for number, household, basket in plans:
                try:
                    _redeem_write(
                        actor=actor,
                        store=store,
                        household=household,
                        basket=basket,
                        points=basket.total,
                        cash_fen=0,
                        mode=RedemptionMode.ASSISTED,
                        reason=title,
                        source=RedemptionSource.CEREMONY,
                        ceremony=ceremony,
                        key=None,
                        digest="",
                        now=timezone.now(),
                    )
                except ApplicationError as exc:
                    # Changed since the check (a concurrent redemption): nothing is kept.
                    raise ApplicationError(
                        ErrorCode.CEREMONY_INVALID,
                        detail={
                            "errors": [
                                {
                                    "row": number,
                                    "household": household.pk,
                                    "name": household.head_name,
                                    "code": str(exc.code),
                                    "message": exc.message,
                                }
                            ]
                        },
                    ) from None
            audit_record(
                actor_id=actor.user_id,
                scheme_id=store.scheme_id,
                action="store.ceremony",
                obj=ceremony,
                detail={"households": len(plans)},
            )
            return ceremony
    except IntegrityError:
        earlier = (
            _replay_ceremony(store, idempotency_key, title, held_on, rows)
            if idempotency_key
            else None
        )
        if earlier is None:
            raise
        return earlier


def _replay_ceremony(
    store: Store, key: str, title: str, held_on: dt.date, rows: Sequence[CeremonyRow]
) -> Ceremony | None:
    """The batch made earlier under this key; another batch under it is refused."""
    earlier = Ceremony.objects.filter(scheme_id=store.scheme_id, idempotency_key=key).first()
    if earlier is None:
        return None
    asked = []
    for row in rows:
        wanted: dict[int, int] = defaultdict(int)
        for item in row.items:
            wanted[item.product_id] += item.quantity
        asked.append((row.household_id, sorted(wanted.items())))
    done = [
        (r.household_id, sorted((line.product_id, line.quantity) for line in r.lines.all()))
        for r in earlier.redemptions.prefetch_related("lines")
    ]
    if (earlier.store_id, earlier.title, earlier.held_on, sorted(done)) != (
        store.pk,
        title[:100],
        held_on,
        sorted(asked),
    ):
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return earlier
