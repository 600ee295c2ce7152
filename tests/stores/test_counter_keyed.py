"""The keyed counter redemption's one read and one write (stores/services/counter_keyed.py),
over the API on PostgreSQL: the guarantees of ``redeem()`` hold on this path too, under races
(threads on their own connections) and with a Saleor-style hook between the read and the write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.households.services import household_set_pin
from civicpoints.households.standing import household_disqualify
from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState, Posting, PostingKind
from civicpoints.stores.models import Redemption
from civicpoints.stores.services import counter_keyed, stock_count
from tests.api.conftest import assert_error
from tests.api.spending import post, spending_snapshot
from tests.factories import PASSWORD, fund, make_household
from tests.ledger.helpers import assert_ledger_ok, run_in_threads
from tests.stores.conftest import PIN, Shop, build_shop
from tests.stores.helpers import balance, moves_total, stock

pytestmark = pytest.mark.django_db(transaction=True)


def _token(shop: Shop) -> str:
    response = Client().post(
        "/api/v1/auth/token",
        {"username": shop.clerk.username, "password": PASSWORD},
        content_type="application/json",
    )
    return str(response.json()["token"])


def _path(shop: Shop) -> str:
    return f"/api/v1/stores/{shop.store.pk}/redemptions"


def _body(shop: Shop, household: Any = None, quantity: int = 1) -> dict[str, Any]:
    return {
        "household": (household or shop.household).pk,
        "items": [{"product": shop.cooker.pk, "quantity": quantity}],
        "pin": PIN,
    }


def test_ten_copies_of_one_request_at_once_make_one_redemption(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)
    token = _token(shop)

    def tap(_i: int) -> tuple[int, str | None, dict[str, Any]]:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = post(client, _path(shop), _body(shop, quantity=2), "tap-race")
        return response.status_code, response.get("Idempotency-Replayed"), response.json()

    outcomes = run_in_threads(10, tap)

    assert [o.error for o in outcomes] == [None] * 10
    answers = [o.value for o in outcomes]
    firsts = [a for a in answers if a[0] == 201 and a[1] is None]
    assert len(firsts) == 1
    for status, _replayed, body in answers:
        if status == 201:
            assert body == firsts[0][2]
        else:
            assert (status, body["error"]["code"]) == (409, "idempotency_in_flight")
    assert Redemption.objects.count() == 1
    assert balance(shop.household) == 1_270_000 - 40_000
    assert stock(shop.cooker) == 8 == moves_total(shop.cooker)
    assert_ledger_ok(world.scheme.pk)


def test_the_last_unit_sold_by_two_counters_at_once_goes_once(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)
    stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=1, reason="盘点")
    other = make_household(world.scheme, world.village_a1, "李桂兰")
    fund(other, 50_000)
    household_set_pin(actor_id=None, household=other, pin=PIN)
    token = _token(shop)
    buyers = [shop.household, other]

    def buy(i: int) -> tuple[int, dict[str, Any]]:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = post(client, _path(shop), _body(shop, buyers[i]), f"buy-{i}")
        return response.status_code, response.json()

    outcomes = run_in_threads(2, buy)

    answers = sorted(o.value for o in outcomes)
    assert [a[0] for a in answers] == [201, 409]
    assert answers[1][1]["error"]["code"] == "out_of_stock"
    assert answers[1][1]["error"]["detail"]["stock"] == 0
    assert stock(shop.cooker) == 0 == moves_total(shop.cooker)
    assert Posting.objects.filter(kind=PostingKind.REDEMPTION).count() == 1
    assert balance(shop.household) + balance(other) == 1_270_000 + 50_000 - 20_000
    assert_ledger_ok(world.scheme.pk)


def test_twenty_counters_against_one_balance_never_take_it_below_zero(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world, balance=0)
    fund(shop.household, 100_000)  # five rice cookers' worth
    token = _token(shop)

    def buy(i: int) -> int:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        return int(post(client, _path(shop), _body(shop), f"poor-{i}").status_code)

    outcomes = run_in_threads(20, buy)

    assert [o.error for o in outcomes] == [None] * 20
    assert sorted(o.value for o in outcomes) == [201] * 5 + [409] * 15
    sold = Redemption.objects.count()
    assert balance(shop.household) == 100_000 - sold * 20_000 >= 0
    assert stock(shop.cooker) == 10 - sold == moves_total(shop.cooker)
    # Every answer is kept for its key: the sales, and the refusals for lack of points
    assert IdempotencyRecord.objects.filter(state=IdempotencyState.SUCCEEDED).count() == sold
    refusals = IdempotencyRecord.objects.filter(state=IdempotencyState.FAILED)
    assert refusals.count() == 20 - sold
    assert {r.response_body["error"]["code"] for r in refusals} <= {"insufficient_points"}
    assert_ledger_ok(world.scheme.pk)


def test_a_twin_that_answered_between_the_read_and_the_write_is_replayed(
    world: Any, postgres_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hook: after this request's read, its twin (same key, same request) is answered; this
    request's write then finds the key taken, writes nothing and gives the twin's answer."""
    shop = build_shop(world)
    token = _token(shop)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    real_read = counter_keyed._read
    twin: list[Any] = []
    started: list[bool] = []

    def read_then_twin(*args: Any) -> Any:
        ctx = real_read(*args)
        if not started:  # the twin's own read is not hooked
            started.append(True)
            twin.append(post(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), *twin_call))
        return ctx

    twin_call = (_path(shop), _body(shop), "twin-key")
    monkeypatch.setattr(counter_keyed, "_read", read_then_twin)

    response = post(client, *twin_call)

    assert twin[0].status_code == 201
    assert response.status_code == 201
    assert response.json() == twin[0].json()
    assert response["Idempotency-Replayed"] == "true"
    assert Redemption.objects.count() == 1
    assert balance(shop.household) == 1_270_000 - 20_000
    assert stock(shop.cooker) == 9 == moves_total(shop.cooker)
    assert_ledger_ok(world.scheme.pk)


def test_a_disqualified_household_is_refused_and_the_refusal_kept(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)
    today = timezone.localdate()
    household_disqualify(
        actor=shop.admin_actor,
        household=shop.household,
        reason="违规焚烧秸秆",
        starts_on=today,
        ends_on=today + dt.timedelta(days=30),
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {_token(shop)}")
    before = spending_snapshot()

    first = post(client, _path(shop), _body(shop), "banned")
    again = post(client, _path(shop), _body(shop), "banned")

    error = assert_error(first, 409, "disqualified")
    assert error["detail"] == {"until": str(today + dt.timedelta(days=30))}
    assert (again.json(), again["Idempotency-Replayed"]) == (first.json(), "true")
    after = spending_snapshot()
    assert after["idempotency"] == before["idempotency"] + 1
    assert {k: v for k, v in after.items() if k != "idempotency"} == {
        k: v for k, v in before.items() if k != "idempotency"
    }


def test_a_limited_product_goes_the_general_way_and_its_limit_holds(
    world: Any, postgres_only: None
) -> None:
    shop = build_shop(world)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {_token(shop)}")

    def rice(key: str) -> Any:
        body = {
            "household": shop.household.pk,
            "items": [{"product": shop.rice.pk, "quantity": 1}],
            "pin": PIN,
        }
        return post(client, _path(shop), body, key)

    answers = [rice(f"rice-{i}") for i in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 409]
    assert answers[2].json()["error"]["code"] == "purchase_limit_exceeded"
    assert stock(shop.rice) == 48 == moves_total(shop.rice)
    assert_ledger_ok(world.scheme.pk)
