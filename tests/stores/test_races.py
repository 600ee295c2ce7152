"""Store races on PostgreSQL: real threads, each with its own connection, released together.

The last unit sold by two clerks at once; twenty clerks spending one household's balance; one
double tap arriving ten times at once; pickup racing cancel; a counter sale slipping in
between a ceremony's check and its write. Data is committed (``transaction=True``), so each
thread sees what a second server process would see.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connections
from django.db.models import Min

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.models import Entry, Hold, HoldStatus, Posting, PostingKind
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Order, OrderStatus, Product, Redemption, Store
from civicpoints.stores.services import (
    CeremonyRow,
    Item,
    ceremony_redeem,
    order_cancel,
    order_pickup,
    order_place,
    product_create,
    redeem,
    stock_count,
    stock_receive,
)
from civicpoints.stores.services import ceremony as services
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import Outcome, assert_ledger_ok, run_in_threads
from tests.stores.conftest import PIN, Shop, build_shop
from tests.stores.helpers import balance, held, moves_total, stock, store_total

pytestmark = pytest.mark.django_db(transaction=True)


def codes(outcomes: list[Outcome]) -> list[str]:
    """Each outcome as "ok" or its ApplicationError code; any other exception fails the test."""
    result = []
    for outcome in outcomes:
        if outcome.error is None:
            result.append("ok")
        elif isinstance(outcome.error, ApplicationError):
            result.append(str(outcome.error.code))
        else:
            raise outcome.error
    return result


def fresh(store: Store, household: Household) -> tuple[Store, Household]:
    """What one request of one server process loads: its own copies of the rows."""
    return (
        Store.objects.select_related("scheme", "region").get(pk=store.pk),
        Household.objects.select_related("village").get(pk=household.pk),
    )


def with_pin(shop: Shop, name: str, hundredths: int) -> Household:
    h = make_household(shop.world.scheme, shop.world.village_a1, name)
    household_set_pin(actor_id=None, household=h, pin=PIN)
    fund(h, hundredths)
    return h


def test_the_last_unit_sold_by_two_clerks_at_once_goes_once(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)
    second = make_staff("clerk-2", Role.STORE_CLERK, world.village_a1, world.scheme)
    shop.store.clerks.add(second)
    clerks = [shop.clerk_actor, actor_for_user(second)]
    # Given one freezer left and two households with enough points
    stock_count(actor=shop.clerk_actor, product=shop.freezer, counted=1, reason="盘点")
    buyers = [shop.household, with_pin(shop, "陈玉兰", 500_000)]

    # When two clerks sell it at the same moment
    def sell(i: int) -> int:
        store, household = fresh(shop.store, buyers[i])
        return redeem(
            actor=clerks[i],
            store=store,
            household=household,
            items=[Item(shop.freezer.pk, 1)],
            pin=PIN,
        ).pk

    result = codes(run_in_threads(2, sell))

    # Then exactly one succeeds, the other is told it is out of stock; stock is 0, not -1
    assert sorted(result) == ["ok", ErrorCode.OUT_OF_STOCK]
    assert stock(shop.freezer) == 0 == moves_total(shop.freezer)
    assert Redemption.objects.count() == 1
    paid = (balance(buyers[0]), balance(buyers[1]))
    assert paid in {(1_270_000 - 220_000, 500_000), (1_270_000, 500_000 - 220_000)}
    assert store_total(shop.store) == 220_000
    assert_ledger_ok(world.scheme.pk)


def test_twenty_clerks_against_one_balance_never_take_it_below_zero(
    world: Any, postgres_only: None
) -> None:
    # Given a household with 1,000.00 points and a 70-point item with 50 on the shelf:
    # floor(1000 / 70) = 14 fit, 20 points remain
    shop = build_shop(world, balance=100_000)
    oil = product_create(actor=shop.admin_actor, store=shop.store, name="豆油 5升", price=7_000)
    stock_receive(actor=shop.clerk_actor, product=oil, quantity=50)
    clerks = []
    for i in range(20):
        user = make_staff(f"clerk-{i:02d}", Role.STORE_CLERK, world.village_a1, world.scheme)
        shop.store.clerks.add(user)
        clerks.append(actor_for_user(user))

    # When 20 clerks each redeem one at the same moment
    def sell(i: int) -> int:
        store, household = fresh(shop.store, shop.household)
        return redeem(
            actor=clerks[i], store=store, household=household, items=[Item(oil.pk, 1)], pin=PIN
        ).points

    result = codes(outcomes := run_in_threads(20, sell))

    # Then 14 succeed and 6 are refused for insufficient points
    assert result.count("ok") == 14
    assert result.count(ErrorCode.INSUFFICIENT_POINTS) == 6
    spent = sum(o.value for o in outcomes if o.error is None)
    assert spent == 14 * 7_000 == 98_000
    assert balance(shop.household) == 100_000 - spent == 2_000
    # The balance never went below zero at any step of its history
    low = Entry.objects.filter(account__household=shop.household).aggregate(m=Min("balance_after"))
    assert low["m"] == 2_000
    assert stock(oil) == 50 - 14 == moves_total(oil)
    assert Redemption.objects.count() == 14
    assert Posting.objects.filter(kind=PostingKind.REDEMPTION).count() == 14
    assert store_total(shop.store) == 98_000
    assert_ledger_ok(world.scheme.pk)


def test_one_double_tap_arriving_ten_times_at_once_is_one_redemption(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)

    def tap(_i: int) -> int:
        store, household = fresh(shop.store, shop.household)
        return redeem(
            actor=shop.clerk_actor,
            store=store,
            household=household,
            items=[Item(shop.cooker.pk, 2)],
            pin=PIN,
            idempotency_key="tap-race",
        ).pk

    outcomes = run_in_threads(10, tap)

    assert codes(outcomes) == ["ok"] * 10
    assert len({o.value for o in outcomes}) == 1
    assert Redemption.objects.count() == 1
    assert balance(shop.household) == 1_270_000 - 40_000
    assert stock(shop.cooker) == 8 == moves_total(shop.cooker)
    assert_ledger_ok(world.scheme.pk)


def test_pickup_racing_cancel_settles_the_order_once(world: Any, postgres_only: None) -> None:
    shop = build_shop(world)
    order = order_place(household=shop.household, store=shop.store, items=[Item(shop.cooker.pk, 2)])

    def act(i: int) -> str:
        mine = Order.objects.select_related("store", "household", "hold").get(pk=order.pk)
        if i == 0:
            order_pickup(actor=shop.clerk_actor, order=mine)
            return "picked"
        order_cancel(order=mine)
        return "cancelled"

    outcomes = run_in_threads(2, act)

    result = codes(outcomes)
    assert sorted(result) == ["ok", ErrorCode.ORDER_NOT_OPEN]
    winner = next(o.value for o in outcomes if o.error is None)
    order.refresh_from_db()
    hold = Hold.objects.get(pk=order.hold_id)
    assert held(shop.household) == 0
    if winner == "picked":
        assert (order.status, hold.status) == (OrderStatus.PICKED_UP, HoldStatus.CAPTURED)
        assert (balance(shop.household), stock(shop.cooker)) == (1_230_000, 8)
    else:
        assert (order.status, hold.status) == (OrderStatus.CANCELLED, HoldStatus.RELEASED)
        assert (balance(shop.household), stock(shop.cooker)) == (1_270_000, 10)
    assert moves_total(shop.cooker) == stock(shop.cooker)
    assert_ledger_ok(world.scheme.pk)


def test_a_counter_sale_between_a_ceremonys_check_and_write_wins_cleanly(
    world: Any, postgres_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saleor-style hook: once the batch is checked, another clerk sells the last cookers on
    another connection and commits; the batch then finds the shelf empty and keeps nothing."""
    shop = build_shop(world)
    stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=3, reason="盘点")
    winners = [with_pin(shop, f"表彰户{i}", 50_000) for i in range(3)]
    real = services._redeem_write
    sold: list[Outcome] = []

    def sell_last_cookers() -> None:
        try:
            store, household = fresh(shop.store, shop.household)
            redeem(
                actor=shop.clerk_actor,
                store=store,
                household=household,
                items=[Item(shop.cooker.pk, 2)],
                pin=PIN,
            )
            sold.append(Outcome(value="ok"))
        except BaseException as exc:  # reported below
            sold.append(Outcome(error=exc))
        finally:
            connections.close_all()

    main = threading.get_ident()
    started: list[bool] = []

    def hooked(**kw: Any) -> Redemption:
        # Only the batch's first write waits for the competitor (whose own write is not hooked)
        if threading.get_ident() == main and not started:
            started.append(True)
            competitor = threading.Thread(target=sell_last_cookers)
            competitor.start()
            competitor.join(60)
        return real(**kw)

    monkeypatch.setattr(services, "_redeem_write", hooked)
    rows = [CeremonyRow(h.pk, (Item(shop.cooker.pk, 1),)) for h in winners]
    with pytest.raises(ApplicationError) as caught:
        ceremony_redeem(
            actor=shop.admin_actor,
            store=Store.objects.select_related("region").get(pk=shop.store.pk),
            title="表彰大会",
            held_on=dt.date(2026, 11, 26),
            rows=rows,
        )

    assert codes(sold) == ["ok"]
    assert caught.value.code == ErrorCode.CEREMONY_INVALID
    assert [(e["row"], e["code"]) for e in caught.value.detail["errors"]] == [(2, "out_of_stock")]
    # The counter sale stands; nothing of the batch was kept
    assert stock(shop.cooker) == 1 == moves_total(shop.cooker)
    assert Redemption.objects.count() == 1
    assert {balance(h) for h in winners} == {50_000}
    assert balance(shop.household) == 1_270_000 - 40_000
    assert Product.objects.get(pk=shop.cooker.pk).stock == 1
    assert_ledger_ok(world.scheme.pk)


