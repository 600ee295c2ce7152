"""Journey (a): households imported from the office's Excel sheet -> the village's PIN letters
and QR cards printed in one go -> a resident logs in at /m/ with the card number and the
printed PIN, changes the PIN, logs out and in again with the new one; the ledger verifies.

Screenshots: the PIN letter and the card sheet (as printed, A4), the resident's pages at 360x740.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from civicpoints.households.models import Household
from tests.browser.conftest import SHOTS, assert_cjk_font, shot, staff_sign_in
from tests.factories import build_world
from tests.households.test_import import build_tongyu
from tests.ledger.helpers import assert_ledger_ok

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURE = Path("/work/shared/fixtures/excel/households-valid.xlsx")
if not FIXTURE.exists():  # the same sheet is kept in the repository
    FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "excel" / "households-valid.xlsx"
PX_PER_MM = 96 / 25.4


def element_shot(locator, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(SHOTS / f"{name}.png"))


def test_import_print_letters_log_in_and_change_the_pin(
    page, browser, live_server, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    world = build_world()
    tongyu = build_tongyu(world)
    village = tongyu.villages["新华村"]

    # Staff log in and import the office's sheet
    staff_sign_in(page, page.base_url, tongyu.admin.username)
    page.goto(page.base_url + "/households/import/")
    page.locator("#file").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="上传并检查").click()
    page.get_by_text("检查通过").wait_for()
    page.get_by_role("button", name=re.compile("确认导入 200 户")).click()
    page.wait_for_url(re.compile(r".*/households/import/done/.*"))
    assert Household.objects.filter(scheme=world.scheme).count() == 200
    in_village = Household.objects.filter(village=village).count()
    assert in_village == 16

    # ... go from the household list to the village's letters and cards, confirm, print
    page.goto(page.base_url + "/households/")
    page.get_by_role("link", name="打印密码信和积分卡").click()
    page.locator("tr", has_text="新华村").get_by_role("link", name="选择农户并打印").click()
    # the click navigates; expect() waits for the village's page instead of counting the old one
    expect(page.locator('input[name="households"]:checked')).to_have_count(16)
    page.get_by_role("button", name="下一步").click()
    page.get_by_text("为 16 户生成新密码并打印密码信").wait_for()
    page.get_by_role("button", name="确认并打印").click()
    page.locator(".letter").first.wait_for()
    assert page.locator(".letter").count() == 16
    assert page.locator(".sheet").count() == 2  # 8 cards an A4 sheet
    assert page.locator(".sheet").first.locator(".pcard").count() == 8

    # the QR codes are at least 3 cm with a quiet zone of 4 modules (29 = 21 + 2 x 4)
    svg = page.locator(".pcard svg.segno").first
    box = svg.bounding_box()
    assert svg.get_attribute("viewBox") == "0 0 43.5 43.5"
    assert box["width"] / PX_PER_MM >= 43 and box["width"] / PX_PER_MM * 21 / 29 >= 30
    card = page.locator(".pcard").first.bounding_box()
    assert round(card["width"] / PX_PER_MM, 1) == 85.6 and round(card["height"] / PX_PER_MM) == 54

    # read the PIN for 曾𠮷 off the printed letter
    letter = page.locator(".letter", has_text="曾𠮷")
    pin_span = letter.locator(".pin")
    pin = pin_span.inner_text().strip()
    card_code = pin_span.get_attribute("data-card")
    assert re.fullmatch(r"\d{6}", pin) and card_code
    page.emulate_media(media="print")
    assert_cjk_font(page)
    element_shot(letter, "journey-a-pin-letter")
    element_shot(page.locator(".sheet").first, "journey-a-card-sheet")
    page.emulate_media(media="screen")

    # A resident logs in on the phone with the card number and the printed PIN
    phone = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    m = phone.new_page()
    m.set_default_timeout(15000)
    m.goto(live_server.url + "/m/login/")
    shot(m, "journey-a-resident-login")
    m.get_by_label("积分卡号").fill(card_code.lower())
    m.get_by_label("6位密码").fill(pin)
    m.get_by_role("button", name="登录", exact=True).click()
    m.get_by_text("可用积分").wait_for()
    assert "曾𠮷" in m.locator(".who").inner_text()

    # ... changes the PIN (a trivial one is refused at the field first)
    m.get_by_role("link", name="修改密码").click()
    m.get_by_label("原密码").fill(pin)
    m.get_by_label("新密码（6位数字）").fill("123456")
    m.get_by_label("再输一次新密码").fill("123456")
    m.get_by_role("button", name="修改密码").click()
    m.locator("#new_pin-error").wait_for()
    assert "太容易被猜到" in m.locator("#new_pin-error").inner_text()
    shot(m, "journey-a-pin-change-refused")
    m.get_by_label("原密码").fill(pin)
    m.get_by_label("新密码（6位数字）").fill("907314")
    m.get_by_label("再输一次新密码").fill("907314")
    m.get_by_role("button", name="修改密码").click()
    m.get_by_text("密码已修改，下次登录请用新密码").wait_for()
    shot(m, "journey-a-pin-changed")

    # ... logs out, the printed PIN no longer works, the new one does
    m.get_by_role("button", name="退出").click()
    m.get_by_label("积分卡号").fill(card_code)
    m.get_by_label("6位密码").fill(pin)
    m.get_by_role("button", name="登录", exact=True).click()
    m.locator("#pin-error").wait_for()
    assert m.locator("#pin-error").inner_text() == "卡号或密码不对"
    m.get_by_label("积分卡号").fill(card_code)
    m.get_by_label("6位密码").fill("907314")
    m.get_by_role("button", name="登录", exact=True).click()
    m.get_by_text("可用积分").wait_for()
    body_px = m.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert body_px >= 18
    phone.close()

    assert_ledger_ok(world.scheme.pk)
