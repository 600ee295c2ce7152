"""A resident orders from the love supermarket on a 360px phone: elder mode (big text, 60px+
targets, no sideways scrolling), the − / + buttons, the confirm page's numbers, 我的订单."""

from __future__ import annotations

import pytest

from civicpoints.stores.models import Order, OrderStatus
from tests.browser.conftest import assert_cjk_font, resident_sign_in, shot
from tests.factories import build_world
from tests.stores.conftest import PIN, build_shop
from tests.stores.helpers import available, balance, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ELDER_CHECK = """() => {
  // Every element that shows text of its own, not just paragraphs.
  const small = [...document.querySelectorAll('main *')]
    .filter(e => e.offsetParent && [...e.childNodes].some(n => n.nodeType === 3 && n.data.trim()))
    .filter(e => parseFloat(getComputedStyle(e).fontSize) < 18)
    .map(e => e.textContent.trim().slice(0, 20));
  const tiny = [...document.querySelectorAll('main button, main a.button, main .choice')]
    .filter(e => e.offsetParent && e.getBoundingClientRect().height < 60)
    .map(e => e.textContent.trim().slice(0, 20));
  return {small, tiny, wide: document.documentElement.scrollWidth};
}"""


def assert_elder_mode(page) -> None:
    found = page.evaluate(ELDER_CHECK)
    assert found["small"] == [] and found["tiny"] == [], found
    assert found["wide"] <= 360, "the page scrolls sideways on a 360px phone"


def test_an_elder_orders_a_rice_cooker_on_a_small_phone(browser, live_server):
    shop = build_shop(build_world())
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 360, "height": 740}, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    resident_sign_in(page, live_server.url, shop.household.card_code, PIN)

    page.get_by_role("link", name="兑换").click()
    page.get_by_role("link", name="下单：美的电饭煲").wait_for()
    page.wait_for_load_state("load")  # the stylesheet (and so the font) is in
    assert_cjk_font(page)
    assert_elder_mode(page)
    shot(page, "portal-order-stores")
    page.get_by_role("link", name="下单：美的电饭煲").click()

    page.get_by_role("button", name="多一份").click()
    page.get_by_role("button", name="多一份").click()
    page.get_by_role("button", name="少一份").click()
    assert page.get_by_label("要几份").input_value() == "2"
    assert page.locator("#order-total").inner_text() == "400"
    assert_elder_mode(page)
    shot(page, "portal-order-quantity")
    page.get_by_role("button", name="下一步：核对订单").click()

    page.get_by_role("heading", name="核对订单").wait_for()
    summary = page.locator(".summary").inner_text()
    assert "美的电饭煲 × 2个" in summary and "400 分" in summary and "12300 分" in summary
    assert_elder_mode(page)
    shot(page, "portal-order-confirm")
    page.get_by_role("button", name="确认下单").click()

    page.get_by_role("heading", name="我的订单").wait_for()
    order = Order.objects.get()
    assert (order.status, order.points) == (OrderStatus.HELD, 40_000)
    assert page.get_by_text(f"下单成功，订单号 {order.order_no}").is_visible()
    assert page.locator(".order .status").inner_text() == "待取货"
    assert (balance(shop.household), available(shop.household)) == (1_270_000, 1_230_000)
    assert stock(shop.cooker) == 8
    assert_elder_mode(page)
    shot(page, "portal-order-list")

    page.get_by_role("link", name="返回首页").click()
    page.get_by_text("冻结中 400 分（订单待取货）").wait_for()
    assert page.locator(".balance strong").inner_text() == "12300"
    assert_elder_mode(page)
    shot(page, "portal-order-home")
    context.close()
