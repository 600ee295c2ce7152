"""Stock: purchases, donations and stocktakes move it with a reason; it never goes below zero,
neither through the services (guarded UPDATE) nor around them (the database CHECK)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ErrorCode
from civicpoints.stores.models import Product, StockMove, StockMoveKind
from civicpoints.stores.selectors import low_stock
from civicpoints.stores.services import Item, redeem, stock_count, stock_receive
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, Shop
from tests.stores.helpers import balance, moves_total, refused, stock


def test_purchase_donation_and_stocktake_each_record_a_move(shop: Shop) -> None:
    cooker = shop.cooker
    # Given 10 rice cookers on the shelf (one purchase move)
    assert stock(cooker) == 10 and moves_total(cooker) == 10
    # When 5 are bought for 900.00 yuan and 3 donated (valued 600.00 yuan)
    bought = stock_receive(actor=shop.clerk_actor, product=cooker, quantity=5, value_fen=90_000)
    donated = stock_receive(
        actor=shop.clerk_actor,
        product=cooker,
        quantity=3,
        kind=StockMoveKind.DONATION,
        value_fen=60_000,
        donor="通榆县慈善总会",
    )
    # Then stock is 18 and each move says what it was worth and who gave it
    assert stock(cooker) == 18
    assert (bought.kind, bought.quantity, bought.value_fen, bought.donor) == (
        "purchase",
        5,
        90_000,
        "",
    )
    assert (donated.kind, donated.quantity, donated.value_fen, donated.donor) == (
        "donation",
        3,
        60_000,
        "通榆县慈善总会",
    )
    # When the stocktake counts 16 (two missing)
    counted = stock_count(actor=shop.clerk_actor, product=cooker, counted=16, reason="盘点短少")
    # Then the difference is a move of -2 with its reason, and the moves add up to the stock
    assert counted is not None
    assert (counted.kind, counted.quantity, counted.reason) == ("stocktake", -2, "盘点短少")
    assert stock(cooker) == 16 == moves_total(cooker)
    # A stocktake that finds what the books say records nothing
    assert stock_count(actor=shop.clerk_actor, product=cooker, counted=16, reason="复盘") is None
    assert StockMove.objects.filter(product=cooker).count() == 4
    actions = list(
        AuditEvent.objects.filter(action__startswith="stock.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == ["stock.purchase", "stock.donation", "stock.stocktake"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"quantity": 2, "kind": StockMoveKind.DONATION, "donor": "  "}, "donor"),
        ({"quantity": 2, "kind": StockMoveKind.REDEMPTION}, "kind"),
        ({"quantity": 2, "value_fen": -1}, "value"),
    ],
)
def test_bad_stock_receipts_are_refused(shop: Shop, kwargs: dict, field: str) -> None:
    error = refused(
        ErrorCode.INVALID_INPUT,
        shop.world.scheme.pk,
        lambda: stock_receive(actor=shop.clerk_actor, product=shop.cooker, **kwargs),
    )
    assert error.detail["field"] == field


def test_stocktake_needs_a_reason_and_a_count_not_below_zero(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    refused(
        ErrorCode.INVALID_INPUT,
        scheme,
        lambda: stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=8, reason=" "),
    )
    refused(
        ErrorCode.INVALID_INPUT,
        scheme,
        lambda: stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=-1, reason="x"),
    )
    assert stock(shop.cooker) == 10


def test_selling_the_whole_stock_leaves_zero_and_one_more_is_refused(shop: Shop) -> None:
    # Given 3 freezers and a household with 12,700 points
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 3)],
        pin=PIN,
    )
    # Then all three are gone: 6,600 points paid, stock 0
    assert redemption.points == 660_000
    assert stock(shop.freezer) == 0 == moves_total(shop.freezer)
    assert balance(shop.household) == 610_000
    # When one more freezer is asked for, it is refused and nothing changes
    error = refused(
        ErrorCode.OUT_OF_STOCK,
        shop.world.scheme.pk,
        lambda: redeem(
            actor=shop.clerk_actor,
            store=shop.store,
            household=shop.household,
            items=[Item(shop.freezer.pk, 1)],
            pin=PIN,
        ),
    )
    assert error.detail == {"product": shop.freezer.pk, "stock": 0, "wanted": 1}
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_basket_wanting_more_than_the_shelf_holds_changes_nothing(shop: Shop) -> None:
    # Given 10 cookers and 50 bags of rice: a basket of 1 rice and 11 cookers
    error = refused(
        ErrorCode.OUT_OF_STOCK,
        shop.world.scheme.pk,
        lambda: redeem(
            actor=shop.clerk_actor,
            store=shop.store,
            household=shop.household,
            items=[Item(shop.rice.pk, 1), Item(shop.cooker.pk, 6), Item(shop.cooker.pk, 5)],
            pin=PIN,
        ),
    )
    # Then the two cooker lines count together and no unit of anything leaves the shelf
    assert error.detail == {"product": shop.cooker.pk, "stock": 10, "wanted": 11}
    assert (stock(shop.rice), stock(shop.cooker)) == (50, 10)
    assert balance(shop.household) == 1_270_000


def test_the_database_refuses_negative_stock_around_the_orm(shop: Shop) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=shop.cooker.pk).update(stock=-1)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE stores_product SET stock = stock - 11 WHERE id = %s", [shop.cooker.pk]
        )
    assert stock(shop.cooker) == 10


def test_low_stock_lists_products_at_or_below_their_threshold(shop: Shop) -> None:
    # Given freezer 3, cooker 10, rice 50 (alert at 5 each): only the freezer is low
    assert list(low_stock(shop.store)) == [shop.freezer]
    # When 5 cookers are redeemed, the cooker reaches its threshold too
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 5)],
        pin=PIN,
    )
    assert list(low_stock(shop.store)) == [shop.freezer, shop.cooker]
