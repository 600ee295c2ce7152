"""Counter pages in a real browser: a store clerk with a USB scanner (it types the card code
and Enter), the basket, the PIN keypad and the receipt; the resident's payment code on a phone;
a merchant cashier typing the 18-digit code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from civicpoints.ledger.models import Account
from civicpoints.merchants.models import Payment, PaymentCode
from civicpoints.schemes.models import Role
from civicpoints.stores.models import Redemption
from tests.browser.conftest import assert_cjk_font, resident_sign_in, shot, staff_sign_in
from tests.factories import build_world, make_staff
from tests.merchants.conftest import PIN as TILL_PIN
from tests.merchants.conftest import build_till
from tests.stores.conftest import PIN, build_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def staff_login(page, username: str) -> None:
    staff_sign_in(page, page.base_url, username)
    page.get_by_role("link", name="进入柜台").click()  # the home leads counter staff there
    page.get_by_role("heading", name="选择柜台").wait_for()


def test_a_clerk_scans_a_card_fills_a_basket_and_prints_the_receipt(page):
    shop = build_shop(build_world())
    staff_login(page, "clerk")
    shot(page, "counter-index")
    page.get_by_role("link", name=re.compile("开通镇爱心超市")).click()
    page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")

    # The scan field has the focus: the USB scanner types the card code and Enter
    field = page.locator("#q")
    expect(field).to_be_focused()
    page.keyboard.type(shop.household.card_code.lower())
    page.keyboard.press("Enter")
    who = page.locator("#household")
    expect(who).to_contain_text("王秀英")
    expect(who).to_contain_text("晓光村")
    expect(page.locator("#available")).to_have_text("12700")
    expect(field).to_have_value("")
    expect(field).to_be_focused()  # ready for the next card
    assert "/counter/store/" in page.url and "q=" in page.url

    # Two products: a rice cooker and two bags of rice
    cooker = page.locator(f".ptile[data-product='{shop.cooker.pk}']")
    rice = page.locator(f".ptile[data-product='{shop.rice.pk}']")
    cooker.get_by_role("button", name="增加 美的电饭煲").click()
    rice.get_by_role("button", name="增加 大米 10斤").click()
    rice.get_by_role("button", name="增加 大米 10斤").click()
    expect(page.locator("#total")).to_have_text("260")
    expect(cooker).to_have_class(re.compile("picked"))
    heights = page.locator(".stepper button, #confirm, .keypad button").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert min(heights) >= 48

    # The resident taps the PIN on the keypad
    for digit in PIN:
        page.locator(f".keypad button[data-key='{digit}']").click()
    expect(page.locator("#pin")).to_have_value(PIN)
    assert_cjk_font(page)
    shot(page, "counter-store-basket")
    page.get_by_role("button", name="确认兑换").click()

    receipt = page.locator("#receipt")
    expect(receipt).to_contain_text("积分兑换小票")
    expect(receipt).to_contain_text("王秀英（晓光村）")
    expect(receipt).to_contain_text("美的电饭煲")
    expect(receipt).to_contain_text("大米 10斤")
    expect(receipt).to_contain_text("260 分")
    expect(receipt).to_contain_text("12440 分")
    redemption = Redemption.objects.get()
    expect(receipt).to_contain_text(redemption.receipt_no)
    assert redemption.points == 26_000
    assert Account.objects.get(household=shop.household).balance == 1_244_000
    shot(page, "counter-store-receipt")

    # On paper: 58 mm wide, no buttons
    page.emulate_media(media="print")
    width = receipt.evaluate("e => e.getBoundingClientRect().width")
    assert 170 <= width <= 190  # 48 mm at 96 dpi is about 181 px
    assert page.locator(".receipt-actions").evaluate("e => getComputedStyle(e).display") == "none"
    shot(page, "counter-store-receipt-print")
    page.emulate_media(media="screen")


def test_the_store_counter_fits_a_cheap_phone(browser, live_server):
    shop = build_shop(build_world())
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    staff_sign_in(page, live_server.url, "clerk")
    page.goto(f"{live_server.url}/counter/store/{shop.store.pk}/?q={shop.household.card_code}")
    expect(page.locator("#household")).to_contain_text("王秀英")
    page.locator(f".ptile[data-product='{shop.freezer.pk}'] button.plus").click()
    expect(page.locator("#total")).to_have_text("2200")
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= 360
    shot(page, "counter-store-phone")
    # A wrong PIN: told in large Chinese text, the basket kept
    page.locator("#pin").fill("000000")
    page.get_by_role("button", name="确认兑换").click()
    expect(page.locator(".alert.error")).to_have_text("密码不对，还可以再试 4 次")
    expect(page.locator("#total")).to_have_text("2200")
    assert Redemption.objects.count() == 0
    shot(page, "counter-store-phone-wrong-pin")
    context.close()


def test_the_till_and_the_residents_stores_page_fit_a_phone(browser, live_server):
    world = build_world()
    shop = build_shop(world)
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    resident_sign_in(page, live_server.url, shop.household.card_code, PIN)
    page.get_by_role("link", name=re.compile("兑换")).click()
    expect(page.get_by_role("heading", name="开通镇爱心超市")).to_be_visible()
    expect(page.get_by_text("2200 分/台")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    shot(page, "portal-stores")
    context.close()

    from civicpoints.merchants.services import merchant_create

    cashier = make_staff("cashier", Role.MERCHANT_CLERK, world.township_a, world.scheme)
    merchant_create(
        actor=shop.admin_actor,
        scheme_id=world.scheme.pk,
        legal_name="通榆县开通镇惠民超市有限公司",
        shop_name="惠民超市",
        bank_name="中国农业银行通榆支行",
        account_name="通榆县开通镇惠民超市有限公司",
        bank_account="6228480123456789012",
        regions=[world.township_a],
        clerk_ids=[cashier.pk],
    )
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    staff_sign_in(page, live_server.url, "cashier")
    page.goto(live_server.url + "/counter/")
    page.get_by_role("link", name=re.compile("惠民超市")).click()
    page.wait_for_load_state()  # the till's script is a module (CSP): it runs before "load"
    page.get_by_text("积分卡+密码").click()
    expect(page.locator("#card")).to_be_focused()
    page.locator("#card").fill(shop.household.card_code)
    page.locator("#pin").fill(PIN)
    page.locator("#points").fill("12.5")
    page.get_by_role("button", name="确认收款").click()
    expect(page.locator("#receipt")).to_contain_text("12.5 分")
    page.get_by_role("link", name="继续收款").click()
    expect(page.locator("#payments")).to_contain_text("12.5")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    shot(page, "counter-merchant-phone")
    context.close()


def test_the_residents_payment_code_on_a_phone(browser, live_server):
    till = build_till(build_world())
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    resident_sign_in(page, live_server.url, till.household.card_code, TILL_PIN)
    page.get_by_role("link", name=re.compile("积分码")).click()
    digits = page.locator(".pay-code .digits")
    expect(digits).to_have_text(re.compile(r"^88( \d{4}){4}$"))
    code = PaymentCode.objects.get()
    assert digits.inner_text().replace(" ", "") == code.code
    size = page.locator(".pay-code svg").bounding_box()
    assert size is not None and size["width"] >= 250
    assert float(page.locator("#pay-left").inner_text()) > 50
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360

    # The QR code reads back with the counter's own scanner library
    decoded = page.evaluate(
        """async () => {
            const QrScanner = (await import('/static/vendor/qr-scanner/qr-scanner.min.js')).default;
            const svg = document.querySelector('.pay-code svg').cloneNode(true);
            svg.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
            svg.setAttribute('width', '400'); svg.setAttribute('height', '400');
            const text = new XMLSerializer().serializeToString(svg);
            const img = new Image();
            img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(text);
            await img.decode();
            const canvas = document.createElement('canvas');
            canvas.width = 400; canvas.height = 400;
            const ctx = canvas.getContext('2d');
            ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, 400, 400);
            ctx.drawImage(img, 0, 0, 400, 400);
            return (await QrScanner.scanImage(canvas, {returnDetailedScanResult: true})).data;
        }"""
    )
    assert decoded == code.code
    assert_cjk_font(page)
    shot(page, "portal-pay-code")

    # The refresh button brings a new code without leaving the page
    before = digits.inner_text()
    page.get_by_role("button", name="刷新付款码").click()
    expect(digits).not_to_have_text(before)
    assert PaymentCode.objects.count() == 2
    context.close()


def test_a_cashier_types_the_code_and_the_amount(page):
    till = build_till(build_world())
    from civicpoints.merchants.services import payment_code_issue

    code = payment_code_issue(household=till.household).code
    staff_login(page, "cashier")
    page.get_by_role("link", name=re.compile("惠民超市")).click()
    page.wait_for_load_state()  # the till's script (a module) handles Enter
    field = page.locator("#code")
    expect(field).to_be_focused()
    # The scanner types the 18 digits and Enter: the cursor moves on to the amount
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect(page.locator("#points")).to_be_focused()
    page.keyboard.type("36.5")
    assert_cjk_font(page)
    shot(page, "counter-merchant-till")
    page.keyboard.press("Enter")

    receipt = page.locator("#receipt")
    expect(receipt).to_contain_text("积分消费小票")
    expect(receipt).to_contain_text("36.5 分")
    expect(receipt).to_contain_text("张**")
    payment = Payment.objects.get()
    assert payment.points == 3_650
    assert Account.objects.get(household=till.household).balance == 100_000 - 3_650
    shot(page, "counter-merchant-receipt")

    # Back at the till: today's list with the refund action
    page.get_by_role("link", name="继续收款").click()
    expect(page.locator("#payments")).to_contain_text("36.5")
    page.locator("#payments").get_by_role("link", name="退款").click()
    page.get_by_label("退款积分").fill("10")
    page.get_by_label("退款原因").fill("少拿一袋面")
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_text("退 10 分给 张**")).to_be_visible()
    page.get_by_role("button", name="确认退款").click()
    expect(page.locator("#receipt")).to_contain_text("26.5 分")
    assert Payment.objects.get().refunded == 1_000
    shot(page, "counter-merchant-refunded")
