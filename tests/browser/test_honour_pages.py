"""排行榜 and 我的排名 in headless Chromium: Chinese glyphs, no serious axe violation, and on the
phone the elder-mode sizes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from civicpoints.demo.county import DEMO_PIN, build_demo
from civicpoints.households.models import Household
from civicpoints.ledger.chain import chain_follow
from tests.browser.a11y import axe_violations, small_text
from tests.browser.conftest import assert_cjk_font, resident_sign_in, shot, staff_sign_in
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]


@pytest.fixture
def demo(db):
    made = build_demo(households=80, password=PASSWORD, history=40)
    chain_follow(scheme_id=made.scheme.pk)
    return made


def test_the_county_ranking_page(page, demo):
    staff_sign_in(page, page.base_url, "county-admin")
    page.locator(".topbar nav > a", has_text="排行榜").click()
    page.get_by_label("期间").select_option("year")
    page.get_by_role("button", name="查看").click()
    page.wait_for_load_state()

    rows = page.locator("table tbody tr")
    assert rows.count() >= 2
    assert rows.first.locator("td").first.inner_text() == "1"
    assert_cjk_font(page)
    assert axe_violations(page) == []
    shot(page, "honours-rankings-staff")


def test_my_rank_on_the_phone(browser, live_server, demo):
    ranked = Household.objects.filter(scheme=demo.scheme, pin_hash__gt="").order_by("pk").first()
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    resident_sign_in(page, live_server.url, ranked.card_code, DEMO_PIN)
    page.get_by_role("link", name="我的排名").click()
    expect(page.get_by_role("heading", name="我的排名")).to_be_visible()
    assert_cjk_font(page)
    assert axe_violations(page) == []
    assert small_text(page) == []
    shot(page, "honours-my-rank-phone")
