"""Small tools for store tests: balances and stock read fresh from the database, and a check
that a refused call names its error code and leaves the ledger and the shelves as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.ledger.models import Account
from civicpoints.ledger.selectors import account_total
from civicpoints.stores.models import (
    Ceremony,
    Delivery,
    Order,
    Product,
    Redemption,
    StockMove,
    Store,
)
from civicpoints.stores.services import store_account
from tests.ledger.helpers import ledger_snapshot


def balance(household: Household) -> int:
    return Account.objects.get(household=household).balance


def held(household: Household) -> int:
    return Account.objects.get(household=household).held


def available(household: Household) -> int:
    account = Account.objects.get(household=household)
    return account.balance - account.held


def stock(product: Product) -> int:
    return Product.objects.values_list("stock", flat=True).get(pk=product.pk)


def store_total(store: Store) -> int:
    return account_total(account_id=store_account(store).pk)


def moves_total(product: Product) -> int:
    """The running sum of a product's stock moves: must always equal its stock column."""
    return sum(StockMove.objects.filter(product=product).values_list("quantity", flat=True))


def store_snapshot(scheme_id: int) -> dict[str, Any]:
    """The ledger plus everything a store service writes."""
    return {
        **ledger_snapshot(scheme_id),
        "stock": sorted(Product.objects.values_list("pk", "stock")),
        "moves": StockMove.objects.count(),
        "redemptions": sorted(
            Redemption.objects.values_list("pk", "returned_at", "return_posting_id")
        ),
        "orders": sorted(Order.objects.values_list("pk", "status")),
        "deliveries": sorted(Delivery.objects.values_list("pk", "status", "proof_path")),
        "ceremonies": Ceremony.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def refused(
    code: ErrorCode, scheme_id: int, call: Callable[[], Any], *, audit_may_grow: bool = False
) -> ApplicationError:
    """Run ``call``, expect ``code``, and assert nothing a store writes has changed."""
    before = store_snapshot(scheme_id)
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.code == code, caught.value.as_json()
    after = store_snapshot(scheme_id)
    if audit_may_grow:
        before.pop("audit"), after.pop("audit")
    assert after == before
    return caught.value
