"""Stores over HTTP: products and stock, counter redemptions (keyed), returns, residents' orders,
deliveries and ceremonies; scope (a clerk sees only their store: others are 404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.models import Account
from civicpoints.schemes.models import Role
from civicpoints.stores.models import Delivery, DeliveryStatus, Product, Redemption, Store
from civicpoints.stores.services import store_create
from tests.api.conftest import assert_error, check_each
from tests.api.spending import new_key, post, resident_client, spending_snapshot
from tests.api.test_bad_input import RAW_BODIES
from tests.factories import (
    PNG,  # real images: uploads are re-encoded
    api_client,
    fund,
    make_household,
    make_staff,
)
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, Shop, build_shop


@dataclass
class Counter:
    shop: Shop
    clerk: Client
    admin: Client
    other_store: Store
    other_clerk: Client

    @property
    def store(self) -> Store:
        return self.shop.store

    @property
    def household(self) -> Household:
        return self.shop.household

    def url(self, suffix: str = "", store: Store | None = None) -> str:
        return f"/api/v1/stores/{(store or self.store).pk}{suffix}"


@pytest.fixture
def counter(world) -> Counter:
    shop = build_shop(world)
    other_clerk = make_staff("clerk_b", Role.STORE_CLERK, world.village_b1, world.scheme)
    other_store = store_create(
        actor=shop.admin_actor,
        scheme_id=world.scheme.pk,
        region=world.township_b,
        name="兴隆山镇爱心超市",
        clerk_ids=[other_clerk.pk],
    )
    return Counter(
        shop, api_client(shop.clerk), api_client(shop.admin), other_store, api_client(other_clerk)
    )


def balance(household: Household) -> int:
    return Account.objects.get(household=household).balance


def stock(product: Product) -> int:
    return Product.objects.get(pk=product.pk).stock


def unchanged_but_the_key(before: dict, keys: int = 1) -> bool:
    """Nothing changed, except that a service's refusal is kept for its key's replays."""
    now = spending_snapshot()
    return {k: v for k, v in now.items() if k != "idempotency"} == {
        k: v for k, v in before.items() if k != "idempotency"
    } and now["idempotency"] - before["idempotency"] == keys


def redeem_body(c: Counter, **overrides) -> dict:
    body = {
        "household": c.household.pk,
        "items": [
            {"product": c.shop.freezer.pk, "quantity": 1},
            {"product": c.shop.cooker.pk, "quantity": 1},
        ],
        "pin": PIN,
        "delivery_address": "晓光村三组 12 号",
    }
    return {**body, **overrides}


# --- stores and products ---------------------------------------------------------------------


def test_a_clerk_lists_only_their_store_and_an_admin_all(counter):
    mine = counter.clerk.get("/api/v1/stores")
    every = counter.admin.get("/api/v1/stores")

    assert mine.status_code == 200
    assert [s["id"] for s in mine.json()] == [counter.store.pk]
    assert mine.json()[0]["name"] == "开通镇爱心超市"
    assert mine.json()[0]["open_today"] is True
    assert [s["id"] for s in every.json()] == [counter.store.pk, counter.other_store.pk]


def test_products_with_price_stock_and_limit(counter):
    response = counter.clerk.get(counter.url("/products"))

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": counter.shop.freezer.pk,
            "name": "海尔冰柜",
            "unit": "台",
            "price": 2200.0,
            "stock": 3,
            "low_stock": True,
            "large_item": True,
            "limit": None,
            "active": True,
            "why_not": None,  # staff: no household to ask about
        },
        {
            "id": counter.shop.cooker.pk,
            "name": "美的电饭煲",
            "unit": "个",
            "price": 200.0,
            "stock": 10,
            "low_stock": False,
            "large_item": False,
            "limit": None,
            "active": True,
            "why_not": None,  # staff: no household to ask about
        },
        {
            "id": counter.shop.rice.pk,
            "name": "大米 10斤",
            "unit": "袋",
            "price": 30.0,
            "stock": 50,
            "low_stock": False,
            "large_item": False,
            "limit": {"quantity": 2, "period": "month"},
            "active": True,
            "why_not": None,  # staff: no household to ask about
        },
    ]


def test_an_admin_creates_a_product_a_clerk_may_not(counter):
    body = {
        "name": "花生油 5L",
        "price": 89.5,
        "unit": "桶",
        "limit_quantity": 1,
        "limit_period": "week",
    }

    created = post(counter.admin, counter.url("/products"), body)
    refused = post(counter.clerk, counter.url("/products"), body)

    assert created.status_code == 201, created.content
    assert {k: created.json()[k] for k in ("name", "price", "unit", "stock", "limit")} == {
        "name": "花生油 5L",
        "price": 89.5,
        "unit": "桶",
        "stock": 0,
        "limit": {"quantity": 1, "period": "week"},
    }
    assert Product.objects.get(pk=created.json()["id"]).price == 8950
    assert_error(refused, 403, "permission_denied")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "油", "price": 89.555},
        {"name": "油", "price": "89.5"},
        {"name": "油", "price": 0},
        {"name": "", "price": 1},
        {"name": "油", "price": 1, "limit_quantity": 2},
        {"name": "油", "price": 1, "limit_period": "month"},
        {"name": "油", "price": 1, "large_item": "yes"},
    ],
)
def test_bad_products_are_refused(counter, body):
    before = spending_snapshot()

    assert_error(post(counter.admin, counter.url("/products"), body), 422, "invalid_input")
    assert spending_snapshot() == before


def test_stock_purchase_donation_and_stocktake(counter):
    path = counter.url(f"/products/{counter.shop.cooker.pk}/stock")

    bought = post(counter.clerk, path, {"kind": "purchase", "quantity": 5, "value": 800.5})
    given = post(
        counter.clerk, path, {"kind": "donation", "quantity": 2, "value": 400, "donor": "爱心企业"}
    )
    counted = post(counter.clerk, path, {"kind": "stocktake", "counted": 15, "reason": "损坏2个"})
    same = post(counter.clerk, path, {"kind": "stocktake", "counted": 15, "reason": "复盘"})

    assert bought.status_code == 201
    assert bought.json()["product"]["stock"] == 15
    assert {k: bought.json()["move"][k] for k in ("kind", "quantity", "value")} == {
        "kind": "purchase",
        "quantity": 5,
        "value": 800.5,
    }
    assert given.json()["move"]["donor"] == "爱心企业"
    assert given.json()["product"]["stock"] == 17
    assert (counted.status_code, counted.json()["move"]["quantity"]) == (201, -2)
    assert (same.status_code, same.json()["move"]) == (200, None)
    assert stock(counter.shop.cooker) == 15


@pytest.mark.parametrize(
    "body,code",
    [
        ({"kind": "purchase"}, "invalid_input"),
        ({"kind": "purchase", "quantity": 0}, "invalid_input"),
        ({"kind": "purchase", "quantity": 2, "value": 1.001}, "invalid_input"),
        ({"kind": "donation", "quantity": 2}, "invalid_input"),  # no donor
        ({"kind": "stocktake", "counted": 3}, "invalid_input"),  # no reason
        ({"kind": "stocktake", "reason": "盘点"}, "invalid_input"),
        ({"kind": "redemption", "quantity": 1}, "invalid_input"),
    ],
)
def test_bad_stock_moves_are_refused(counter, body, code):
    before = spending_snapshot()

    response = post(counter.clerk, counter.url(f"/products/{counter.shop.cooker.pk}/stock"), body)

    assert_error(response, 422, code)
    assert spending_snapshot() == before


# --- counter redemption --------------------------------------------------------------------------


def test_freezer_and_rice_cooker_with_delivery_then_a_replay(counter):
    # Given a household with 12,700 points
    assert balance(counter.household) == 1_270_000

    # When the clerk redeems a freezer (2,200) and a rice cooker (200) for home delivery
    first = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), "tap-1")

    # Then 2,400 points leave, 10,300 remain, stock drops and a delivery is pending
    assert first.status_code == 201, first.content
    out = first.json()
    redemption = Redemption.objects.get(pk=out["id"])
    assert out["receipt_no"] == redemption.receipt_no
    assert (out["points"], out["cash"], out["balance_after"]) == (2400.0, 0.0, 10300.0)
    assert (out["household"], out["household_name"], out["mode"]) == (
        counter.household.pk,
        "王秀英",
        "pin",
    )
    assert [(line["name"], line["quantity"], line["points"]) for line in out["lines"]] == [
        ("海尔冰柜", 1, 2200.0),
        ("美的电饭煲", 1, 200.0),
    ]
    assert out["delivery"]["status"] == "pending"
    assert out["delivery"]["address"] == "晓光村三组 12 号"
    assert balance(counter.household) == 1_030_000
    assert (stock(counter.shop.freezer), stock(counter.shop.cooker)) == (2, 9)
    after = spending_snapshot()

    # A double tap (the same key, the same request) is the same redemption
    again = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), "tap-1")

    assert again.status_code == 201
    assert again.json() == out
    assert again["Idempotency-Replayed"] == "true"
    assert spending_snapshot() == after
    assert_ledger_ok(counter.shop.world.scheme.pk)


def test_a_redemption_without_a_key_is_400(counter):
    before = spending_snapshot()

    response = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter))

    assert_error(response, 400, "idempotency_key_missing")
    assert spending_snapshot() == before


def test_the_same_key_for_another_basket_is_422(counter):
    post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), "k")
    before = spending_snapshot()

    items = [{"product": counter.shop.cooker.pk, "quantity": 2}]
    response = post(
        counter.clerk, counter.url("/redemptions"), redeem_body(counter, items=items), "k"
    )

    assert_error(response, 422, "idempotency_key_reused")
    assert spending_snapshot() == before


def test_a_200_character_key_works(counter):
    key = "k" * 200

    first = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), key)
    again = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert balance(counter.household) == 1_030_000


def test_a_shortfall_paid_in_cash(counter):
    body = {
        "household": counter.household.pk,
        "items": [{"product": counter.shop.cooker.pk, "quantity": 1}],
        "pin": PIN,
        "cash": 50.5,
    }

    response = post(counter.clerk, counter.url("/redemptions"), body, new_key())

    assert response.status_code == 201, response.content
    assert (response.json()["points"], response.json()["cash"]) == (149.5, 50.5)
    assert response.json()["balance_after"] == 12550.5
    assert Redemption.objects.get(pk=response.json()["id"]).cash_fen == 5050


@pytest.mark.parametrize(
    "raw",
    ["50.555", '"50.5"', "NaN", "-1", "0", "1e309", "true"],
)
def test_bad_cash_is_422(counter, raw):
    text = (
        f'{{"household": {counter.household.pk}, "pin": "{PIN}", "cash": {raw}, '
        f'"items": [{{"product": {counter.shop.cooker.pk}, "quantity": 1}}]}}'
    )
    before = spending_snapshot()

    response = post(counter.clerk, counter.url("/redemptions"), text, new_key())

    assert_error(response, 422, "invalid_input")
    assert spending_snapshot() == before


@pytest.mark.parametrize(
    "items,keys",
    [
        ([], 0),
        ([{"product": "1", "quantity": 1}], 0),
        ([{"product": 1, "quantity": 0}], 0),
        ([{"product": 1, "quantity": 1.5}], 0),
        ([{"product": 1, "quantity": "2"}], 0),
        # Well-formed but no such product: the service refuses, and the key keeps the answer.
        ([{"product": 10**9, "quantity": 1}], 1),
    ],
)
def test_bad_items_are_422(counter, items, keys):
    before = spending_snapshot()

    response = post(
        counter.clerk, counter.url("/redemptions"), redeem_body(counter, items=items), new_key()
    )

    assert_error(response, 422, "invalid_input")
    assert unchanged_but_the_key(before, keys=keys)


def test_assisted_mode_needs_a_reason(counter):
    body = redeem_body(counter, pin=None, delivery_address=None)
    refused = post(counter.clerk, counter.url("/redemptions"), body, new_key())
    body["assisted_reason"] = "老人没带手机，凭卡代办"
    done = post(counter.clerk, counter.url("/redemptions"), body, new_key())

    assert_error(refused, 422, "pin_required")
    assert (done.status_code, done.json()["mode"], done.json()["delivery"]) == (
        201,
        "assisted",
        None,
    )


def test_a_wrong_pin_counts_towards_the_lockout(counter):
    """The service checks the PIN inside the keyed request's transaction; the count survives."""
    body = redeem_body(counter, pin="999999")
    before = balance(counter.household)

    answers = [post(counter.clerk, counter.url("/redemptions"), body, new_key()) for _ in range(5)]
    locked = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), new_key())

    assert [assert_error(a, 422, "pin_incorrect")["detail"] for a in answers] == [
        {"attempts_left": n} for n in (4, 3, 2, 1, 0)
    ]
    assert_error(locked, 429, "locked_out")  # even with the right PIN, for 15 minutes
    assert Household.objects.get(pk=counter.household.pk).pin_locked_until > timezone.now()
    assert balance(counter.household) == before


