"""Counter redemption: who may redeem, when, how much, with what proof, and safe retries.

Every refusal names its own error code and leaves the ledger and the shelves untouched.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ErrorCode
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import household_set_pin
from civicpoints.households.standing import disqualification_lift, household_disqualify
from civicpoints.ledger.models import Posting, PostingKind
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import (
    Delivery,
    DeliveryStatus,
    Product,
    Redemption,
    RedemptionMode,
    StockMove,
    Store,
    WindowKind,
)
from civicpoints.stores.services import (
    Item,
    order_cancel,
    order_place,
    product_create,
    product_update,
    redeem,
    redemption_return,
    stock_receive,
    store_create,
)
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, Shop
from tests.stores.helpers import balance, moves_total, refused, stock, store_total

TZ = timezone.get_default_timezone()


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> dt.datetime:
    """A wall-clock time in Asia/Shanghai."""
    return dt.datetime(year, month, day, hour, minute, second, us, tzinfo=TZ)


def counter(shop: Shop, household: Household | None = None, **kw: object) -> Redemption:
    """One counter redemption by the shop's clerk; the household confirms with its PIN."""
    kw.setdefault("pin", PIN)
    kw.setdefault("items", [Item(shop.cooker.pk, 1)])
    return redeem(
        actor=shop.clerk_actor,
        store=kw.pop("store", shop.store),  # type: ignore[arg-type]
        household=household or shop.household,
        **kw,  # type: ignore[arg-type]
    )


def second_store(shop: Shop, **window: object) -> tuple[Store, Product]:
    store = store_create(
        actor=shop.admin_actor,
        scheme_id=shop.world.scheme.pk,
        region=shop.world.village_a1,
        name="晓光村积分超市",
        clerk_ids=[shop.clerk.pk],
        **window,  # type: ignore[arg-type]
    )
    oil = product_create(actor=shop.admin_actor, store=store, name="豆油 5升", price=6_000)
    stock_receive(actor=shop.clerk_actor, product=oil, quantity=20, value_fen=120_000)
    return store, oil


# --- windows ------------------------------------------------------------------------------


def test_a_weekday_store_redeems_only_on_its_weekdays(shop: Shop) -> None:
    store, oil = second_store(shop, window_kind=WindowKind.WEEKDAYS, window_weekdays="5, 1,3")
    assert store.window_weekdays == "1,3,5"
    monday, tuesday = local(2026, 11, 23, 9, 30), local(2026, 11, 24, 9, 30)
    # On Monday the counter is open: 60 points leave
    done = counter(shop, store=store, items=[Item(oil.pk, 1)], at=monday)
    assert (done.points, done.created_at) == (6_000, monday)
    assert balance(shop.household) == 1_264_000
    # On Tuesday it is refused, and nothing moves
    refused(
        ErrorCode.STORE_CLOSED,
        shop.world.scheme.pk,
        lambda: counter(shop, store=store, items=[Item(oil.pk, 1)], at=tuesday),
    )
    # The local day decides: Sunday 23:59:59 is closed; Monday 00:30 (still Sunday in UTC) open
    sunday_night = local(2026, 11, 22, 23, 59, 59)
    refused(
        ErrorCode.STORE_CLOSED,
        shop.world.scheme.pk,
        lambda: counter(shop, store=store, items=[Item(oil.pk, 1)], at=sunday_night),
    )
    early_monday = local(2026, 11, 23, 0, 30)
    counter(shop, store=store, items=[Item(oil.pk, 1)], at=early_monday)
    assert (balance(shop.household), stock(oil)) == (1_258_000, 18)
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_dates_store_redeems_only_on_its_exchange_days(shop: Shop) -> None:
    store, oil = second_store(
        shop, window_kind=WindowKind.DATES, window_dates=["2026-11-21", "2026-06-01"]
    )
    assert store.window_dates == ["2026-06-01", "2026-11-21"]
    counter(shop, store=store, items=[Item(oil.pk, 2)], at=local(2026, 11, 21, 15, 0))
    refused(
        ErrorCode.STORE_CLOSED,
        shop.world.scheme.pk,
        lambda: counter(shop, store=store, items=[Item(oil.pk, 1)], at=local(2026, 11, 22, 9)),
    )
    assert (balance(shop.household), stock(oil)) == (1_258_000, 18)


