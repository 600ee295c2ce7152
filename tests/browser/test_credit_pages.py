"""A resident consents to a lender on a 360px phone and revokes it: elder mode, axe, no
personal data ticked by default, the 授权码 large with its QR, the history showing both."""

from __future__ import annotations

import pytest

from civicpoints.credit.lenders import lender_create, uscc_make
from civicpoints.credit.models import Consent
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.browser.a11y import axe_violations
from tests.browser.conftest import resident_sign_in, shot
from tests.browser.test_portal_orders import assert_elder_mode
from tests.factories import build_world, make_household, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PIN = "246813"


def test_a_resident_consents_and_revokes_on_a_small_phone(browser, live_server):
    world = build_world()
    admin = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
    lender_create(
        actor=actor_for_user(admin),
        scheme=world.scheme,
        name="通榆农商银行",
        code=uscc_make("93220822MA17ABCD0"),
        contact_name="王经理",
        contact_phone="13800138000",
    )
    home = make_household(world.scheme, world.village_a1, "张三", phone="13912345678")
    household_set_pin(actor_id=None, household=home, pin=PIN)
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 360, "height": 740}, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    resident_sign_in(page, live_server.url, home.card_code, PIN)

    page.get_by_role("link", name="信用授权（文明积分贷）").click()
    page.get_by_role("link", name="新的授权").click()
    page.wait_for_load_state("load")
    assert page.get_by_label("户主身份证号").is_checked() is False
    assert page.get_by_label("手机号").is_checked() is False
    assert page.get_by_label("家庭住址").is_checked() is False
    assert axe_violations(page) == []
    assert_elder_mode(page)
    shot(page, "portal-credit-new")
    page.get_by_label("通榆农商银行").check()
    page.get_by_label("6 个月").check()
    page.get_by_role("button", name="下一步：看授权书").click()

    page.get_by_text("个人信息共享授权书").wait_for()
    assert page.get_by_text("不提供：户主身份证号。").is_visible()
    assert axe_violations(page) == []
    assert_elder_mode(page)
    page.get_by_label("您家的6位密码").fill(PIN)
    page.get_by_role("button", name="同意并授权").click()

    page.get_by_role("heading", name="授权成功").wait_for()
    consent = Consent.objects.get()
    assert page.locator(".ref-code").inner_text().replace("-", "") == consent.ref
    assert page.locator(".card-qr svg").count() == 1
    assert axe_violations(page) == []
    shot(page, "portal-credit-granted")

    page.get_by_role("link", name="查看我的授权").click()
    page.get_by_role("link", name="撤销").click()
    page.get_by_role("button", name="确认撤销").click()
    page.get_by_text("目前没有授权任何机构").wait_for()
    history = page.locator("ul.history").inner_text()
    assert "通榆农商银行 撤销授权" in history and "通榆农商银行 授权\n" in history
    assert axe_violations(page) == []
    assert_elder_mode(page)
    shot(page, "portal-credit-history")
    context.close()
