"""Staff pages in a real browser: login, household search (pinyin initials), detail, admin."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from civicpoints.schemes.models import Role
from tests.browser.conftest import assert_cjk_font, shot, staff_sign_in
from tests.factories import PASSWORD, build_world, fund, make_household, make_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]


def test_village_admin_finds_a_household_by_pinyin_and_reads_its_history(page):
    world = build_world()
    make_staff("cunzhang", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    zeng = make_household(world.scheme, world.village_a1, "曾国涛", phone="13912345678")
    make_household(world.scheme, world.village_a1, "王秀英")
    make_household(world.scheme, world.village_b1, "曾外村")  # another village: never shown
    fund(zeng, 1270000, memo="农药瓶回收 12000 个")

    page.goto(page.base_url + "/login/")
    assert_cjk_font(page)
    shot(page, "login")
    staff_sign_in(page, page.base_url, "cunzhang")
    page.get_by_role("link", name="农户").first.click()
    page.get_by_label("姓名、拼音首字母、手机号或卡号").fill("cgt")
    expect(page.locator("#rows tr")).to_have_count(1)
    row = page.locator("#rows tr", has_text="曾国涛")
    assert "139****5678" in row.inner_text()
    shot(page, "households-search")
    row.get_by_role("link", name="曾国涛").click()
    page.get_by_text("积分明细").wait_for()
    assert "12700" in page.locator(".figure").first.inner_text()
    assert "农药瓶回收 12000 个" in page.content()
    assert_cjk_font(page)
    shot(page, "household-detail")


def test_wrong_password_says_so_in_chinese(page):
    world = build_world()
    make_staff("cunzhang", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    page.goto(page.base_url + "/login/")
    page.get_by_label("用户名").fill("cunzhang")
    page.get_by_label("密码").fill("wrong password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "用户名或密码错误"


def test_django_admin_is_in_chinese(page):
    world = build_world()
    user = make_staff("xianli", Role.COUNTY_ADMIN, world.county, world.scheme)
    user.is_staff = user.is_superuser = True
    user.save()
    # The admin's login redirects to the one staff login, which comes back to the admin.
    page.goto(page.base_url + "/admin/login/?next=/admin/")
    page.get_by_label("用户名").fill("xianli")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_text("系统管理").first.wait_for()
    content = page.content()
    assert "积分方案" in content and "行政区划" in content and "工作人员" in content
    shot(page, "admin-index")


def test_printed_card_carries_a_qr_code_of_the_card_code(page):
    world = build_world()
    make_staff("cunzhang", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    h = make_household(world.scheme, world.village_a1, "朴珍")
    other = make_household(world.scheme, world.village_b1, "外村户")
    staff_sign_in(page, page.base_url, "cunzhang")
    page.goto(f"{page.base_url}/households/{h.pk}/card/")
    assert page.locator(".pcard svg.segno").count() == 1
    assert h.card_code in page.locator(".pcard").inner_text()
    shot(page, "household-card")
    response = page.goto(f"{page.base_url}/households/{other.pk}/card/")
    assert response.status == 404