def test_a_replayed_wrong_pin_is_not_counted_twice(counter):
    body = redeem_body(counter, pin="999999")

    first = post(counter.clerk, counter.url("/redemptions"), body, "k")
    again = post(counter.clerk, counter.url("/redemptions"), body, "k")

    assert again.json() == first.json()
    assert again["Idempotency-Replayed"] == "true"
    assert Household.objects.get(pk=counter.household.pk).pin_failures == 1


def test_out_of_stock_and_insufficient_points(counter, world):
    poor = make_household(world.scheme, world.village_a2, "穷户")
    household_set_pin(actor_id=None, household=poor, pin=PIN)
    fund(poor, 10_000)  # 100 points
    before = spending_snapshot()

    four = [{"product": counter.shop.freezer.pk, "quantity": 4}]
    empty = post(
        counter.clerk, counter.url("/redemptions"), redeem_body(counter, items=four), new_key()
    )
    short = post(
        counter.clerk,
        counter.url("/redemptions"),
        redeem_body(counter, household=poor.pk, delivery_address=None),
        new_key(),
    )

    assert_error(empty, 409, "out_of_stock")
    assert_error(short, 409, "insufficient_points")
    assert unchanged_but_the_key(before, keys=2)


def test_a_household_the_store_does_not_serve_is_404(counter, world):
    elsewhere = make_household(world.scheme, world.village_b1, "兴盛户")
    foreign = make_household(world.other_scheme, world.other_village, "东风户")
    before = spending_snapshot()

    for household in (elsewhere, foreign):
        body = redeem_body(counter, household=household.pk)
        error = assert_error(post(counter.clerk, counter.url("/redemptions"), body, new_key()), 404)
        assert error["detail"] == {"object": "household"}
    assert spending_snapshot() == before


