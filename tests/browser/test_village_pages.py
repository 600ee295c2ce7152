"""Village life and the public page on a phone (360x740): the open page /open/<code>/ with
masked names and the chain head, and a resident reading announcements and a reply to their
complaint. Screenshots go to test-artifacts/screenshots/village-*.png."""

from __future__ import annotations

import pytest

from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.community.services import announcement_post, feedback_reply, feedback_submit
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import ChainLink
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.browser.a11y import axe_violations, small_targets, small_text
from tests.browser.conftest import assert_cjk_font, resident_sign_in, shot, staff_sign_in
from tests.factories import build_world, fund, make_household, make_staff

# Once per scripts/test, in the SQLite pass: the PostgreSQL pass sets the run's time (docs/testing.md)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

PHONE = {"width": 360, "height": 740}
PIN = "258369"


@pytest.fixture
def village(db):  # type: ignore[no-untyped-def]
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    me = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    household_set_pin(actor_id=None, household=me, pin=PIN)
    me.refresh_from_db()
    fund(me, 12_000)
    for name, code, quantity in (("张三明", "E03", 2), ("欧阳娜娜", "V02", 1), ("李五", "H01", 3)):
        household = make_household(world.scheme, world.village_a1, name)
        claim = claim_submit(
            actor=admin,
            household=household,
            rule_id=rules[code].pk,
            quantity=quantity,
            witness="村委会",
        )
        claim_approve(actor=admin, claim=claim)
    chain_follow(scheme_id=world.scheme.pk)
    announcement_post(
        actor=admin,
        village_id=world.village_a1.pk,
        title="冬季防火通知",
        body="入冬以来天干物燥，请各户检查炉具烟道，不要在屋里堆放柴草。\n村里12月10日统一检查。",
        pinned=True,
    )
    announcement_post(
        actor=admin,
        village_id=world.village_a1.pk,
        title="12月积分超市兑换日安排",
        body="本月兑换日为每周六上午9点到11点。",
    )
    complaint = feedback_submit(
        household=me, kind="complaint", text="村东头路灯坏了一个月，晚上走路看不见。"
    )
    feedback_reply(actor=admin, feedback=complaint, text="已报镇电力所，本周内修好。谢谢您反映！")
    return world, me


def elder_checks(page) -> list[str]:  # type: ignore[no-untyped-def]
    return (
        axe_violations(page)
        + [f"small text {t}" for t in small_text(page)]
        + [f"small target {t}" for t in small_targets(page)]
    )


def no_sideways_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_the_open_page_on_a_phone(browser, live_server, village):
    world, _ = village
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/open/{world.village_a1.code}/")
    page.get_by_role("heading", name="正在公示的申报").wait_for()
    assert_cjk_font(page)
    shot(page, "village-open")
    body = page.inner_text("body")
    assert "张*明" in body and "欧阳*娜" in body and "李*" in body
    assert "张三明" not in body and "13912345678" not in body
    head = ChainLink.objects.filter(scheme=world.scheme).order_by("-seq").first()
    assert head is not None and f"{head.seq}:{head.hash}" in body
    assert no_sideways_scroll(page)
    # A big button opens the check's answer (the public API, no login)
    assert elder_checks(page) == []
    page.get_by_role("link", name="现在就核对（打开核对结果）").click()
    # The check's answer, once it is the page (a read right after the click may see this one)
    page.wait_for_function(
        "() => document.body.innerText.replace(/\\s/g, '').includes('\"ok\":true')"
    )
    # Print layout: A4, no header, no buttons
    page.goto(f"{live_server.url}/open/{world.village_a1.code}/")
    page.emulate_media(media="print")
    shot(page, "village-open-print")
    assert page.locator(".bar").is_hidden()
    context.close()


def test_an_unknown_village_gets_a_friendly_page(browser, live_server, village):
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    response = page.goto(f"{live_server.url}/open/220822999999/")
    assert response is not None and response.status == 404
    assert "没有找到这个村" in page.inner_text("body")
    shot(page, "village-open-not-found")
    context.close()


def test_a_resident_reads_announcements_and_the_reply(browser, live_server, village):
    _, me = village
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    resident_sign_in(page, live_server.url, me.card_code, PIN)
    page.get_by_role("link", name="村务信息").click()
    page.get_by_role("heading", name="晓光村村务信息").wait_for()
    assert_cjk_font(page)
    shot(page, "village-announcements")
    titles = page.locator(".entry strong").all_inner_texts()
    assert titles == ["冬季防火通知", "12月积分超市兑换日安排"]
    assert elder_checks(page) == [] and no_sideways_scroll(page)
    page.get_by_role("link", name="冬季防火通知").click()
    page.get_by_role("heading", name="冬季防火通知").wait_for()
    shot(page, "village-announcement")
    assert elder_checks(page) == []
    page.goto(live_server.url + "/m/feedback/")
    shot(page, "village-feedback-list")
    assert elder_checks(page) == []
    page.locator(".entry").first.click()
    page.get_by_role("heading", name="村里的答复").wait_for()
    assert "已报镇电力所，本周内修好。" in page.inner_text("body")
    shot(page, "village-feedback")
    assert elder_checks(page) == []
    page.goto(live_server.url + "/m/feedback/new/")
    page.get_by_role("button", name="提交").click()  # nothing chosen: the browser asks first
    page.get_by_label("建议").check()
    page.get_by_label("想说的话").fill("建议村口多装两个垃圾箱")
    page.get_by_role("button", name="提交").click()
    page.get_by_role("heading", name="我的建议").wait_for()
    shot(page, "village-feedback-new-done")
    assert "待处理" in page.inner_text("body")
    context.close()


def test_a_village_admin_answers_a_complaint_and_posts_a_notice(browser, live_server, village):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    staff_sign_in(page, live_server.url, "cun")
    page.locator("header nav").get_by_role("link", name="投诉建议").click()
    page.get_by_role("heading", name="投诉建议").wait_for()
    assert "共 0 条" in page.inner_text("main")  # the only one is answered already
    page.select_option("#status", "all")
    page.get_by_role("button", name="筛选").click()
    page.get_by_text("村东头路灯坏了一个月").first.click()
    page.get_by_role("heading", name="答复", exact=True).wait_for()
    page.get_by_label("改状态").select_option(label="已关闭")
    page.get_by_role("button", name="保存状态").click()
    page.get_by_text("状态已改为：已关闭").wait_for()
    shot(page, "village-staff-feedback")
    # (checked without the flash message: base.html's message list is the shared frame's)
    page.reload()
    assert axe_violations(page) == []
    page.get_by_role("link", name="村务信息").click()
    page.get_by_role("link", name="发布村务信息").click()
    page.get_by_label("标题").fill("")
    page.get_by_label("正文").fill("本周六上午9点村委会开会。")
    page.get_by_label("标题").fill(" ")
    page.get_by_role("button", name="发布").click()
    page.get_by_text("不能为空").wait_for()
    shot(page, "village-staff-announcement-error")
    page.get_by_label("标题").fill("村民代表会议通知")
    page.get_by_role("button", name="发布").click()
    page.get_by_role("heading", name="村民代表会议通知").wait_for()
    shot(page, "village-staff-announcement")
    page.reload()
    assert axe_violations(page) == []
    context.close()
