"""Residents order goods in the phone pages: the confirm page shows the numbers and carries one
idempotency key (a double tap is one order), the points are held (available drops, the balance
does not), goods are set aside, another household's order is a 404, cancelling gives it all back,
and a refusal says why in plain Chinese and writes nothing."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.households.services import household_set_pin
from civicpoints.households.standing import household_disqualify
from civicpoints.stores.models import Order, OrderStatus
from civicpoints.stores.services import Item, order_place
from tests.factories import World, make_household
from tests.ledger.helpers import assert_ledger_ok, run_in_threads
from tests.stores.conftest import PIN, Shop, build_shop
from tests.stores.helpers import available, balance, held, stock, store_snapshot


@pytest.fixture
def shop(world: World) -> Shop:
    return build_shop(world)


def resident(household, pin: str = PIN) -> Client:
    client = Client()
    response = client.post("/m/login/", {"card": household.card_code, "pin": pin})
    assert response.status_code == 302 and response["Location"] == "/m/"
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


def order_url(shop: Shop, product, step: str = "") -> str:
    return f"/m/stores/{shop.store.pk}/products/{product.pk}/order/{step}"


def confirm(client: Client, shop: Shop, product, **query: str) -> tuple[str, str]:
    """Open the confirm page; returns its text and the idempotency key in its form."""
    response = client.get(order_url(shop, product, "confirm/"), query)
    assert response.status_code == 200
    page = text(response)
    found = re.search(r'name="key" value="([^"]+)"', page)
    return page, found[1] if found else ""


def test_the_stores_page_offers_an_order_button_for_goods_in_stock(shop: Shop):
    shop.rice.stock = 0
    shop.rice.save(update_fields=["stock"])
    page = text(resident(shop.household).get("/m/stores/"))
    assert f'href="{order_url(shop, shop.cooker)}"' in page
    assert f'href="{order_url(shop, shop.rice)}"' not in page and "暂时缺货" in page
    assert 'href="/m/orders/"' in page


def test_an_order_holds_the_points_and_sets_the_goods_aside(shop: Shop):
    client = resident(shop.household)
    start = text(client.get(order_url(shop, shop.cooker)))
    assert "美的电饭煲" in start and "200 分/个" in start and "12700 分" in start
    assert 'name="delivery"' not in start  # pickup only: not a large item

    page, key = confirm(client, shop, shop.cooker, quantity="2")
    deadline = timezone.localdate() + dt.timedelta(days=shop.store.order_hold_days)
    assert "美的电饭煲 × 2个" in page
    assert '共需积分</dt><dd class="big">400 分' in page
    assert "您现在可用</dt><dd>12700 分" in page
    assert "下单后可用</dt><dd>12300 分" in page
    assert f"{deadline.year}年{deadline.month}月{deadline.day}日前（保留 7 天）" in page
    assert key.startswith("app-order-") and Order.objects.count() == 0

    done = client.post(
        order_url(shop, shop.cooker, "place/"),
        {"key": key, "quantity": "2", "delivery": "0", "address": ""},
    )
    assert done.status_code == 302 and done["Location"] == "/m/orders/"
    order = Order.objects.get()
    assert (order.household_id, order.store_id, order.points, order.status) == (
        shop.household.pk,
        shop.store.pk,
        40_000,
        OrderStatus.HELD,
    )
    assert (order.delivery, order.idempotency_key) == (False, key)
    assert list(order.lines.values_list("product_id", "quantity", "unit_price")) == [
        (shop.cooker.pk, 2, 20_000)
    ]
    assert balance(shop.household) == 1_270_000
    assert held(shop.household) == 40_000
    assert available(shop.household) == 1_230_000
    assert stock(shop.cooker) == 8

    listing = text(client.get("/m/orders/"))
    assert f"下单成功，订单号 {order.order_no}。400 分先冻结，取货时才扣除。" in listing
    assert order.order_no in listing and "待取货" in listing and "开通镇爱心超市" in listing
    assert "美的电饭煲 × 2个" in listing and "400 分" in listing
    assert f"请在 {deadline.year}年{deadline.month}月{deadline.day}日 前取货" in listing
    assert f'href="/m/orders/{order.pk}/cancel/"' in listing

    home = text(client.get("/m/"))
    assert "<strong>12300</strong>" in home
    assert "冻结中 400 分（订单待取货）" in home and "积分余额 12700 分" in home
    assert 'href="/m/orders/"' in home and "我的订单（待取货 1）" in home
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_double_tap_or_a_resubmit_is_one_order(shop: Shop):
    client = resident(shop.household)
    _, key = confirm(client, shop, shop.cooker, quantity="3")
    form = {"key": key, "quantity": "3", "delivery": "0", "address": ""}
    first = client.post(order_url(shop, shop.cooker, "place/"), form)
    second = client.post(order_url(shop, shop.cooker, "place/"), form)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == "/m/orders/"
    assert Order.objects.count() == 1
    assert held(shop.household) == 60_000 and balance(shop.household) == 1_270_000
    assert stock(shop.cooker) == 7
    # A fresh confirm page is a fresh key: a second order on purpose is a second order.
    _, other = confirm(client, shop, shop.cooker, quantity="3")
    assert other != key
    client.post(order_url(shop, shop.cooker, "place/"), {**form, "key": other})
    assert Order.objects.count() == 2 and held(shop.household) == 120_000
    assert_ledger_ok(shop.world.scheme.pk)


@pytest.mark.django_db(transaction=True)
def test_a_double_tap_arriving_at_once_is_one_order(world: World, postgres_only: None):
    """Six taps of one confirm page, each its own request on its own connection, at once."""
    shop = build_shop(world)
    _, key = confirm(resident(shop.household), shop, shop.cooker, quantity="2")
    clients = [resident(shop.household) for _ in range(6)]
    form = {"key": key, "quantity": "2", "delivery": "0", "address": ""}

    def tap(i: int) -> str:
        response = clients[i].post(order_url(shop, shop.cooker, "place/"), form)
        return f"{response.status_code} {response.get('Location')}"

    outcomes = run_in_threads(6, tap)
    assert [o.error for o in outcomes] == [None] * 6
    assert [o.value for o in outcomes] == ["302 /m/orders/"] * 6
    assert Order.objects.count() == 1
    assert (balance(shop.household), held(shop.household)) == (1_270_000, 40_000)
    assert stock(shop.cooker) == 8
    assert_ledger_ok(world.scheme.pk)


def test_a_large_item_can_be_delivered_to_the_household_address(shop: Shop):
    shop.household.address = "晓光村三组12号"
    shop.household.save(update_fields=["address"])
    client = resident(shop.household)
    start = text(client.get(order_url(shop, shop.freezer)))
    assert "送货上门" in start and ">晓光村三组12号</textarea>" in start
    page, key = confirm(
        client, shop, shop.freezer, quantity="1", delivery="1", address="晓光村三组12号"
    )
    assert "送货上门</dt><dd>晓光村三组12号" in page
    client.post(
        order_url(shop, shop.freezer, "place/"),
        {"key": key, "quantity": "1", "delivery": "1", "address": "晓光村三组12号"},
    )
    order = Order.objects.get()
    assert (order.delivery, order.address, order.points) == (True, "晓光村三组12号", 220_000)
    # Delivery is offered for large items only; asking for it on a small one is pickup.
    _, key = confirm(client, shop, shop.cooker, quantity="1", delivery="1", address="x")
    client.post(
        order_url(shop, shop.cooker, "place/"),
        {"key": key, "quantity": "1", "delivery": "1", "address": "x"},
    )
    assert Order.objects.order_by("pk").last().delivery is False  # type: ignore[union-attr]


def test_delivery_without_an_address_goes_back_to_the_first_page(shop: Shop):
    client = resident(shop.household)
    before = store_snapshot(shop.world.scheme.pk)
    response = client.get(
        order_url(shop, shop.freezer, "confirm/"),
        {"quantity": "2", "delivery": "1", "address": " "},
        follow=True,
    )
    assert response.redirect_chain[0][0].startswith(order_url(shop, shop.freezer) + "?")
    page = text(response)
    assert "请填写送货地址" in page
    assert 'value="2"' in page and 'value="1" checked' in page  # what was picked stays
    assert store_snapshot(shop.world.scheme.pk) == before


def test_the_confirm_page_says_when_the_points_are_not_enough(shop: Shop):
    client = resident(shop.household)
    page, key = confirm(client, shop, shop.cooker, quantity="7")  # 7 x 200 of 12700: fine
    assert key and "确认下单" in page
    page, key = confirm(client, shop, shop.freezer, quantity="6")  # 6 x 2200, only 3 in stock
    assert '<li class="error" role="status" id="why">现在不能下单：库存只剩 3 台</li>' in page
    assert key == "" and "确认下单" not in page


def test_the_confirm_page_says_how_many_points_are_missing(world):
    shop = build_shop(world, balance=300_000)
    client = resident(shop.household)
    page, key = confirm(client, shop, shop.freezer, quantity="2")
    assert (
        '<li class="error" role="status" id="why">现在不能下单：需 4400 分，您可用 3000 分</li>'
        in page
    )
    assert key == "" and "确认下单" not in page


@pytest.mark.parametrize(
    ("points", "product", "quantity", "message"),
    [
        (100_000, "freezer", "1", "需 2200 分，您可用 1000 分"),
        (1_270_000, "cooker", "11", "库存只剩 10 个"),
        (1_270_000, "rice", "3", "本月已兑换 0 袋，限 2 袋"),
        (1_270_000, "cooker", "0", "数量请填 1 到 999 之间的整数"),
    ],
)
def test_a_refused_order_says_why_and_writes_nothing(world, points, product, quantity, message):
    shop = build_shop(world, balance=points)
    client = resident(shop.household)
    chosen = getattr(shop, product)
    before = store_snapshot(world.scheme.pk)
    response = client.post(
        order_url(shop, chosen, "place/"),
        {"key": "app-order-" + "a" * 32, "quantity": quantity, "delivery": "0"},
        follow=True,
    )
    page = text(response)
    assert response.redirect_chain[0][0].startswith(order_url(shop, chosen) + "?")
    assert message in page and "下单成功" not in page
    assert store_snapshot(world.scheme.pk) == before
    assert available(shop.household) == points and held(shop.household) == 0


def test_a_disqualified_household_is_told_until_when(shop: Shop):
    today = timezone.localdate()
    household_disqualify(
        actor=shop.admin_actor,
        household=shop.household,
        reason="违规建房",
        starts_on=today,
        ends_on=today + dt.timedelta(days=30),
    )
    client = resident(shop.household)
    _, key = confirm(client, shop, shop.cooker, quantity="1")
    before = store_snapshot(shop.world.scheme.pk)
    response = client.post(
        order_url(shop, shop.cooker, "place/"), {"key": key, "quantity": "1"}, follow=True
    )
    until = (today + dt.timedelta(days=30)).isoformat()
    assert f"您家在一票否决期内（到 {until} 为止），这段时间不能兑换" in text(response)
    assert store_snapshot(shop.world.scheme.pk) == before


def test_cancelling_a_held_order_releases_the_points_and_the_goods(shop: Shop):
    client = resident(shop.household)
    _, key = confirm(client, shop, shop.cooker, quantity="2")
    client.post(order_url(shop, shop.cooker, "place/"), {"key": key, "quantity": "2"})
    order = Order.objects.get()
    ask = text(client.get(f"/m/orders/{order.pk}/cancel/"))
    assert "取消这个订单吗？" in ask and order.order_no in ask and "400 分" in ask
    assert Order.objects.get().status == OrderStatus.HELD  # asking changes nothing

    done = client.post(f"/m/orders/{order.pk}/cancel/", follow=True)
    assert f"订单 {order.order_no} 已取消，冻结的 400 分已退回。" in text(done)
    assert Order.objects.get().status == OrderStatus.CANCELLED
    assert (balance(shop.household), held(shop.household)) == (1_270_000, 0)
    assert stock(shop.cooker) == 10
    listing = text(done)
    assert "已取消" in listing and f'href="/m/orders/{order.pk}/cancel/"' not in listing
    assert "冻结中" not in text(client.get("/m/"))

    # Cancelling again is refused in words and changes nothing.
    before = store_snapshot(shop.world.scheme.pk)
    again = client.post(f"/m/orders/{order.pk}/cancel/", follow=True)
    assert "订单已取货、取消或过期" in text(again)
    assert store_snapshot(shop.world.scheme.pk) == before
    assert_ledger_ok(shop.world.scheme.pk)


def test_another_households_order_is_not_found(shop: Shop):
    neighbour = make_household(shop.world.scheme, shop.world.village_a1, "曾国涛")
    household_set_pin(actor_id=None, household=neighbour, pin="135790")
    theirs = order_place(
        household=shop.household,
        store=shop.store,
        items=[Item(product_id=shop.cooker.pk, quantity=1)],
        idempotency_key="theirs-0000000000000000",
    )
    client = resident(neighbour, "135790")
    assert client.get(f"/m/orders/{theirs.pk}/cancel/").status_code == 404
    before = store_snapshot(shop.world.scheme.pk)
    assert client.post(f"/m/orders/{theirs.pk}/cancel/").status_code == 404
    assert store_snapshot(shop.world.scheme.pk) == before
    assert Order.objects.get().status == OrderStatus.HELD
    assert theirs.order_no not in text(client.get("/m/orders/"))


def test_a_store_outside_the_households_area_is_not_found(world: World):
    shop = build_shop(world)
    far = make_household(world.scheme, world.village_b1, "兴盛村户")
    household_set_pin(actor_id=None, household=far, pin="135790")
    client = resident(far, "135790")
    assert client.get(order_url(shop, shop.cooker)).status_code == 404
    assert client.get(order_url(shop, shop.cooker, "confirm/"), {"quantity": 1}).status_code == 404
    response = client.post(
        order_url(shop, shop.cooker, "place/"), {"key": "app-order-" + "b" * 32, "quantity": "1"}
    )
    assert response.status_code == 404 and Order.objects.count() == 0


def test_order_pages_need_a_login(shop: Shop):
    for path in ("/m/orders/", order_url(shop, shop.cooker), "/m/orders/1/cancel/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].split("?")[0] == "/m/login/"