def test_a_clerk_of_another_store_gets_404_everywhere(counter):
    before = spending_snapshot()
    own = counter.other_clerk

    calls = [
        own.get(counter.url("/products")),
        own.get(counter.url("/redemptions")),
        post(own, counter.url("/redemptions"), redeem_body(counter), new_key()),
        post(own, counter.url("/products"), {"name": "油", "price": 1}),
        post(
            own,
            counter.url(f"/products/{counter.shop.cooker.pk}/stock"),
            {"kind": "purchase", "quantity": 1},
        ),
        post(
            own, counter.url("/ceremonies"), {"title": "表彰", "held_on": "2026-12-01", "rows": []}
        ),
    ]

    for response in calls[:-1]:
        assert assert_error(response, 404, "not_found")["detail"] == {"object": "store"}
    assert calls[-1].status_code in (404, 422)
    assert spending_snapshot() == before
    # The clerk's own store works (the control)
    assert own.get(counter.url("/products", store=counter.other_store)).status_code == 200


def test_a_merchant_clerk_or_grid_worker_sees_no_store(counter, client_for):
    for role in (Role.MERCHANT_CLERK, Role.GRID_WORKER):
        client = client_for(role)
        assert client.get("/api/v1/stores").json() == []
        assert_error(client.get(counter.url("/products")), 404, "not_found")