def test_two_app_orders_racing_for_a_households_limit_take_it_once(
    world: Any, postgres_only: None
) -> None:
    # Given rice limited to 2 bags a month per household
    shop = build_shop(world)

    # When the resident's phone sends two different orders of 2 bags at the same moment
    def order(_i: int) -> int:
        store, household = fresh(shop.store, shop.household)
        return order_place(household=household, store=store, items=[Item(shop.rice.pk, 2)]).pk

    result = codes(run_in_threads(2, order))

    # Then one is placed and the other refused: 2 bags held, not 4
    assert sorted(result) == ["ok", ErrorCode.PURCHASE_LIMIT]
    assert Order.objects.count() == 1
    assert (held(shop.household), stock(shop.rice)) == (6_000, 48)
    assert_ledger_ok(world.scheme.pk)


def test_an_app_order_racing_a_counter_sale_for_a_limit_takes_it_once(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)

    def buy(i: int) -> str:
        store, household = fresh(shop.store, shop.household)
        if i == 0:
            order_place(household=household, store=store, items=[Item(shop.rice.pk, 2)])
            return "order"
        redeem(
            actor=shop.clerk_actor,
            store=store,
            household=household,
            items=[Item(shop.rice.pk, 1)],
            pin=PIN,
        )
        return "counter"

    outcomes = run_in_threads(2, buy)

    assert sorted(codes(outcomes)) == ["ok", ErrorCode.PURCHASE_LIMIT]
    winner = next(o.value for o in outcomes if o.error is None)
    bags = {"order": 2, "counter": 1}[winner]
    assert stock(shop.rice) == 50 - bags == moves_total(shop.rice)
    assert_ledger_ok(world.scheme.pk)
