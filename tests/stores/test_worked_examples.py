"""Worked examples from the issue: exact numbers, ledger invariants at the end."""

from __future__ import annotations

from civicpoints.households.models import Household
from civicpoints.ledger.models import Account
from civicpoints.stores.models import Delivery, DeliveryStatus, Product
from civicpoints.stores.services import (
    Item,
    delivery_complete,
    delivery_dispatch,
    redeem,
    redemption_return,
)
from tests.factories import PNG  # real images: uploads are re-encoded
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, Shop


def balance(household: Household) -> int:
    return Account.objects.get(household=household).balance


def test_freezer_and_rice_cooker_with_delivery(shop: Shop) -> None:
    # Given a household with 12,700 points (after notice)
    assert balance(shop.household) == 1_270_000
    # When it redeems a freezer (2,200) and a rice cooker (200) with home delivery
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组 12 号",
        idempotency_key="tap-1",
    )
    # Then 2,400 points leave, 10,300 remain, stock drops, a delivery is pending
    assert redemption.points == 240_000
    assert balance(shop.household) == 1_030_000
    assert Product.objects.get(pk=shop.freezer.pk).stock == 2
    assert Product.objects.get(pk=shop.cooker.pk).stock == 9
    delivery = Delivery.objects.get(redemption=redemption)
    assert delivery.status == DeliveryStatus.PENDING
    # A double tap is one redemption
    again = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组 12 号",
        idempotency_key="tap-1",
    )
    assert again.pk == redemption.pk
    assert balance(shop.household) == 1_030_000
    delivery_dispatch(actor=shop.clerk_actor, delivery=delivery, courier="李师傅")
    delivered = delivery_complete(actor=shop.clerk_actor, delivery=delivery, proof=PNG)
    assert delivered.status == DeliveryStatus.DELIVERED
    assert_ledger_ok(shop.world.scheme.pk)


def test_return_restores_points_and_stock(shop: Shop) -> None:
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 2)],
        pin=PIN,
    )
    assert balance(shop.household) == 1_270_000 - 40_000
    redemption_return(actor=shop.clerk_actor, redemption=redemption, reason="质量问题")
    assert balance(shop.household) == 1_270_000
    assert Product.objects.get(pk=shop.cooker.pk).stock == 10
    assert_ledger_ok(shop.world.scheme.pk)