def test_redemptions_of_a_day(counter):
    made = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), new_key()).json()
    today = timezone.localdate()

    listed = counter.clerk.get(counter.url("/redemptions"), {"date": today.isoformat()})
    yesterday = counter.clerk.get(
        counter.url("/redemptions"), {"date": (today - dt.timedelta(days=1)).isoformat()}
    )
    one = counter.clerk.get(counter.url(f"/redemptions/{made['id']}"))
    elsewhere = counter.other_clerk.get(
        counter.url(f"/redemptions/{made['id']}", store=counter.other_store)
    )

    assert [(r["id"], r["points"], r["balance_after"]) for r in listed.json()] == [
        (made["id"], 2400.0, None)
    ]
    assert yesterday.json() == []
    assert one.json() == made
    assert_error(elsewhere, 404, "not_found")
    assert_error(counter.clerk.get(counter.url("/redemptions"), {"date": "2026-13-01"}), 422)


def test_a_return_restores_points_and_stock_once(counter):
    made = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), new_key()).json()
    path = counter.url(f"/redemptions/{made['id']}/return")

    missing_key = post(counter.clerk, path, {"reason": "质量问题"})
    returned = post(counter.clerk, path, {"reason": "质量问题"}, "ret-1")
    replay = post(counter.clerk, path, {"reason": "质量问题"}, "ret-1")
    twice = post(counter.clerk, path, {"reason": "质量问题"}, "ret-2")

    assert_error(missing_key, 400, "idempotency_key_missing")
    assert returned.status_code == 200, returned.content
    assert returned.json()["balance_after"] == 12700.0
    assert returned.json()["return_reason"] == "质量问题"
    assert returned.json()["delivery"]["status"] == "failed"
    assert (replay.json(), replay["Idempotency-Replayed"]) == (returned.json(), "true")
    assert_error(twice, 409, "already_returned")
    assert balance(counter.household) == 1_270_000
    assert (stock(counter.shop.freezer), stock(counter.shop.cooker)) == (3, 10)
    assert_ledger_ok(counter.shop.world.scheme.pk)


