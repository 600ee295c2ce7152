"""The staff menu per role and the remembered language switch, in headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from civicpoints.demo.county import DEMO_PIN, build_demo
from civicpoints.households.models import Household
from tests.browser.conftest import resident_sign_in, shot, staff_sign_in
from tests.factories import PASSWORD

# Once per scripts/test, in the SQLite pass: the PostgreSQL pass sets the run's time (docs/testing.md)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

MENUS = {
    "grid-worker": ["农户", "申报审核", "公示", "志愿活动", "邻里互助", "排行榜", "评比表彰"],
    "store-clerk": ["农户", "柜台", "超市", "订单", "送货"],
    "merchant-clerk": ["柜台"],
}


@pytest.fixture
def demo(db):
    return build_demo(households=80, password=PASSWORD, history=40)


@pytest.mark.parametrize("username", sorted(MENUS))
def test_the_menu_offers_only_what_the_role_can_use(page, demo, username):
    staff_sign_in(page, page.base_url, username)
    labels = page.locator(".topbar nav > a").all_inner_texts()
    assert [label.split()[0] for label in labels] == MENUS[username]
    shot(page, f"staff-menu-{username}")


def test_the_language_switch_is_remembered_across_pages(page, demo):
    staff_sign_in(page, page.base_url, "village-admin")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the page after the switch
    assert page.get_by_role("button", name="English").get_attribute("aria-pressed") == "true"
    page.locator(".topbar nav > a").first.click()  # another page, reached by the menu
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    shot(page, "staff-households-english")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")


def test_the_residents_language_button_is_a_full_tap_target(browser, live_server, demo):
    resident = Household.objects.filter(village__name="晓光村").order_by("pk").first()
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_default_timeout(15000)
    resident_sign_in(page, live_server.url, resident.card_code, DEMO_PIN)
    button = page.locator("header form.lang button")
    box = button.bounding_box()
    assert box is not None and box["width"] >= 60 and box["height"] >= 60, box
    shot(page, "resident-home-language-button")
    button.click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(live_server.url + "/m/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("header form.lang button").inner_text() == "中文"
    context.close()
