"""The check-in screen in a real browser: a USB scanner types a card code and Enter, the
result appears in large Chinese text, and the camera scanner loads from local static files."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from civicpoints.activities.services import activity_create, activity_enrol
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.browser.conftest import assert_cjk_font, shot, staff_sign_in
from tests.factories import build_world, make_household, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_usb_scanner_checks_a_resident_in_and_out(page):
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin = make_staff("cunzhang", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    make_staff("wangge", Role.GRID_WORKER, world.village_a1, world.scheme)
    now = timezone.now()
    activity = activity_create(
        actor=actor_for_user(admin),
        scheme=world.scheme,
        region=world.village_a1,
        title="清理村道垃圾",
        place="晓光村村委会门前",
        starts_at=now - dt.timedelta(minutes=20),
        ends_at=now + dt.timedelta(hours=3),
        rule_id=rules["H01"].pk,
        capacity=30,
        publish=True,
    )
    wang = make_household(world.scheme, world.village_a1, "王秀英")
    zeng = make_household(world.scheme, world.village_a1, "曾国涛")
    activity_enrol(activity=activity, household=wang, actor=actor_for_user(admin))

    staff_sign_in(page, page.base_url, "wangge")
    page.goto(f"{page.base_url}/activities/")
    page.get_by_role("link", name="清理村道垃圾").click()
    # htmx loads deferred; a scan before it would take the plain-form path (also handled,
    # with the result as a page message), but this test is about the HTMX screen.
    page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")

    # The field has the focus: a USB scanner just "types" the code and Enter
    field = page.locator("#code")
    expect(field).to_be_focused()
    page.keyboard.type(wang.card_code.lower())
    page.keyboard.press("Enter")
    result = page.locator("#scan-result .scan-result")
    expect(result).to_contain_text("王秀英 已签到")
    expect(field).to_have_value("")
    expect(field).to_be_focused()
    page.keyboard.type(zeng.card_code)
    page.keyboard.press("Enter")
    expect(result).to_contain_text("曾国涛 已签到")
    expect(page.locator("#door-counts")).to_contain_text("在场 2 户")
    font_size = result.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font_size >= 40
    assert_cjk_font(page)
    shot(page, "activity-checkin")

    # Check-out: switch the mode, scan again
    page.get_by_text("签退", exact=True).click()
    page.keyboard.type(wang.card_code)
    page.keyboard.press("Enter")
    expect(result).to_have_text("王秀英 已签退 共 0 小时")
    page.keyboard.type(wang.card_code)
    page.keyboard.press("Enter")
    expect(result).to_contain_text("王秀英 已于")
    expect(page.locator(".scan-result.refused")).to_have_count(1)
    shot(page, "activity-checkout-refused")

    # The camera scanner's module loads from our own static files
    loaded = page.evaluate(
        "async () => (await import('/static/vendor/qr-scanner/qr-scanner.min.js')).default.name"
    )
    assert loaded
    # ... driven by the shared camera-scan.js: with no camera here, it says so in Chinese.
    page.click("#camera-button")
    expect(page.locator("#camera-note")).to_contain_text("无法打开摄像头")
