"""Staff pages for spending in a real browser: a store with a low-stock product, the deliveries
board, a ceremony preview, and the settlement page with an overdue statement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from civicpoints.merchants.models import Statement
from civicpoints.merchants.settlement import settle
from civicpoints.stores.services import Item, redeem
from tests.backoffice_spending.test_merchant_pages import take_and_refund
from tests.browser.conftest import assert_cjk_font, shot, staff_sign_in
from tests.factories import build_world, fund, make_household
from tests.merchants.conftest import build_till
from tests.stores.conftest import PIN, build_shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]


@pytest.fixture(autouse=True)
def _evidence_in_tmp(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.EVIDENCE_ROOT = tmp_path / "evidence"


def _login(page, username: str) -> None:
    staff_sign_in(page, page.base_url, username)
    page.get_by_role("link", name="超市").or_(
        page.get_by_role("link", name="结算")
    ).first.wait_for()


def test_a_store_with_a_low_stock_product_and_its_deliveries(page):
    shop = build_shop(build_world())
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1), Item(shop.cooker.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组12号",
    )
    _login(page, "county")
    page.get_by_role("link", name="超市").first.click()
    row = page.locator(f"#store-{shop.store.pk}")
    expect(row).to_have_class("low")
    assert row.locator("strong").inner_text() == "1"
    shot(page, "spending-stores")
    row.get_by_role("link", name="开通镇爱心超市").click()
    freezer = page.locator(f"#product-{shop.freezer.pk}")
    expect(freezer).to_have_class("low")
    assert "2 库存不足" in freezer.inner_text()  # 3 received, 1 redeemed
    color = freezer.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(253, 236, 234)"
    assert "库存不足" not in page.locator(f"#product-{shop.cooker.pk}").inner_text()
    assert_cjk_font(page)
    shot(page, "spending-store-detail")

    page.get_by_label("商品", exact=True).first.select_option(str(shop.freezer.pk))
    page.locator("#in-quantity").fill("4")
    page.locator("#in-value").fill("7200")
    page.locator("#stock-in").get_by_role("button", name="入库").click()
    expect(page.get_by_role("alert")).to_have_text("已入库：海尔冰柜 +4台（采购入库），现有库存 6")
    expect(page.locator(f"#product-{shop.freezer.pk}")).not_to_have_class("low")

    page.get_by_role("link", name="送货").first.click()
    pending = page.locator("#col-pending")
    assert "晓光村三组12号" in pending.inner_text()
    pending.get_by_placeholder("送货人").fill("李师傅")
    pending.get_by_role("button", name="出发送货").click()
    expect(page.locator("#col-out")).to_contain_text("李师傅")
    assert page.locator("#col-out input[type=file]").get_attribute("capture") == "environment"
    shot(page, "spending-deliveries")


def test_a_ceremony_is_previewed_in_the_browser(page):
    world = build_world()
    shop = build_shop(world)
    li = make_household(world.scheme, world.village_a2, "李淑珍")
    fund(li, 50_000)
    _login(page, "county")
    page.goto(f"{page.base_url}/ceremonies/new/?store={shop.store.pk}")
    page.get_by_label("表彰活动名称").fill("2026年度星级文明户表彰")
    page.locator("#pick-product").select_option("美的电饭煲")
    page.locator("#ceremony-q").fill("lsz")
    page.get_by_role("button", name="加入名单").click()
    expect(page.locator("#text")).to_have_value(f"{li.card_code}\t美的电饭煲\t1\n")
    page.locator("#text").press("End")
    page.locator("#text").type("王秀英\t大米 10斤\t2\n")
    shot(page, "spending-ceremony-new")
    page.get_by_role("button", name="预览").click()
    expect(page.get_by_role("button", name="确认兑换 2 户")).to_be_visible()
    shot(page, "spending-ceremony-preview")
    page.get_by_role("button", name="确认兑换 2 户").click()
    expect(page.get_by_role("alert")).to_have_text("表彰兑换完成：2026年度星级文明户表彰，共 2 户")
    shot(page, "spending-ceremony-done")


def test_the_settlement_page_shows_an_overdue_statement(page):
    till = build_till(build_world())
    day = timezone.localdate() - dt.timedelta(days=2)
    take_and_refund(till, day)
    settle(scheme=till.world.scheme, day=day)
    statement = Statement.objects.get()
    Statement.objects.filter(pk=statement.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=30)
    )
    _login(page, "county")
    badge = page.locator(".topbar .badge")
    assert badge.inner_text() == "1"
    tile = page.locator("#tile-overdue.due")  # the home's count, highlighted
    assert tile.locator(".count").inner_text() == "1"
    assert "逾期未付的结算单" in tile.inner_text()
    shot(page, "spending-home-overdue")
    page.get_by_role("link", name="结算").first.click()
    page.locator("#date").fill(day.isoformat())
    page.locator("#date").dispatch_event("change")
    row = page.locator(f"#statement-{statement.pk}")
    expect(row).to_have_class("overdue")
    assert row.locator("td.status").inner_text() == "待付款\n逾期"
    assert "26.50" in row.inner_text()
    assert_cjk_font(page)
    shot(page, "spending-settlement-overdue")

    page.get_by_role("link", name="付款清单").click()
    assert "**** 9012" in page.locator("#payouts").inner_text()
    assert "6228480123456789012" not in page.content()
    shot(page, "spending-payouts")

    page.get_by_role("link", name="返回结算").click()
    page.locator("#date").fill(day.isoformat())
    page.locator("#date").dispatch_event("change")
    row = page.locator(f"#statement-{statement.pk}")
    row.get_by_placeholder("银行流水号").fill("NX20261127001")
    row.get_by_role("button", name="标记已付款").click()
    shot(page, "spending-confirm-paid")
    page.get_by_role("button", name="确认已付款").click()
    expect(page.get_by_role("alert")).to_have_text(
        "已付款：惠民超市 26.50 元，流水号 NX20261127001"
    )
    page.get_by_role("link", name="对账报告").click()
    expect(page.locator("#verdict")).to_have_text("账本、结算单、付款全部一致，差额为 0。")
    shot(page, "spending-reconciliation")