def test_an_always_store_is_open_every_day_until_it_is_closed(shop: Shop) -> None:
    sunday = local(2026, 11, 22, 8, 0)
    counter(shop, at=sunday)
    Store.objects.filter(pk=shop.store.pk).update(active=False)
    shop.store.refresh_from_db()
    refused(ErrorCode.STORE_CLOSED, shop.world.scheme.pk, lambda: counter(shop, at=sunday))
    assert balance(shop.household) == 1_250_000


# --- who may redeem ------------------------------------------------------------------------


def test_per_household_limit_per_month_counts_held_orders_and_forgets_returns(
    shop: Shop,
) -> None:
    scheme = shop.world.scheme.pk
    rice = shop.rice  # 30 points a bag, at most 2 bags a month per household
    # Given one bag redeemed and one bag ordered in the app (held, not picked up)
    first = counter(shop, items=[Item(rice.pk, 1)])
    order = order_place(household=shop.household, store=shop.store, items=[Item(rice.pk, 1)])
    # When a third bag is asked for at the counter
    error = refused(
        ErrorCode.PURCHASE_LIMIT, scheme, lambda: counter(shop, items=[Item(rice.pk, 1)])
    )
    # Then it is refused, naming the limit and what was used
    assert error.detail == {"product": rice.pk, "limit": 2, "used": 2}
    # And an app order for it is refused the same way
    refused(
        ErrorCode.PURCHASE_LIMIT,
        scheme,
        lambda: order_place(household=shop.household, store=shop.store, items=[Item(rice.pk, 1)]),
    )
    # When the order is cancelled, one bag is allowed again (but not two)
    order_cancel(order=order)
    refused(ErrorCode.PURCHASE_LIMIT, scheme, lambda: counter(shop, items=[Item(rice.pk, 2)]))
    counter(shop, items=[Item(rice.pk, 1)])
    # When a bag is returned, it no longer counts
    redemption_return(actor=shop.clerk_actor, redemption=first, reason="受潮")
    counter(shop, items=[Item(rice.pk, 1)])
    refused(ErrorCode.PURCHASE_LIMIT, scheme, lambda: counter(shop, items=[Item(rice.pk, 1)]))
    # Another household has its own allowance
    neighbour = make_household(shop.world.scheme, shop.world.village_a2, "李春华")
    fund(neighbour, 10_000)
    counter(shop, neighbour, items=[Item(rice.pk, 2)], pin=None, assisted_reason="代办")
    # Then: 2 bags kept by each household; 50 - 4 = 46 on the shelf
    assert stock(rice) == 46 == moves_total(rice)
    assert balance(shop.household) == 1_270_000 - 2 * 3_000
    assert balance(neighbour) == 10_000 - 2 * 3_000
    assert_ledger_ok(scheme)


