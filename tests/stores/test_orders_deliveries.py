"""App orders hold points until pickup (capture) or cancel/expiry (release); large items go out
for delivery and come back delivered (with a proof image checked by content) or failed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.images import image_clean
from civicpoints.ledger.models import Hold, HoldStatus, Posting, PostingKind
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import (
    Delivery,
    DeliveryStatus,
    Order,
    OrderStatus,
    Redemption,
    RedemptionMode,
    RedemptionSource,
    StockMove,
)
from civicpoints.stores.services import (
    Item,
    delivery_complete,
    delivery_dispatch,
    delivery_fail,
    order_cancel,
    order_pickup,
    order_place,
    orders_expire,
    product_update,
    redeem,
    redemption_return,
    stock_receive,
)
from tests.factories import JPEG, PNG, make_staff  # real images: uploads are re-encoded
from tests.ledger.helpers import assert_ledger_ok, ledger_snapshot
from tests.stores.conftest import PIN, Shop
from tests.stores.helpers import (
    available,
    balance,
    held,
    moves_total,
    refused,
    stock,
    store_snapshot,
    store_total,
)


@pytest.fixture(autouse=True)
def _evidence_in_tmp(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.EVIDENCE_ROOT = tmp_path


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def place(shop: Shop, *items: Item, **kw: object) -> Order:
    return order_place(household=shop.household, store=shop.store, items=list(items), **kw)  # type: ignore[arg-type]


# --- orders --------------------------------------------------------------------------------


def test_an_order_holds_points_and_sets_goods_aside_until_pickup(shop: Shop) -> None:
    postings = Posting.objects.count()
    # Given 12,700 points; when the resident orders 2 rice cookers (400 points) in the app
    order = place(shop, Item(shop.cooker.pk, 2))
    # Then 400 points are held: the balance stays, what is available drops; no posting yet
    assert (balance(shop.household), held(shop.household)) == (1_270_000, 40_000)
    assert available(shop.household) == 1_230_000
    assert Posting.objects.count() == postings
    hold = Hold.objects.get(pk=order.hold_id)
    assert (hold.status, hold.amount) == (HoldStatus.ACTIVE, 40_000)
    # And 2 cookers leave the shelf for the order
    assert stock(shop.cooker) == 8 == moves_total(shop.cooker)
    assert order.expires_at == order.created_at + dt.timedelta(days=7)
    # When the resident picks them up
    redemption = order_pickup(actor=shop.clerk_actor, order=order)
    # Then the hold is captured into one redemption posting household -> store
    assert (balance(shop.household), held(shop.household)) == (1_230_000, 0)
    assert store_total(shop.store) == 40_000
    assert (redemption.points, redemption.mode, redemption.source) == (
        40_000,
        RedemptionMode.APP,
        RedemptionSource.ORDER,
    )
    assert redemption.posting is not None
    assert redemption.posting.kind == PostingKind.REDEMPTION
    assert Hold.objects.get(pk=hold.pk).status == HoldStatus.CAPTURED
    order.refresh_from_db()
    assert (order.status, order.redemption_id) == (OrderStatus.PICKED_UP, redemption.pk)
    # The goods were set aside already: pickup takes nothing more from the shelf
    assert stock(shop.cooker) == 8 == moves_total(shop.cooker)
    assert Posting.objects.count() == postings + 1
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_picked_up_order_cannot_be_picked_up_again_or_cancelled(shop: Shop) -> None:
    order = place(shop, Item(shop.cooker.pk, 1))
    order_pickup(actor=shop.clerk_actor, order=order)
    scheme = shop.world.scheme.pk
    refused(
        ErrorCode.ORDER_NOT_OPEN, scheme, lambda: order_pickup(actor=shop.clerk_actor, order=order)
    )
    refused(ErrorCode.ORDER_NOT_OPEN, scheme, lambda: order_cancel(order=order))
    refused(ErrorCode.ORDER_NOT_OPEN, scheme, lambda: order_cancel(order=order, expired=True))
    assert (balance(shop.household), held(shop.household)) == (1_250_000, 0)


def test_cancelling_an_order_releases_the_hold_and_restores_stock(shop: Shop) -> None:
    order = place(shop, Item(shop.cooker.pk, 2), Item(shop.rice.pk, 1))
    assert held(shop.household) == 43_000
    before = ledger_snapshot(shop.world.scheme.pk)
    # When the store cancels it
    order_cancel(order=order, actor=shop.clerk_actor)
    # Then nothing was posted: the points are available again and the goods back on the shelf
    assert (balance(shop.household), held(shop.household)) == (1_270_000, 0)
    assert (stock(shop.cooker), stock(shop.rice)) == (10, 50)
    assert moves_total(shop.cooker) == 10 and moves_total(shop.rice) == 50
    after = ledger_snapshot(shop.world.scheme.pk)
    assert (after["postings"], after["entries"]) == (before["postings"], before["entries"])
    assert Hold.objects.get(pk=order.hold_id).status == HoldStatus.RELEASED
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.closed_at is not None
    assert sorted(
        StockMove.objects.filter(order=order).values_list("kind", "product_id", "quantity")
    ) == sorted(
        [
            ("order", shop.cooker.pk, -2),
            ("order", shop.rice.pk, -1),
            ("order_release", shop.cooker.pk, 2),
            ("order_release", shop.rice.pk, 1),
        ]
    )
    # Cancelling twice, or picking up a cancelled order, is refused
    scheme = shop.world.scheme.pk
    refused(ErrorCode.ORDER_NOT_OPEN, scheme, lambda: order_cancel(order=order))
    refused(
        ErrorCode.ORDER_NOT_OPEN, scheme, lambda: order_pickup(actor=shop.clerk_actor, order=order)
    )
    assert_ledger_ok(scheme)


def test_orders_expire_at_their_pickup_deadline_and_not_before(shop: Shop) -> None:
    order = place(shop, Item(shop.freezer.pk, 1))
    later = place(shop, Item(shop.cooker.pk, 1))
    Order.objects.filter(pk=later.pk).update(expires_at=order.expires_at + dt.timedelta(hours=1))
    assert (held(shop.household), stock(shop.freezer), stock(shop.cooker)) == (240_000, 2, 9)
    # One microsecond before the deadline nothing expires
    assert orders_expire(at=order.expires_at - dt.timedelta(microseconds=1)) == 0
    assert held(shop.household) == 240_000
    # At the deadline the first order expires: its hold released, its freezer back
    assert orders_expire(at=order.expires_at) == 1
    assert (held(shop.household), stock(shop.freezer), stock(shop.cooker)) == (20_000, 3, 9)
    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED
    # Running the job again changes nothing; an hour later the second one goes too
    assert orders_expire(at=order.expires_at) == 0
    assert orders_expire(at=order.expires_at + dt.timedelta(hours=1)) == 1
    assert (balance(shop.household), held(shop.household)) == (1_270_000, 0)
    assert (stock(shop.freezer), stock(shop.cooker)) == (3, 10)
    # An expired order cannot be picked up
    refused(
        ErrorCode.ORDER_NOT_OPEN,
        shop.world.scheme.pk,
        lambda: order_pickup(actor=shop.clerk_actor, order=order),
    )
    assert_ledger_ok(shop.world.scheme.pk)


def test_an_order_beyond_the_available_points_or_the_stock_writes_nothing(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    # Given 12,700 points and an order of 2 freezers (4,400 held, 8,300 available, 1 left)
    place(shop, Item(shop.freezer.pk, 2))
    assert available(shop.household) == 830_000
    # Two more freezers: not on the shelf (the hold taken first is rolled back too)
    refused(ErrorCode.OUT_OF_STOCK, scheme, lambda: place(shop, Item(shop.freezer.pk, 2)))
    # Three bags of rice: over the limit of 2 a month
    refused(ErrorCode.PURCHASE_LIMIT, scheme, lambda: place(shop, Item(shop.rice.pk, 3)))
    # The last freezer and all 10 cookers (4,200) fit: 4,100 remain available
    place(shop, Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 10))
    assert available(shop.household) == 410_000
    assert (stock(shop.freezer), stock(shop.cooker)) == (0, 0)
    # Two new freezers arrive; an order for both (4,400) exceeds what is available
    stock_receive(actor=shop.clerk_actor, product=shop.freezer, quantity=2)
    error = refused(
        ErrorCode.INSUFFICIENT_POINTS, scheme, lambda: place(shop, Item(shop.freezer.pk, 2))
    )
    assert error.detail["available"] == 4_100.0
    assert stock(shop.freezer) == 2
    # A counter redemption cannot spend held points either (balance 12,700, held 8,600)
    refused(
        ErrorCode.INSUFFICIENT_POINTS,
        scheme,
        lambda: redeem(
            actor=shop.clerk_actor,
            store=shop.store,
            household=shop.household,
            items=[Item(shop.freezer.pk, 2)],
            pin=PIN,
        ),
    )
    assert_ledger_ok(scheme)


def test_a_repeated_order_key_returns_the_first_order(shop: Shop) -> None:
    first = place(shop, Item(shop.cooker.pk, 2), idempotency_key="app-1")
    again = place(shop, Item(shop.cooker.pk, 2), idempotency_key="app-1")
    assert again.pk == first.pk
    assert (held(shop.household), stock(shop.cooker)) == (40_000, 8)
    assert Order.objects.count() == Hold.objects.count() == 1


def test_the_same_order_key_for_a_different_order_is_refused(shop: Shop) -> None:
    # DESIGN.md section 5: the same key with a different request is refused (422)
    place(shop, Item(shop.cooker.pk, 2), idempotency_key="app-2")
    scheme = shop.world.scheme.pk
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        scheme,
        lambda: place(shop, Item(shop.cooker.pk, 3), idempotency_key="app-2"),
    )
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        scheme,
        lambda: place(shop, Item(shop.freezer.pk, 1), idempotency_key="app-2"),
    )
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        scheme,
        lambda: place(
            shop, Item(shop.cooker.pk, 2), idempotency_key="app-2", delivery_address="三组 5 号"
        ),
    )
    assert (held(shop.household), stock(shop.cooker)) == (40_000, 8)


def test_an_order_for_delivery_becomes_a_pending_delivery_at_pickup(shop: Shop) -> None:
    order = place(shop, Item(shop.freezer.pk, 1), delivery_address=" 晓光村三组 12 号 ")
    assert (order.delivery, order.address) == (True, "晓光村三组 12 号")
    refused(
        ErrorCode.INVALID_INPUT,
        shop.world.scheme.pk,
        lambda: place(shop, Item(shop.cooker.pk, 1), delivery_address="  "),
    )
    redemption = order_pickup(actor=shop.clerk_actor, order=order)
    delivery = Delivery.objects.get(redemption=redemption)
    assert (delivery.status, delivery.address, delivery.phone) == (
        DeliveryStatus.PENDING,
        "晓光村三组 12 号",
        "13912345678",
    )


def test_a_picked_up_order_can_be_returned(shop: Shop) -> None:
    order = place(shop, Item(shop.cooker.pk, 2))
    redemption = order_pickup(actor=shop.clerk_actor, order=order)
    redemption_return(actor=shop.clerk_actor, redemption=redemption, reason="买重了")
    assert (balance(shop.household), held(shop.household)) == (1_270_000, 0)
    assert stock(shop.cooker) == 10 == moves_total(shop.cooker)
    assert store_total(shop.store) == 0
    assert_ledger_ok(shop.world.scheme.pk)


# --- deliveries ----------------------------------------------------------------------------


def _delivery(shop: Shop) -> Delivery:
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组 12 号",
    )
    return Delivery.objects.get(redemption=redemption)


def test_delivery_goes_pending_out_delivered_with_a_photo(shop: Shop, tmp_path: Path) -> None:
    delivery = _delivery(shop)
    ledger = ledger_snapshot(shop.world.scheme.pk)
    out = delivery_dispatch(actor=shop.clerk_actor, delivery=delivery, courier="李师傅")
    assert (out.status, out.courier) == (DeliveryStatus.OUT, "李师傅")
    assert out.out_at is not None
    done = delivery_complete(actor=shop.clerk_actor, delivery=out, proof=JPEG)
    assert (done.status, done.proof_type) == (DeliveryStatus.DELIVERED, "image/jpeg")
    assert done.closed_at is not None
    stored = files_under(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in stored] == [done.proof_path]
    assert stored[0].read_bytes() == image_clean(JPEG).data  # re-encoded, no metadata
    # Deliveries move no points
    assert ledger_snapshot(shop.world.scheme.pk) == ledger
    assert_ledger_ok(shop.world.scheme.pk)


def test_invalid_delivery_transitions_are_refused(shop: Shop) -> None:
    scheme = shop.world.scheme.pk
    delivery = _delivery(shop)
    clerk = shop.clerk_actor
    # pending: cannot be delivered or failed before it goes out
    refused(
        ErrorCode.INVALID_TRANSITION,
        scheme,
        lambda: delivery_complete(actor=clerk, delivery=delivery, proof=PNG),
    )
    refused(
        ErrorCode.INVALID_TRANSITION,
        scheme,
        lambda: delivery_fail(actor=clerk, delivery=delivery, reason="家里没人"),
    )
    delivery_dispatch(actor=clerk, delivery=delivery)
    # out: cannot go out again
    refused(
        ErrorCode.INVALID_TRANSITION,
        scheme,
        lambda: delivery_dispatch(actor=clerk, delivery=delivery),
    )
    # failed needs a reason; then it may go out again
    refused(
        ErrorCode.INVALID_INPUT,
        scheme,
        lambda: delivery_fail(actor=clerk, delivery=delivery, reason="  "),
    )
    failed = delivery_fail(actor=clerk, delivery=delivery, reason="家里没人")
    assert (failed.status, failed.failure_reason) == (DeliveryStatus.FAILED, "家里没人")
    refused(
        ErrorCode.INVALID_TRANSITION,
        scheme,
        lambda: delivery_complete(actor=clerk, delivery=delivery, proof=PNG),
    )
    delivery_dispatch(actor=clerk, delivery=delivery, courier="王师傅")
    delivered = delivery_complete(actor=clerk, delivery=delivery, proof=PNG)
    assert (delivered.status, delivered.proof_type) == (DeliveryStatus.DELIVERED, "image/png")
    # delivered is final
    for call in (
        lambda: delivery_dispatch(actor=clerk, delivery=delivery),
        lambda: delivery_fail(actor=clerk, delivery=delivery, reason="x"),
        lambda: delivery_complete(actor=clerk, delivery=delivery, proof=JPEG),
    ):
        refused(ErrorCode.INVALID_TRANSITION, scheme, call)


@pytest.mark.parametrize(
    "proof",
    [
        b"",
        b"GIF89a" + b"\0" * 64,
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"%PDF-1.4 signature",
        b"\x89PNG but not really",
        b"just some text named photo.jpg",
    ],
)
def test_a_proof_that_is_not_a_photo_is_refused_by_its_content(
    shop: Shop, tmp_path: Path, proof: bytes
) -> None:
    delivery = _delivery(shop)
    delivery_dispatch(actor=shop.clerk_actor, delivery=delivery)
    error = refused(
        ErrorCode.INVALID_INPUT,
        shop.world.scheme.pk,
        lambda: delivery_complete(actor=shop.clerk_actor, delivery=delivery, proof=proof),
    )
    assert error.detail == {"field": "proof"}
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.OUT
    assert files_under(tmp_path) == []


def test_a_refused_transition_leaves_no_proof_file_behind(shop: Shop, tmp_path: Path) -> None:
    delivery = _delivery(shop)  # still pending
    before = store_snapshot(shop.world.scheme.pk)
    with pytest.raises(ApplicationError) as caught:
        delivery_complete(actor=shop.clerk_actor, delivery=delivery, proof=JPEG)
    assert caught.value.code == ErrorCode.INVALID_TRANSITION
    assert store_snapshot(shop.world.scheme.pk) == before
    assert files_under(tmp_path) == []


def test_only_counter_staff_move_deliveries(shop: Shop) -> None:
    delivery = _delivery(shop)
    outsider = actor_for_user(
        make_staff("zhen-b", Role.TOWNSHIP_ADMIN, shop.world.township_b, shop.world.scheme)
    )
    refused(
        ErrorCode.PERMISSION_DENIED,
        shop.world.scheme.pk,
        lambda: delivery_dispatch(actor=outsider, delivery=delivery),
    )
    assert Redemption.objects.count() == 1


def test_a_price_change_after_ordering_does_not_change_the_pickup_receipt(shop: Shop) -> None:
    # Given 2 cookers ordered at 200 points each (400 held)
    order = place(shop, Item(shop.cooker.pk, 2))
    # When the store raises the price to 250 before the resident comes
    product_update(actor=shop.admin_actor, product=shop.cooker, price=25_000)
    redemption = order_pickup(actor=shop.clerk_actor, order=order)
    # Then the resident pays what was held, and the receipt's lines say the same
    assert redemption.points == 40_000
    lines = list(redemption.lines.values_list("product_id", "quantity", "unit_price"))
    assert lines == [(shop.cooker.pk, 2, 20_000)]
    assert sum(q * p for _, q, p in lines) == redemption.points
    assert balance(shop.household) == 1_230_000