def test_another_store_cannot_return_the_redemption(counter):
    made = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), new_key()).json()
    before = spending_snapshot()

    wrong_store = post(
        counter.other_clerk,
        counter.url(f"/redemptions/{made['id']}/return", store=counter.other_store),
        {"reason": "想退"},
        new_key(),
    )

    assert_error(wrong_store, 404, "not_found")
    assert spending_snapshot() == before


# --- residents' app orders -------------------------------------------------------------------


def test_a_resident_orders_holds_points_and_the_clerk_hands_it_over(counter):
    resident = resident_client(counter.household, PIN)
    body = {"items": [{"product": counter.shop.cooker.pk, "quantity": 2}]}

    placed = post(resident, counter.url("/orders"), body, "order-1")
    replay = post(resident, counter.url("/orders"), body, "order-1")

    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert (order["points"], order["status"], order["available_after"]) == (400.0, "held", 12300.0)
    assert (replay.json(), replay["Idempotency-Replayed"]) == (order, "true")
    account = Account.objects.get(household=counter.household)
    assert (account.balance, account.held) == (1_270_000, 40_000)
    assert stock(counter.shop.cooker) == 8

    mine = resident.get("/api/v1/orders").json()
    seen_by_clerk = counter.clerk.get("/api/v1/orders", {"status": "held"}).json()
    resident_pickup = post(resident, f"/api/v1/orders/{order['id']}/pickup", {}, new_key())
    unkeyed = post(counter.clerk, f"/api/v1/orders/{order['id']}/pickup", {})
    picked = post(counter.clerk, f"/api/v1/orders/{order['id']}/pickup", {}, "pick-1")
    again = post(counter.clerk, f"/api/v1/orders/{order['id']}/pickup", {}, "pick-2")

    assert [o["id"] for o in mine] == [order["id"]]
    assert [o["id"] for o in seen_by_clerk] == [order["id"]]
    assert_error(resident_pickup, 404, "not_found")
    assert_error(unkeyed, 400, "idempotency_key_missing")
    assert picked.status_code == 201, picked.content
    assert (picked.json()["points"], picked.json()["balance_after"], picked.json()["source"]) == (
        400.0,
        12300.0,
        "order",
    )
    assert_error(again, 409, "order_not_open")
    account.refresh_from_db()
    assert (account.balance, account.held) == (1_230_000, 0)
    assert_ledger_ok(counter.shop.world.scheme.pk)


