"""Journey (e): a county-level ceremony for households of several townships, in a real browser.

The county admin opens a county store serving two townships, puts a product on its shelf and
stocks it, and builds the ceremony list for households of three villages in two townships. The
first preview names a row that cannot be redeemed and offers no confirm; the corrected list
previews clean, is confirmed once, and every household's balance drops by exactly its goods.
The ledger verifies at the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from civicpoints.households.models import Household
from civicpoints.ledger.models import Account
from civicpoints.schemes.models import Role
from civicpoints.stores.models import Ceremony, Product, Redemption, RedemptionSource, Store
from tests.browser.conftest import assert_cjk_font, shot, staff_sign_in
from tests.factories import build_world, fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _evidence_in_tmp(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.EVIDENCE_ROOT = tmp_path / "evidence"


def balance(household: Household) -> int:
    return Account.objects.get(household=household).balance


def test_a_county_ceremony_for_households_of_several_townships(page):
    world = build_world()
    make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    make_staff("clerk", Role.STORE_CLERK, world.county, world.scheme)
    wang = make_household(world.scheme, world.village_a1, "王秀英")  # 开通镇晓光村
    zhao = make_household(world.scheme, world.village_a2, "赵德明")  # 开通镇新华村
    li = make_household(world.scheme, world.village_b1, "李淑珍")  # 兴隆山镇兴盛村
    poor = make_household(world.scheme, world.village_b1, "孙有才")  # 兴隆山镇, 10 points
    for household, points in ((wang, 50_000), (zhao, 20_000), (li, 30_000), (poor, 1_000)):
        fund(household, points)

    # The county admin logs in and opens a county store serving both townships.
    staff_sign_in(page, page.base_url, "county")
    page.goto(page.base_url + "/stores/new/")
    page.get_by_label("超市名称").fill("通榆县表彰兑换点")
    page.locator("#region").select_option(label="县级：通榆县")
    page.get_by_label("开通镇").check()
    page.get_by_label("兴隆山镇").check()
    page.locator("#clerks").select_option(label="clerk（clerk）")
    assert_cjk_font(page)
    shot(page, "journey-e-1-county-store-form")
    page.get_by_role("button", name="开设超市").click()
    expect(page.get_by_role("alert")).to_have_text("已开设超市：通榆县表彰兑换点")
    store = Store.objects.get(name="通榆县表彰兑换点")
    assert store.region == world.county
    assert sorted(store.served_townships.values_list("name", flat=True)) == ["兴隆山镇", "开通镇"]
    assert "服务范围：开通镇、兴隆山镇" in page.locator("main").inner_text().replace(
        "兴隆山镇、开通镇", "开通镇、兴隆山镇"
    )

    # A product on its shelf, and 10 of them in stock.
    page.locator("#p-name").fill("电饭煲")
    page.locator("#p-price").fill("150")
    page.locator("#p-unit").fill("个")
    page.get_by_role("button", name="添加商品").click()
    expect(page.get_by_role("alert")).to_have_text("已添加商品：电饭煲，150 积分/个")
    cooker = Product.objects.get(store=store)
    page.locator("#in-product").select_option(str(cooker.pk))
    page.locator("#in-quantity").fill("10")
    page.locator("#in-value").fill("1200")
    page.locator("#stock-in").get_by_role("button", name="入库").click()
    expect(page.get_by_role("alert")).to_have_text("已入库：电饭煲 +10个（采购入库），现有库存 10")
    shot(page, "journey-e-2-county-store-stocked")

    # The ceremony list: four households of two townships; one cannot afford its prize.
    page.get_by_role("link", name="表彰现场兑换").first.click()
    page.get_by_label("表彰活动名称").fill("2026年度全县文明家庭表彰大会")
    page.locator("#text").fill(
        f"{wang.card_code}\t电饭煲\t2\n"
        f"{zhao.card_code}\t电饭煲\t1\n"
        f"{li.card_code}\t电饭煲\t1\n"
        f"{poor.card_code}\t电饭煲\t1\n"
    )
    page.get_by_role("button", name="预览").click()
    failing = page.locator("#failing")
    expect(failing).to_contain_text("1 户不能兑换")
    expect(failing).to_contain_text("第 4 户 孙有才（名单第 4 行）：可用积分 10，需要 150")
    expect(page.locator("#row-4")).to_have_class("low")
    expect(page.get_by_role("button", name="确认兑换 4 户")).to_have_count(0)
    assert page.locator('input[name="step"][value="confirm"]').count() == 0
    shot(page, "journey-e-3-ceremony-preview-refused")
    assert Redemption.objects.count() == 0

    # Back to the list, the row taken off, previewed clean and confirmed once.
    page.get_by_role("button", name="返回修改名单").click()
    page.locator("#text").fill(
        f"{wang.card_code}\t电饭煲\t2\n{zhao.card_code}\t电饭煲\t1\n{li.card_code}\t电饭煲\t1\n"
    )
    page.get_by_role("button", name="预览").click()
    expect(page.locator("#failing")).to_have_count(0)
    for row in (1, 2, 3):
        expect(page.locator(f"#row-{row}")).to_contain_text("可以兑换")
    expect(page.locator("#row-1")).to_contain_text("开通镇 · 晓光村")
    expect(page.locator("#row-2")).to_contain_text("开通镇 · 新华村")
    expect(page.locator("#row-3")).to_contain_text("兴隆山镇 · 兴盛村")
    shot(page, "journey-e-4-ceremony-preview-ready")
    page.get_by_role("button", name="确认兑换 3 户").click()
    expect(page.get_by_role("alert")).to_have_text(
        "表彰兑换完成：2026年度全县文明家庭表彰大会，共 3 户"
    )
    assert_cjk_font(page)
    shot(page, "journey-e-5-ceremony-done")

    # Receipts for each household, balances down by exactly their goods, stock down by 4.
    ceremony = Ceremony.objects.get()
    made = {
        r.household_id: r
        for r in Redemption.objects.filter(ceremony=ceremony).prefetch_related("lines")
    }
    assert set(made) == {wang.pk, zhao.pk, li.pk}
    assert all(r.source == RedemptionSource.CEREMONY and r.posting_id for r in made.values())
    assert [made[h.pk].points for h in (wang, zhao, li)] == [30_000, 15_000, 15_000]
    assert [balance(h) for h in (wang, zhao, li, poor)] == [20_000, 5_000, 15_000, 1_000]
    assert Product.objects.get(pk=cooker.pk).stock == 6
    page_text = page.locator("main").inner_text()
    for who in ("王秀英 开通镇 · 晓光村", "赵德明 开通镇 · 新华村", "李淑珍 兴隆山镇 · 兴盛村"):
        assert who in page_text
    assert "孙有才" not in page_text
    assert_ledger_ok(world.scheme.pk)
