"""The resident's stores page (/m/stores/) says why an item cannot be ordered: not enough points
(需 N 分，您可用 M 分), over the household's limit for the period (本月已兑换 N 袋，限 M 袋),
out of stock, or disqualified. Such items have no order button, a forced POST is refused with
the same words and writes nothing, and the page costs the same few queries however many
products the stores hold."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.households.standing import household_disqualify
from civicpoints.stores.models import Product
from civicpoints.stores.services import Item, order_place, product_create, redeem, stock_receive
from tests.portal.test_orders import order_url, resident, text
from tests.stores.conftest import PIN, Shop, build_shop
from tests.stores.helpers import available, held, store_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(world) -> Shop:
    return build_shop(world)


def item_of(page: str, product: Product) -> str:
    found = re.search(rf'<li id="product-{product.pk}">(.*?)</li>', page, re.S)
    assert found, f"product {product.pk} not on the page"
    return found[1]


def forced(client, shop: Shop, product: Product, quantity: str = "1") -> str:
    response = client.post(
        order_url(shop, product, "place/"),
        {"key": "app-order-" + "f" * 32, "quantity": quantity, "delivery": "0"},
        follow=True,
    )
    assert response.redirect_chain[0][0].startswith(order_url(shop, product) + "?")
    return text(response)


def test_each_item_says_why_it_cannot_be_ordered_and_has_no_button(world):
    # 50 points available: the cooker (200) is too dear, the freezer (2200) too; rice (30)
    # is affordable but two bags were already redeemed this month (limit 2 a month).
    shop = build_shop(world, balance=11_000)
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.rice.pk, 2)],
        pin=PIN,
    )
    soap = product_create(actor=shop.admin_actor, store=shop.store, name="肥皂", price=500)
    empty = product_create(actor=shop.admin_actor, store=shop.store, name="洗衣粉", price=800)
    stock_receive(actor=shop.clerk_actor, product=soap, quantity=5)
    client = resident(shop.household)

    page = text(client.get("/m/stores/"))

    cooker = item_of(page, shop.cooker)
    assert '<span class="out why">需 200 分，您可用 50 分</span>' in cooker
    assert "order/" not in cooker
    assert '<span class="out why">需 2200 分，您可用 50 分</span>' in item_of(page, shop.freezer)
    rice = item_of(page, shop.rice)
    assert '<span class="out why">本月已兑换 2 袋，限 2 袋</span>' in rice
    assert "order/" not in rice
    assert '<span class="out why">暂时缺货</span>' in item_of(page, empty)
    assert f'href="{order_url(shop, soap)}"' in item_of(page, soap)
    assert "why" not in item_of(page, soap)


def test_a_forced_order_is_refused_with_the_same_words_and_nothing_written(world):
    shop = build_shop(world, balance=11_000)
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.rice.pk, 2)],
        pin=PIN,
    )
    client = resident(shop.household)
    before = store_snapshot(world.scheme.pk)

    for product, words in [
        (shop.cooker, "需 200 分，您可用 50 分"),
        (shop.rice, "本月已兑换 2 袋，限 2 袋"),
    ]:
        page = forced(client, shop, product)
        assert f'<li class="error" role="status">{words}</li>' in page
        assert "下单成功" not in page
        # The order page itself says the same and offers no next step.
        start = text(client.get(order_url(shop, product)))
        assert f"现在不能下单：{words}" in start and 'id="order-form"' not in start

    assert store_snapshot(world.scheme.pk) == before
    assert available(shop.household) == 5_000 and held(shop.household) == 0


def test_held_orders_count_towards_the_limit(world):
    shop = build_shop(world)
    order_place(household=shop.household, store=shop.store, items=[Item(shop.rice.pk, 1)])
    client = resident(shop.household)

    page = text(client.get("/m/stores/"))

    assert f'href="{order_url(shop, shop.rice)}"' in item_of(page, shop.rice)  # 1 of 2 used
    order_place(household=shop.household, store=shop.store, items=[Item(shop.rice.pk, 1)])
    page = text(client.get("/m/stores/"))
    assert '<span class="out why">本月已兑换 2 袋，限 2 袋</span>' in item_of(page, shop.rice)


def test_a_disqualified_household_is_told_on_every_item(shop: Shop):
    today = timezone.localdate()
    household_disqualify(
        actor=shop.admin_actor,
        household=shop.household,
        reason="违规建房",
        starts_on=today,
        ends_on=today + dt.timedelta(days=30),
    )
    client = resident(shop.household)
    before = store_snapshot(shop.world.scheme.pk)

    page = text(client.get("/m/stores/"))

    words = f"您家在一票否决期内（到 {today + dt.timedelta(days=30)} 为止），这段时间不能兑换"
    for product in (shop.cooker, shop.freezer, shop.rice):
        assert f'<span class="out why">{words}</span>' in item_of(page, product)
    assert "/order/" not in page
    assert f'<li class="error" role="status">{words}</li>' in forced(client, shop, shop.cooker)
    assert store_snapshot(shop.world.scheme.pk) == before


def test_the_page_makes_no_query_per_product(shop: Shop):
    client = resident(shop.household)
    with CaptureQueriesContext(connection) as three:
        assert client.get("/m/stores/").status_code == 200
    for n in range(30):
        product = product_create(
            actor=shop.admin_actor,
            store=shop.store,
            name=f"商品{n}",
            price=100 + n,
            limit_quantity=1,
            limit_period=["day", "week", "month", "year"][n % 4],
        )
        stock_receive(actor=shop.clerk_actor, product=product, quantity=1)

    with CaptureQueriesContext(connection) as many:
        page = text(client.get("/m/stores/"))

    assert page.count("/order/") == 3 + 30
    assert len(many.captured_queries) == len(three.captured_queries)
