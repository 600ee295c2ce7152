"""The store of tests.stores with the staff who use (or must not see) its back-office pages;
the merchant of tests.merchants is its own fixture (both builders make a "county" user)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from civicpoints.ledger.models import Account
from civicpoints.schemes.models import Role, User
from civicpoints.stores.models import Delivery, Order, Product, Redemption, StockMove
from tests.factories import JPEG, PNG, World, make_staff  # noqa: F401 (real images, re-exported)
from tests.ledger.helpers import ledger_snapshot
from tests.merchants.conftest import Till, build_till
from tests.stores.conftest import Shop, build_shop


@dataclass
class Staff:
    """Who is who: the shop's county admin and clerk, plus people who must get 404s."""

    world: World
    shop: Shop
    village_admin: User  # village a1: under the township store, but cannot manage it
    other_village_admin: User  # village b1, in another township
    township_admin: User  # township a, where the store is
    auditor: User
    cashier: User  # a merchant's clerk: no store pages


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def balance(account_of: Any) -> tuple[int, int]:
    account = Account.objects.get(household=account_of)
    return account.balance, account.held


def shelf_snapshot(scheme_id: int) -> dict[str, Any]:
    """The ledger plus everything a store writes: what a refused page must leave as it was."""
    return {
        **ledger_snapshot(scheme_id),
        "stock": sorted(Product.objects.values_list("pk", "stock")),
        "moves": StockMove.objects.count(),
        "redemptions": Redemption.objects.count(),
        "orders": sorted(Order.objects.values_list("pk", "status")),
        "deliveries": sorted(Delivery.objects.values_list("pk", "status", "proof_path")),
    }


@pytest.fixture(autouse=True)
def _evidence_in_tmp(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.EVIDENCE_ROOT = tmp_path / "evidence"


@pytest.fixture
def staff(world: World) -> Staff:
    shop = build_shop(world)
    return Staff(
        world=world,
        shop=shop,
        village_admin=make_staff("cunzhang", Role.VILLAGE_ADMIN, world.village_a1, world.scheme),
        other_village_admin=make_staff(
            "waicun", Role.VILLAGE_ADMIN, world.village_b1, world.scheme
        ),
        township_admin=make_staff("zhenli", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme),
        auditor=make_staff("shenji", Role.AUDITOR, world.county, world.scheme),
        cashier=make_staff("shouyin", Role.MERCHANT_CLERK, world.township_a, world.scheme),
    )


@pytest.fixture
def till(world: World) -> Till:
    return build_till(world)