def test_a_resident_cancels_their_own_order_only(counter, world):
    resident = resident_client(counter.household, PIN)
    neighbour = make_household(world.scheme, world.village_a1, "邻居")
    household_set_pin(actor_id=None, household=neighbour, pin=PIN)
    fund(neighbour, 10_000)
    other = resident_client(neighbour, PIN)
    body = {"items": [{"product": counter.shop.cooker.pk, "quantity": 1}]}
    order = post(resident, counter.url("/orders"), body, new_key()).json()

    stranger = post(other, f"/api/v1/orders/{order['id']}/cancel", {})
    cancelled = post(resident, f"/api/v1/orders/{order['id']}/cancel", {})
    twice = post(resident, f"/api/v1/orders/{order['id']}/cancel", {})

    assert_error(stranger, 404, "not_found")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert_error(twice, 409, "order_not_open")
    account = Account.objects.get(household=counter.household)
    assert (account.balance, account.held) == (1_270_000, 0)
    assert stock(counter.shop.cooker) == 10


def test_staff_cannot_place_a_residents_order(counter):
    before = spending_snapshot()

    response = post(
        counter.clerk, counter.url("/orders"), {"items": [{"product": 1, "quantity": 1}]}, new_key()
    )

    assert_error(response, 403, "permission_denied")
    assert spending_snapshot() == before


def test_a_resident_orders_only_from_the_stores_serving_their_village(counter):
    resident = resident_client(counter.household, PIN)
    before = spending_snapshot()

    listed = resident.get("/api/v1/stores")
    products = resident.get(counter.url("/products", store=counter.other_store))
    order = post(
        resident,
        counter.url("/orders", store=counter.other_store),
        {"items": [{"product": counter.shop.cooker.pk, "quantity": 1}]},
        new_key(),
    )

    assert [s["id"] for s in listed.json()] == [counter.store.pk]
    assert_error(products, 404, "not_found")
    assert_error(order, 404, "not_found")
    assert spending_snapshot() == before


# --- deliveries ------------------------------------------------------------------------------


def test_a_delivery_goes_out_and_is_delivered_with_a_photo(counter):
    made = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), new_key()).json()
    delivery_id = made["delivery"]["id"]

    pending = counter.clerk.get("/api/v1/deliveries", {"status": "pending"})
    out = post(counter.clerk, f"/api/v1/deliveries/{delivery_id}/dispatch", {"courier": "李师傅"})
    not_an_image = counter.clerk.post(
        f"/api/v1/deliveries/{delivery_id}/delivered", {"photo": _upload(b"hello", "a.txt")}
    )
    nothing = counter.clerk.post(f"/api/v1/deliveries/{delivery_id}/delivered", {})
    done = counter.clerk.post(
        f"/api/v1/deliveries/{delivery_id}/delivered", {"signature": _upload(PNG, "sign.png")}
    )
    elsewhere = post(counter.other_clerk, f"/api/v1/deliveries/{delivery_id}/dispatch", {})

    assert [(d["id"], d["address"], d["phone"]) for d in pending.json()] == [
        (delivery_id, "晓光村三组 12 号", "139****5678")
    ]
    assert (out.json()["status"], out.json()["courier"]) == ("out", "李师傅")
    assert_error(not_an_image, 422, "invalid_input")
    assert_error(nothing, 422, "invalid_input")
    assert done.status_code == 200, done.content
    assert (done.json()["status"], done.json()["has_proof"]) == ("delivered", True)
    assert_error(elsewhere, 404, "not_found")
    assert counter.other_clerk.get("/api/v1/deliveries").json() == []


def test_a_failed_delivery_needs_a_reason_and_can_go_out_again(counter):
    made = post(counter.clerk, counter.url("/redemptions"), redeem_body(counter), new_key()).json()
    delivery_id = made["delivery"]["id"]
    path = f"/api/v1/deliveries/{delivery_id}"

    too_early = post(counter.clerk, f"{path}/failed", {"reason": "家里没人"})
    post(counter.clerk, f"{path}/dispatch", {})
    no_reason = post(counter.clerk, f"{path}/failed", {"reason": " "})
    failed = post(counter.clerk, f"{path}/failed", {"reason": "家里没人"})
    again = post(counter.clerk, f"{path}/dispatch", {"courier": "王师傅"})

    assert_error(too_early, 409, "invalid_transition")
    assert_error(no_reason, 422, "invalid_input")
    assert (failed.json()["status"], failed.json()["failure_reason"]) == ("failed", "家里没人")
    assert again.json()["status"] == "out"
    assert Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.OUT


