"""Round trips of a counter redemption over the API on PostgreSQL (issue 10): beyond what any
bearer-token call costs (the API's benchmark floor, ``GET /api/v1/bench/auth``), one read and
one write; a retry of it one read. Counted with an execute wrapper on the connection, outside
any test transaction, so a regression (a query added to the hot path) fails here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState
from civicpoints.stores.models import Product, Redemption
from tests.api.spending import new_key, post
from tests.factories import api_client
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, build_shop

pytestmark = pytest.mark.django_db(transaction=True)


def queries_of(call: Callable[[], Any]) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        result = call()
    return result, seen


def test_a_redemption_is_one_read_and_one_write_beyond_the_floor(
    world: Any, postgres_only: None, settings: Any
) -> None:
    settings.BENCH_FLOOR = True
    shop = build_shop(world)
    clerk = api_client(shop.clerk)
    path = f"/api/v1/stores/{shop.store.pk}/redemptions"

    def body() -> dict[str, Any]:
        return {
            "household": shop.household.pk,
            "items": [
                {"product": shop.cooker.pk, "quantity": 1},
                {"product": shop.freezer.pk, "quantity": 1},
            ],
            "pin": PIN,
        }

    # A first sale and a first floor call: the token's "last used" mark is fresh after them
    assert post(clerk, path, body(), new_key()).status_code == 201
    assert clerk.get("/api/v1/bench/auth").json()["grants"] >= 1  # the authenticated floor

    floor, floor_queries = queries_of(lambda: clerk.get("/api/v1/bench/auth"))
    key = new_key()
    done, queries = queries_of(lambda: post(clerk, path, body(), key))
    again, replay_queries = queries_of(lambda: post(clerk, path, body(), key))

    assert floor.status_code == 200
    assert done.status_code == 201, done.content
    assert [q.split("(")[0] for q in queries[len(floor_queries) :]] == [
        "SELECT * FROM stores_counter_context",
        "SELECT stores_counter_redeem",
    ]
    assert len(queries) == len(floor_queries) + 2
    assert (again.status_code, again.json(), again["Idempotency-Replayed"]) == (
        201,
        done.json(),
        "true",
    )
    assert len(replay_queries) == len(floor_queries) + 1
    # What the one write did: the redemption with its stored answer, stock and points; the
    # answer built from memory reads as the redemption read back from the database
    out = done.json()
    assert clerk.get(f"{path}/{out['id']}").json() == out
    redemption = Redemption.objects.get(pk=out["id"])
    assert (out["receipt_no"], out["balance_after"]) == (redemption.receipt_no, 12700 - 4800)
    assert redemption.posting_id is not None
    record = IdempotencyRecord.objects.get(key=key)
    assert (record.state, record.response_status, record.response_body) == (
        IdempotencyState.SUCCEEDED,
        201,
        out,
    )
    assert Product.objects.get(pk=shop.cooker.pk).stock == 8
    assert_ledger_ok(world.scheme.pk)


def test_the_floor_is_not_served_without_the_bench_setting(world: Any) -> None:
    shop = build_shop(world)

    response = api_client(shop.clerk).get("/api/v1/bench/auth")

    assert response.status_code == 404
