"""On a 360px phone the stores page says why an item cannot be ordered (elder mode: the
reason in 18px+ text, no order button for it), and the order page for it says the same."""

from __future__ import annotations

import pytest

from civicpoints.stores.services import Item, redeem
from tests.browser.conftest import assert_cjk_font, resident_sign_in, shot
from tests.browser.test_portal_orders import assert_elder_mode
from tests.factories import build_world
from tests.stores.conftest import PIN, build_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_elder_sees_why_items_cannot_be_ordered(browser, live_server):
    shop = build_shop(build_world(), balance=11_000)  # 110 points
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.rice.pk, 2)],
        pin=PIN,
    )  # 50 points left; this month's two bags of rice are used up
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 360, "height": 740}, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    resident_sign_in(page, live_server.url, shop.household.card_code, PIN)

    page.goto(live_server.url + "/m/stores/")
    page.wait_for_load_state("load")
    cooker = page.locator(f"#product-{shop.cooker.pk}")
    assert cooker.locator(".why").inner_text() == "需 200 分，您可用 50 分"
    assert cooker.get_by_role("link").count() == 0
    rice = page.locator(f"#product-{shop.rice.pk}")
    assert rice.locator(".why").inner_text() == "本月已兑换 2 袋，限 2 袋"
    assert rice.get_by_role("link").count() == 0
    size = rice.locator(".why").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 18
    assert page.get_by_role("link", name="下单").count() == 0
    assert_cjk_font(page)
    assert_elder_mode(page)
    shot(page, "portal-stores-why-not")

    page.goto(f"{live_server.url}/m/stores/{shop.store.pk}/products/{shop.rice.pk}/order/")
    assert page.locator("#why").inner_text() == "现在不能下单：本月已兑换 2 袋，限 2 袋"
    assert page.locator("#order-form").count() == 0
    assert_elder_mode(page)
    shot(page, "portal-order-why-not")
    context.close()
