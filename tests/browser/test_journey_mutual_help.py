"""Journey (c): household A records on its phone the help it gave household B; B logs in on its
own phone and confirms; the village admin approves the helper's claim; after the notice it is
posted: A's balance rises by hours x 15 points, and the ledger verifies at the end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicpoints.activities.models import MutualHelp, MutualHelpStatus
from civicpoints.awards.models import ClaimStatus
from civicpoints.awards.services import notices_finalize
from civicpoints.households.services import household_set_pin
from civicpoints.households.sms import MemoryBackend
from civicpoints.ledger.selectors import household_balance
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from tests.browser.a11y import axe_violations, small_targets, small_text
from tests.browser.conftest import assert_cjk_font, shot, staff_sign_in
from tests.factories import build_world, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

PHONE = {"width": 360, "height": 740}
PIN = "258369"


def _resident_phone(browser, base_url: str, card: str):
    """A phone-sized browser logged in with the card number and PIN."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(base_url + "/m/login/")
    page.get_by_label("积分卡号").fill(card)
    page.get_by_label("6位密码").fill(PIN)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_text("可用积分").wait_for()
    return context, page


def _elder_mode_ok(page) -> None:
    assert_cjk_font(page)
    assert [t for t in small_text(page) if not t.endswith("English")] == []
    assert small_targets(page) == []
    assert axe_violations(page) == []


def test_help_given_is_confirmed_on_the_helped_phone_and_posted_after_notice(
    browser, live_server, settings
):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    world = build_world()
    load_catalogue(scheme=world.scheme)
    make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    li = make_household(world.scheme, world.village_a1, "李德福")
    wang = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    make_household(world.scheme, world.village_a1, "曾国涛")
    make_household(world.scheme, world.village_a2, "新华村户")  # not a neighbour
    for household in (li, wang):
        household_set_pin(actor_id=None, household=household, pin=PIN)
    today = timezone.localdate()

    # Household A (李德福) records on his phone that he helped 王秀英 for 3 hours
    a_context, a = _resident_phone(browser, live_server.url, li.card_code)
    try:
        a.get_by_role("link", name="邻里互助").click()
        a.get_by_role("heading", name="邻里互助").wait_for()
        a.get_by_role("link", name="我帮助了别人").click()
        # all_inner_texts does not wait: read the options once the form is there
        a.get_by_label("帮助了谁（本村户主）").wait_for()
        options = a.locator("#other option").all_inner_texts()
        assert options == ["请选择", "王秀英", "曾国涛"]
        a.get_by_label("帮助了谁（本村户主）").select_option(label="王秀英")
        a.get_by_label("帮了几个小时").fill("3")
        assert a.get_by_label("哪一天").input_value() == today.isoformat()
        a.get_by_label("帮了什么（可不填）").fill("帮忙收玉米")
        _elder_mode_ok(a)
        shot(a, "journey-c-help-given-form")
        a.get_by_role("button", name="登记").click()
        a.get_by_text("已登记您帮助 王秀英 3 小时").wait_for()
        assert a.locator(".card .state").first.inner_text() == "等待 王秀英 确认"
        _elder_mode_ok(a)
        shot(a, "journey-c-help-given-waiting")
    finally:
        a_context.close()
    row = MutualHelp.objects.get()
    assert (row.status, row.claim_id) == (MutualHelpStatus.PENDING, None)
    assert MemoryBackend.outbox == [
        (
            "13912345678",
            f"【文明积分】李德福 登记了 {today.month}月{today.day}日 帮助您 3 小时，请在手机上确认。",
        )
    ]

    # Household B (王秀英) logs in on her own phone: the home page says one waits for her
    b_context, b = _resident_phone(browser, live_server.url, wang.card_code)
    try:
        link = b.get_by_role("link", name="邻里互助（待您确认 1）")
        _elder_mode_ok(b)
        shot(b, "journey-c-helped-home")
        link.click()
        card = b.locator("li.card.mine")
        assert (
            "李德福 说帮助了您" in card.inner_text() and "3 小时 · 帮忙收玉米" in card.inner_text()
        )
        _elder_mode_ok(b)
        shot(b, "journey-c-helped-confirm")
        card.get_by_role("button", name="属实，确认").click()
        b.get_by_text("已确认 李德福 帮助您 3 小时").wait_for()
        assert b.locator("li.card.mine").count() == 0
        shot(b, "journey-c-helped-confirmed")
    finally:
        b_context.close()
    row.refresh_from_db()
    claim = row.claim
    assert (row.status, row.decided_by_helped, claim.household_id, claim.status) == (
        MutualHelpStatus.CONFIRMED,
        True,
        li.pk,
        ClaimStatus.SUBMITTED,
    )
    assert (claim.points, claim.witness) == (4500, "受助户 王秀英 确认")

    # The village admin approves the helper's claim in the review queue
    staff = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    admin = staff.new_page()
    admin.set_default_timeout(15000)
    try:
        staff_sign_in(admin, live_server.url, "cun")
        admin.goto(live_server.url + "/claims/")
        queue_row = admin.locator(f"#claim-{claim.pk}")
        assert "李德福" in queue_row.inner_text() and "邻里互助" in queue_row.inner_text()
        with admin.expect_navigation():
            queue_row.get_by_role("button", name="通过").click()
        admin.get_by_text("已审核通过").wait_for()
        shot(admin, "journey-c-approved")
    finally:
        staff.close()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ON_NOTICE and claim.notice_ends_at is not None

    # The notice ends (the clock moves): the claim is posted, 3 h x 15 = 45 points for A
    assert household_balance(household_id=li.pk).balance == 0
    assert notices_finalize(at=claim.notice_ends_at + dt.timedelta(minutes=1)).count == 1
    assert household_balance(household_id=li.pk).balance == 4500
    assert household_balance(household_id=wang.pk).balance == 0

    a_context, a = _resident_phone(browser, live_server.url, li.card_code)
    try:
        assert a.locator(".balance strong").inner_text() == "45"
        a.get_by_role("link", name="邻里互助").click()
        assert a.locator(".card .state").first.inner_text() == "已入账 +45 分"
        shot(a, "journey-c-posted")
    finally:
        a_context.close()

    # The ledger verifies at the end
    assert_ledger_ok(world.scheme.pk)
