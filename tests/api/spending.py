"""Helpers for the spending API tests: a resident's bearer token, keyed posts, and a snapshot
of everything a store or merchant call may change (points, stock, rows)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from django.test import Client

from civicpoints.households.models import Household
from civicpoints.merchants.models import Payment, PaymentCode, Refund, Statement
from civicpoints.stores.models import Delivery, Order, Product, Redemption, StockMove
from tests.api.conftest import Snapshot, snapshot

_keys = itertools.count(1)


def new_key() -> str:
    return f"key-{next(_keys)}"


def resident_client(household: Household, pin: str) -> Client:
    response = Client().post(
        "/api/v1/auth/resident-token",
        {"card": household.card_code, "pin": pin},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return Client(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")


def post(client: Client, path: str, body: Any, key: str | None = None) -> Any:
    """POST JSON (a dict, or raw text for bodies json.dumps cannot make), with a key if given."""
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, data, content_type="application/json", **headers)


def spending_snapshot() -> Snapshot:
    return {
        **snapshot(),
        "stock": sorted(Product.objects.values_list("pk", "stock")),
        "moves": StockMove.objects.count(),
        "redemptions": sorted(Redemption.objects.values_list("pk", "returned_at")),
        "orders": sorted(Order.objects.values_list("pk", "status")),
        "deliveries": sorted(Delivery.objects.values_list("pk", "status")),
        "codes": sorted(PaymentCode.objects.values_list("pk", "used_at")),
        "payments": sorted(Payment.objects.values_list("pk", "refunded")),
        "refunds": Refund.objects.count(),
        "statements": sorted(Statement.objects.values_list("pk", "status")),
    }
