"""Residents' pages on a phone-sized screen: elder mode (20px+ text, 60px+ targets)."""

from __future__ import annotations

import pytest

from civicpoints.households.services import household_set_pin
from civicpoints.rules.catalogue import load_catalogue
from tests.browser.conftest import resident_sign_in, shot
from tests.factories import build_world, fund, make_household

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_elder_logs_in_with_the_card_and_sees_big_text(browser, live_server):
    world = build_world()
    load_catalogue(scheme=world.scheme)
    me = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=me, pin="258369")
    fund(me, 1270000)
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    resident_sign_in(page, live_server.url, me.card_code, "258369")
    assert page.locator(".balance strong").inner_text() == "12700"
    body_px = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert body_px >= 20
    heights = page.locator(".tile").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert len(heights) == 4 and min(heights) >= 60  # 我的积分 积分码 兑换 公示
    shot(page, "portal-home")
    page.get_by_role("link", name="申报好人好事").click()
    page.get_by_label("做了什么").wait_for()
    shot(page, "portal-report")
    context.close()