def _upload(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


# --- ceremonies ------------------------------------------------------------------------------


def _ceremony_households(world, n: int) -> list[Household]:
    villages = [world.village_a1, world.village_a2]  # the villages the township's store serves
    made = []
    for i in range(n):
        h = make_household(world.scheme, villages[i % 2], f"先进户{i}")
        fund(h, 50_000)
        made.append(h)
    return made


def test_a_ceremony_redeems_for_every_household_at_once(counter, world):
    households = _ceremony_households(world, 3)
    body = {
        "title": "2026年度星级文明户表彰",
        "held_on": "2026-12-01",
        "rows": [
            {"household": h.pk, "items": [{"product": counter.shop.rice.pk, "quantity": 1}]}
            for h in households
        ],
    }

    first = post(counter.admin, counter.url("/ceremonies"), body, "cer-1")
    replay = post(counter.admin, counter.url("/ceremonies"), body, "cer-1")

    assert first.status_code == 201, first.content
    assert (first.json()["households"], first.json()["points"]) == (3, 90.0)
    assert [r["household"] for r in first.json()["redemptions"]] == [h.pk for h in households]
    assert (replay.json(), replay["Idempotency-Replayed"]) == (first.json(), "true")
    assert [balance(h) for h in households] == [47_000] * 3
    assert stock(counter.shop.rice) == 47
    assert_ledger_ok(world.scheme.pk)


def test_a_ceremony_with_bad_rows_redeems_nothing_and_names_them(counter, world):
    households = _ceremony_households(world, 2)
    poor = make_household(world.scheme, world.village_a1, "余额不足户")
    foreign = make_household(world.other_scheme, world.other_village, "外县户")
    rice = [{"product": counter.shop.rice.pk, "quantity": 1}]
    body = {
        "title": "表彰大会",
        "held_on": "2026-12-01",
        "rows": [
            {"household": households[0].pk, "items": rice},
            {"household": poor.pk, "items": rice},
            {"household": foreign.pk, "items": rice},
            {"household": households[0].pk, "items": rice},
        ],
    }
    before = spending_snapshot()

    response = post(counter.admin, counter.url("/ceremonies"), body, new_key())
    clerk = post(counter.clerk, counter.url("/ceremonies"), body, new_key())

    error = assert_error(response, 422, "ceremony_invalid")
    assert [(e["row"], e["code"]) for e in error["detail"]["errors"]] == [
        (2, "insufficient_points"),
        (3, "not_found"),
        (4, "duplicate"),
    ]
    assert_error(clerk, 403, "permission_denied")
    assert unchanged_but_the_key(before, keys=1)


def test_store_lists_need_a_token(db):
    assert_error(Client().get("/api/v1/stores"), 401, "not_authenticated")


# --- bad input: always a 4xx in the error format, never a 500 ----------------------------------


def test_bad_days_are_422(counter):
    before = spending_snapshot()
    body = {"title": "表彰", "rows": [{"household": counter.household.pk, "items": []}]}

    def check(day: str) -> None:
        assert_error(counter.clerk.get(counter.url("/redemptions"), {"date": day}), 422)
        response = post(counter.admin, counter.url("/ceremonies"), {**body, "held_on": day}, "k")
        assert_error(response, 422, "invalid_input")

    check_each(["9999-12-31", "0001-01-01", "2026-13-01", "abc", ""], check)
    assert spending_snapshot() == before


@pytest.mark.parametrize(
    "path",
    ["/redemptions", "/redemptions/1/return", "/ceremonies", "/products", "/products/1/stock"],
)
def test_unreadable_bodies_are_4xx(counter, path):
    before = spending_snapshot()

    def check(raw) -> None:
        response = counter.admin.post(
            counter.url(path), raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=new_key()
        )
        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"error"}

    check_each(RAW_BODIES, check)
    assert spending_snapshot() == before


def test_bad_filters_are_422(counter):
    def check(params: dict) -> None:
        for path in ("/api/v1/orders", "/api/v1/deliveries"):
            assert_error(counter.clerk.get(path, params), 422, "invalid_input")

    check_each(
        [{"status": "gone"}, {"store": "abc"}, {"store": str(2**63)}, {"limit": 0}, {"offset": -1}],
        check,
    )
