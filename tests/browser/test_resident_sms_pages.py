"""The SMS login pages on a 360x740 phone: code page and household choice are elder-friendly
(axe-core, text >= 18 px, targets >= 60 px) and lead into the household chosen."""

from __future__ import annotations

import re

import pytest

from civicpoints.households.sms import MemoryBackend
from tests.browser.a11y import axe_violations, small_targets, small_text
from tests.browser.conftest import shot
from tests.factories import build_world, make_household

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = "13912345678"


def elder_friendly(page) -> list[str]:
    return (
        axe_violations(page)
        + [f"small text {t}" for t in small_text(page)]
        + [f"small target {t}" for t in small_targets(page)]
    )


def test_a_phone_in_two_households_logs_in_by_code_and_chooses(browser, live_server, settings):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    world = build_world()
    make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)
    make_household(world.scheme, world.village_b1, "王建国", phone=PHONE)
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_default_timeout(15000)

    page.goto(live_server.url + "/m/login/")
    page.get_by_label("手机号").fill("1391234567")
    page.get_by_role("button", name="获取验证码").click()
    page.locator("#phone-error").wait_for()
    assert page.locator("#phone-error").inner_text() == "手机号应为11位，这里是10位"
    shot(page, "resident-login-phone-refused")
    assert elder_friendly(page) == []

    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_label("短信验证码").wait_for()
    assert "139****5678" in page.content() and PHONE not in page.content()
    shot(page, "resident-login-sms-code")
    assert elder_friendly(page) == []

    page.get_by_label("短信验证码").fill("000000")
    page.get_by_role("button", name="登录", exact=True).click()
    page.locator("#code-error").wait_for()
    assert page.locator("#code-error").inner_text() == "验证码不对或已过期"
    code = re.search(r"验证码是(\d{6})", MemoryBackend.outbox[-1][1]).group(1)
    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()

    page.get_by_text("选择要登录的户").first.wait_for()
    shot(page, "resident-login-choose")
    assert elder_friendly(page) == []
    page.get_by_role("button", name="王建国 · 兴盛村").click()
    page.get_by_text("可用积分").wait_for()
    assert "王建国" in page.locator(".who").inner_text()
    page.get_by_role("link", name="设置密码").click()
    page.get_by_label("新密码（6位数字）").wait_for()
    assert page.get_by_label("原密码").count() == 0  # no PIN yet: nothing old to type
    shot(page, "resident-pin-first")
    assert elder_friendly(page) == []
    context.close()