def test_per_household_limit_per_day_and_week_follow_the_local_calendar(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    eggs = product_create(
        actor=shop.admin_actor,
        store=shop.store,
        name="鸡蛋 30枚",
        price=2_500,
        limit_quantity=1,
        limit_period="day",
    )
    soap = product_create(
        actor=shop.admin_actor,
        store=shop.store,
        name="洗衣皂",
        price=500,
        limit_quantity=1,
        limit_period="week",
    )
    for product in (eggs, soap):
        stock_receive(actor=shop.clerk_actor, product=product, quantity=10)
    # One box of eggs a day: Monday 08:00 yes, Monday 23:59 no, Tuesday 00:00 yes
    counter(shop, items=[Item(eggs.pk, 1)], at=local(2026, 11, 23, 8, 0))
    refused(
        ErrorCode.PURCHASE_LIMIT,
        scheme,
        lambda: counter(shop, items=[Item(eggs.pk, 1)], at=local(2026, 11, 23, 23, 59, 59)),
    )
    counter(shop, items=[Item(eggs.pk, 1)], at=local(2026, 11, 24, 0, 0))
    # One soap a week (Monday to Sunday): Sunday yes, Monday yes, Wednesday no
    counter(shop, items=[Item(soap.pk, 1)], at=local(2026, 11, 22, 12, 0))
    counter(shop, items=[Item(soap.pk, 1)], at=local(2026, 11, 23, 12, 0))
    refused(
        ErrorCode.PURCHASE_LIMIT,
        scheme,
        lambda: counter(shop, items=[Item(soap.pk, 1)], at=local(2026, 11, 25, 12, 0)),
    )
    assert (stock(eggs), stock(soap)) == (8, 8)
    assert balance(shop.household) == 1_270_000 - 2 * 2_500 - 2 * 500


def test_a_disqualified_household_is_refused_until_the_ban_ends_or_is_lifted(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    ban = household_disqualify(
        actor=shop.admin_actor,
        household=shop.household,
        reason="违规焚烧秸秆",
        starts_on=dt.date(2026, 11, 1),
        ends_on=dt.date(2026, 11, 30),
    )
    error = refused(
        ErrorCode.DISQUALIFIED,
        scheme,
        lambda: counter(shop, at=local(2026, 11, 30, 23, 0)),
        audit_may_grow=False,
    )
    assert error.detail == {"until": "2026-11-30"}
    # Assisted mode is no way round it
    refused(
        ErrorCode.DISQUALIFIED,
        scheme,
        lambda: counter(shop, pin=None, assisted_reason="代办", at=local(2026, 11, 15, 9)),
    )
    # The day after the ban ends, the counter serves the household again
    counter(shop, at=local(2026, 12, 1, 0, 0))
    # A lifted ban no longer counts
    disqualification_lift(actor=shop.admin_actor, ban=ban, reason="复议撤销")
    counter(shop, at=local(2026, 11, 15, 9))
    assert balance(shop.household) == 1_270_000 - 2 * 20_000


def test_a_closed_household_is_refused(shop: Shop) -> None:
    Household.objects.filter(pk=shop.household.pk).update(status=HouseholdStatus.CLOSED)
    shop.household.refresh_from_db()
    refused(ErrorCode.HOUSEHOLD_CLOSED, shop.world.scheme.pk, lambda: counter(shop))
    refused(
        ErrorCode.HOUSEHOLD_CLOSED,
        shop.world.scheme.pk,
        lambda: order_place(
            household=shop.household, store=shop.store, items=[Item(shop.cooker.pk, 1)]
        ),
    )


def test_households_outside_the_stores_region_or_scheme_are_refused(shop: Shop) -> None:
    w = shop.world
    # A township store serves every village of its township (新华村 too) ...
    xinhua = make_household(w.scheme, w.village_a2, "赵玉芬")
    fund(xinhua, 50_000)
    household_set_pin(actor_id=None, household=xinhua, pin=PIN)
    xinhua.refresh_from_db()
    counter(shop, xinhua)
    assert balance(xinhua) == 30_000
    # ... but not the next township's, nor another county's
    xingsheng = make_household(w.scheme, w.village_b1, "孙立国")
    fund(xingsheng, 50_000)
    household_set_pin(actor_id=None, household=xingsheng, pin=PIN)
    xingsheng.refresh_from_db()
    refused(ErrorCode.NOT_SERVED, w.scheme.pk, lambda: counter(shop, xingsheng))
    elsewhere = make_household(w.other_scheme, w.other_village, "周建军")
    household_set_pin(actor_id=None, household=elsewhere, pin=PIN)
    elsewhere.refresh_from_db()
    refused(ErrorCode.NOT_SERVED, w.scheme.pk, lambda: counter(shop, elsewhere))
    # A village store serves its own village only
    village_store, oil = second_store(shop)
    refused(
        ErrorCode.NOT_SERVED,
        w.scheme.pk,
        lambda: counter(shop, xinhua, store=village_store, items=[Item(oil.pk, 1)]),
    )
    assert balance(xingsheng) == 50_000


def test_only_the_stores_clerks_and_admins_over_it_work_its_counter(shop: Shop) -> None:
    w = shop.world
    other_clerk = make_staff("clerk-b", Role.STORE_CLERK, w.township_b, w.scheme)
    store_b = store_create(
        actor=shop.admin_actor,
        scheme_id=w.scheme.pk,
        region=w.township_b,
        name="兴隆山镇爱心超市",
        clerk_ids=[other_clerk.pk],
    )
    assert store_b.pk
    refused(
        ErrorCode.PERMISSION_DENIED,
        w.scheme.pk,
        lambda: redeem(
            actor=actor_for_user(other_clerk),
            store=shop.store,
            household=shop.household,
            items=[Item(shop.cooker.pk, 1)],
            pin=PIN,
        ),
    )
    # The township_b admin does not cover a township_a store
    township_b_admin = make_staff("zhen-b", Role.TOWNSHIP_ADMIN, w.township_b, w.scheme)
    refused(
        ErrorCode.PERMISSION_DENIED,
        w.scheme.pk,
        lambda: redeem(
            actor=actor_for_user(township_b_admin),
            store=shop.store,
            household=shop.household,
            items=[Item(shop.cooker.pk, 1)],
            pin=PIN,
        ),
    )


@pytest.mark.parametrize(
    "items",
    [
        [],
        [Item(0, 1)],
        [Item(-1, 1)],
        ["cooker", 0],
        ["cooker", -2],
        ["cooker", 10_001],
        ["inactive", 1],
        ["elsewhere", 1],
    ],
)
def test_bad_baskets_are_refused(shop: Shop, items: list) -> None:
    other_store, oil = second_store(shop)
    product_update(actor=shop.admin_actor, product=shop.rice, active=False)
    ids = {"cooker": shop.cooker.pk, "inactive": shop.rice.pk, "elsewhere": oil.pk}
    if items and isinstance(items[0], str):
        items = [Item(ids[items[0]], items[1])]
    refused(ErrorCode.INVALID_INPUT, shop.world.scheme.pk, lambda: counter(shop, items=items))
    assert other_store.pk


# --- PIN and assisted mode -----------------------------------------------------------------


def test_wrong_pins_count_down_and_the_fifth_locks_the_card(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    for left in (4, 3, 2, 1, 0):
        error = refused(ErrorCode.PIN_INCORRECT, scheme, lambda: counter(shop, pin="000000"))
        assert error.detail == {"attempts_left": left}
    shop.household.refresh_from_db()
    assert shop.household.pin_locked_until is not None
    # Even the right PIN is refused while the card is locked
    refused(ErrorCode.LOCKED_OUT, scheme, lambda: counter(shop, pin=PIN))
    assert balance(shop.household) == 1_270_000
    assert stock(shop.cooker) == 10


def test_a_right_pin_after_wrong_ones_redeems_and_resets_the_count(shop: Shop) -> None:
    for _ in range(4):
        refused(ErrorCode.PIN_INCORRECT, shop.world.scheme.pk, lambda: counter(shop, pin="135790"))
    # The counter loads the household afresh for each request
    shop.household.refresh_from_db()
    assert shop.household.pin_failures == 4
    redemption = counter(shop)
    assert redemption.mode == RedemptionMode.PIN
    shop.household.refresh_from_db()
    assert (shop.household.pin_failures, shop.household.pin_locked_until) == (0, None)
    error = refused(
        ErrorCode.PIN_INCORRECT, shop.world.scheme.pk, lambda: counter(shop, pin="135790")
    )
    assert error.detail == {"attempts_left": 4}


def test_neither_pin_nor_assisted_reason_is_refused(shop: Shop) -> None:
    refused(ErrorCode.PIN_REQUIRED, shop.world.scheme.pk, lambda: counter(shop, pin=None))
    refused(
        ErrorCode.PIN_REQUIRED,
        shop.world.scheme.pk,
        lambda: counter(shop, pin="", assisted_reason="   "),
    )


def test_assisted_mode_needs_a_reason_and_writes_an_audit_row(shop: Shop) -> None:
    # When the clerk redeems for an elderly resident without a phone, giving the reason
    redemption = counter(shop, pin=None, assisted_reason="  老人不会用手机，持卡到店代办 ")
    # Then the redemption is marked assisted, and an audit row names clerk, mode and reason
    assert (redemption.mode, redemption.assisted_reason) == (
        RedemptionMode.ASSISTED,
        "老人不会用手机，持卡到店代办",
    )
    event = AuditEvent.objects.get(action="store.redeem", object_id=str(redemption.pk))
    assert event.actor_id == shop.clerk.pk
    assert event.scheme_id == shop.world.scheme.pk
    assert event.detail == {
        "household": shop.household.pk,
        "points": "200",
        "cash_fen": 0,
        "mode": "assisted",
        "reason": "老人不会用手机，持卡到店代办",
    }
    assert balance(shop.household) == 1_250_000


# --- cash for a shortfall ------------------------------------------------------------------


def _household_with(shop: Shop, hundredths: int) -> Household:
    h = make_household(shop.world.scheme, shop.world.village_a1, "刘凤芝")
    household_set_pin(actor_id=None, household=h, pin=PIN)
    h.refresh_from_db()
    fund(h, hundredths)
    return h


def test_a_shortfall_is_paid_in_cash_at_one_yuan_a_point(shop: Shop) -> None:
    # Given a household with 2,300 points and a 2,400-point basket
    h = _household_with(shop, 230_000)
    basket = [Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 1)]
    refused(
        ErrorCode.INSUFFICIENT_POINTS,
        shop.world.scheme.pk,
        lambda: counter(shop, h, items=basket),
    )
    # When it pays the missing 100 points as 100 yuan in cash
    redemption = counter(shop, h, items=basket, cash_fen=10_000)
    # Then 2,300 points leave (balance 0) and the receipt records 100.00 yuan in cash
    assert (redemption.points, redemption.cash_fen) == (230_000, 10_000)
    assert balance(h) == 0
    assert store_total(shop.store) == 230_000
    assert (stock(shop.freezer), stock(shop.cooker)) == (2, 9)
    # A return gives back the points (the cash is the clerk's to hand back)
    redemption_return(actor=shop.clerk_actor, redemption=redemption, reason="尺寸不合适")
    assert balance(h) == 230_000
    assert store_total(shop.store) == 0
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_shortfall_at_half_a_yuan_a_point_costs_half_the_cash(shop: Shop) -> None:
    Scheme.objects.filter(pk=shop.world.scheme.pk).update(yuan_per_point=Decimal("0.50"))
    store = Store.objects.select_related("scheme", "region").get(pk=shop.store.pk)
    shop.store = store
    h = _household_with(shop, 230_000)
    basket = [Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 1)]
    # 49.99 yuan covers only 99.98 points: still 0.02 short
    refused(
        ErrorCode.INSUFFICIENT_POINTS,
        shop.world.scheme.pk,
        lambda: counter(shop, h, items=basket, cash_fen=4_999),
    )
    # 50.00 yuan pays for the missing 100 points
    redemption = counter(shop, h, items=basket, cash_fen=5_000)
    assert (redemption.points, redemption.cash_fen) == (230_000, 5_000)
    assert balance(h) == 0
    assert_ledger_ok(shop.world.scheme.pk)


def test_cash_must_leave_some_points_to_pay_and_never_be_negative(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    refused(ErrorCode.INVALID_INPUT, scheme, lambda: counter(shop, cash_fen=20_000))
    refused(ErrorCode.INVALID_INPUT, scheme, lambda: counter(shop, cash_fen=25_000))
    refused(ErrorCode.INVALID_INPUT, scheme, lambda: counter(shop, cash_fen=-1))
    done = counter(shop, cash_fen=19_999)
    assert (done.points, done.cash_fen) == (1, 19_999)


# --- retries -------------------------------------------------------------------------------


def test_a_repeated_key_returns_the_same_redemption_and_moves_nothing_more(shop: Shop) -> None:
    first = counter(shop, items=[Item(shop.cooker.pk, 2)], idempotency_key="tap-7")
    postings = Posting.objects.count()
    # When the same request arrives again (a double tap, a retry after a lost response)
    again = counter(shop, items=[Item(shop.cooker.pk, 2)], idempotency_key="tap-7")
    # Then the first redemption is the answer, and nothing moves a second time
    assert again.pk == first.pk
    assert again.posting is not None and first.posting is not None
    assert again.posting.pk == first.posting.pk
    assert (balance(shop.household), stock(shop.cooker)) == (1_230_000, 8)
    assert Posting.objects.count() == postings
    assert Redemption.objects.filter(idempotency_key="tap-7").count() == 1
    assert StockMove.objects.filter(kind="redemption").count() == 1
    assert_ledger_ok(shop.world.scheme.pk)


def test_the_same_key_for_a_different_request_is_refused(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    counter(shop, items=[Item(shop.cooker.pk, 2)], idempotency_key="tap-8")
    neighbour = _household_with(shop, 100_000)
    store, oil = second_store(shop)
    for call in (
        lambda: counter(shop, items=[Item(shop.cooker.pk, 3)], idempotency_key="tap-8"),
        lambda: counter(shop, items=[Item(shop.rice.pk, 2)], idempotency_key="tap-8"),
        lambda: counter(shop, neighbour, items=[Item(shop.cooker.pk, 2)], idempotency_key="tap-8"),
        lambda: counter(
            shop, items=[Item(shop.cooker.pk, 2)], cash_fen=100, idempotency_key="tap-8"
        ),
        lambda: counter(shop, store=store, items=[Item(oil.pk, 2)], idempotency_key="tap-8"),
    ):
        refused(ErrorCode.IDEMPOTENCY_KEY_REUSED, scheme, call)
    assert balance(shop.household) == 1_230_000


def test_a_refused_request_can_be_retried_with_its_key_once_the_cause_is_gone(shop: Shop) -> None:
    h = _household_with(shop, 10_000)
    refused(
        ErrorCode.INSUFFICIENT_POINTS,
        shop.world.scheme.pk,
        lambda: counter(shop, h, idempotency_key="tap-9"),
    )
    fund(h, 10_000)
    done = counter(shop, h, idempotency_key="tap-9")
    assert done.points == 20_000 and balance(h) == 0


# --- returns -------------------------------------------------------------------------------


def test_a_return_within_the_window_reverses_the_posting_and_restores_stock(shop: Shop) -> None:
    sold_at = local(2026, 11, 10, 10, 0)
    redemption = counter(
        shop,
        items=[Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 2)],
        at=sold_at,
        delivery_address="晓光村三组 12 号",
    )
    assert balance(shop.household) == 1_270_000 - 260_000
    # On the last moment of the 7-day window
    returned = redemption_return(
        actor=shop.clerk_actor,
        redemption=redemption,
        reason="冰柜不制冷",
        at=sold_at + dt.timedelta(days=7),
    )
    assert returned.returned_at == sold_at + dt.timedelta(days=7)
    assert returned.return_reason == "冰柜不制冷"
    assert redemption.posting is not None
    reversal = Posting.objects.get(reverses=redemption.posting)
    assert reversal.pk == returned.return_posting_id
    assert reversal.kind == PostingKind.REVERSAL
    assert balance(shop.household) == 1_270_000
    assert store_total(shop.store) == 0
    assert (stock(shop.freezer), stock(shop.cooker)) == (3, 10)
    assert sorted(
        StockMove.objects.filter(redemption=redemption, kind="return").values_list(
            "product_id", "quantity"
        )
    ) == [(shop.freezer.pk, 1), (shop.cooker.pk, 2)]
    delivery = Delivery.objects.get(redemption=redemption)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.FAILED, "已退货")
    assert moves_total(shop.freezer) == 3 and moves_total(shop.cooker) == 10
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_return_after_the_window_is_refused(shop: Shop) -> None:
    sold_at = local(2026, 11, 10, 10, 0)
    redemption = counter(shop, at=sold_at)
    error = refused(
        ErrorCode.RETURN_WINDOW_CLOSED,
        shop.world.scheme.pk,
        lambda: redemption_return(
            actor=shop.clerk_actor,
            redemption=redemption,
            reason="不想要了",
            at=sold_at + dt.timedelta(days=7, microseconds=1),
        ),
    )
    assert "7" in error.message
    assert balance(shop.household) == 1_250_000


def test_a_return_twice_is_refused_whether_the_clerk_reloaded_or_not(shop: Shop) -> None:
    redemption = counter(shop)
    stale = Redemption.objects.get(pk=redemption.pk)
    redemption_return(actor=shop.clerk_actor, redemption=redemption, reason="质量问题")
    scheme = shop.world.scheme.pk
    refused(
        ErrorCode.ALREADY_RETURNED,
        scheme,
        lambda: redemption_return(actor=shop.clerk_actor, redemption=redemption, reason="again"),
    )
    # A second page still showing the redemption as not returned
    refused(
        ErrorCode.ALREADY_RETURNED,
        scheme,
        lambda: redemption_return(actor=shop.clerk_actor, redemption=stale, reason="again"),
    )
    assert balance(shop.household) == 1_270_000
    assert stock(shop.cooker) == 10
    assert Posting.objects.filter(kind=PostingKind.REVERSAL).count() == 1
    assert_ledger_ok(scheme)


def test_a_return_needs_a_reason(shop: Shop) -> None:
    redemption = counter(shop)
    refused(
        ErrorCode.INVALID_INPUT,
        shop.world.scheme.pk,
        lambda: redemption_return(actor=shop.clerk_actor, redemption=redemption, reason=" "),
    )
