"""Journey (d): a resident signs up for a volunteer activity on the phone, checks in and out by
typing the activity's code on the scan page (the door's QR code holds the same code), sees the
hours; the village admin closes the activity and approves the claim; after the notice the
points are posted and shown on the phone. The ledger verifies at the end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone

from civicpoints.activities.models import Activity, Attendance, Enrolment
from civicpoints.activities.services import activity_create
from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services import notices_finalize
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.selectors import household_balance
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
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


def _elder_mode_ok(page) -> None:
    assert_cjk_font(page)
    assert [t for t in small_text(page) if not t.endswith("English")] == []
    assert small_targets(page) == []
    assert axe_violations(page) == []


def _clock_forward(activity: Activity, delta: dt.timedelta) -> None:
    """Let ``delta`` pass: every time of the scenario moves that much into the past (the
    live server reads the real clock, so the scenario's times move instead)."""
    Activity.objects.filter(pk=activity.pk).update(
        starts_at=F("starts_at") - delta,
        ends_at=F("ends_at") - delta,
        created_at=F("created_at") - delta,
    )
    Enrolment.objects.filter(activity=activity).update(created_at=F("created_at") - delta)
    Attendance.objects.filter(activity=activity).update(checked_in_at=F("checked_in_at") - delta)


def test_a_resident_signs_up_checks_in_by_code_and_sees_hours_then_points(
    browser, live_server, settings
):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin_user = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    wang = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=wang, pin=PIN)
    # Given an activity starting in half an hour, 3 hours long, 10 points an hour (V01)
    now = timezone.now()
    activity = activity_create(
        actor=actor_for_user(admin_user),
        scheme=world.scheme,
        region=world.village_a1,
        title="清理村道垃圾",
        place="晓光村村委会门前",
        starts_at=now + dt.timedelta(minutes=30),
        ends_at=now + dt.timedelta(hours=3, minutes=30),
        rule_id=rules["V01"].pk,
        capacity=5,
        publish=True,
        at=now,
    )

    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    phone = context.new_page()
    phone.set_default_timeout(15000)
    try:
        phone.goto(live_server.url + "/m/login/")
        phone.get_by_label("积分卡号").fill(wang.card_code)
        phone.get_by_label("6位密码").fill(PIN)
        phone.get_by_role("button", name="登录", exact=True).click()

        # When she opens 志愿活动 and signs up
        phone.get_by_role("link", name="志愿活动").click()
        card = phone.locator(f"#activity-{activity.pk}")
        assert "还剩 5 个名额" in card.inner_text()
        assert "志愿服务（按小时计），每小时 10 分" in card.inner_text()
        _elder_mode_ok(phone)
        shot(phone, "journey-d-activities")
        card.get_by_role("button", name="报名").click()
        phone.get_by_text("已报名「清理村道垃圾」").wait_for()
        assert "已报名" in phone.locator(f"#activity-{activity.pk} .state").inner_text()
        _elder_mode_ok(phone)
        shot(phone, "journey-d-signed-up")

        # At the door she types the activity's code (what its QR code holds) and checks in
        phone.get_by_role("link", name="扫码签到、签退").click()
        _elder_mode_ok(phone)
        shot(phone, "journey-d-scan")
        phone.get_by_label("活动码").fill(activity.code.lower())
        phone.get_by_role("button", name="下一步").click()
        door = phone.locator("#door")
        assert "清理村道垃圾" in door.inner_text()
        door.get_by_role("button", name="签到").click()
        phone.get_by_text("已签到「清理村道垃圾」").wait_for()
        _elder_mode_ok(phone)
        shot(phone, "journey-d-checked-in")
        attendance = Attendance.objects.get()
        assert (attendance.household_id, attendance.checked_in_by_id) == (wang.pk, None)

        # Two and three-quarter hours later (2 h 15 min into the activity) she checks out
        _clock_forward(activity, dt.timedelta(hours=2, minutes=45))
        phone.reload()
        phone.locator("#door").get_by_role("button", name="签退").click()
        phone.get_by_text("已签退「清理村道垃圾」，共 2 小时").wait_for()
        assert "共 2 小时" in phone.locator("#door .state").inner_text()
        shot(phone, "journey-d-checked-out")

        # Her hours are there, waiting for the activity to close
        phone.goto(live_server.url + "/m/activities/hours/")
        row = phone.locator(f"#attendance-{attendance.pk}")
        assert "计 2 小时" in row.inner_text() and "活动结束后交村里审核" in row.inner_text()
        _elder_mode_ok(phone)
        shot(phone, "journey-d-hours")

        # The village admin closes the activity and approves the claim
        staff = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        admin = staff.new_page()
        admin.set_default_timeout(15000)
        try:
            staff_sign_in(admin, live_server.url, "cun")
            admin.goto(live_server.url + "/activities/")
            with admin.expect_navigation():
                admin.locator(f"#activity-{activity.pk}").get_by_role(
                    "button", name="结束并生成申报"
                ).click()
            admin.get_by_text("生成 1 条申报（待审核）").wait_for()
            claim = Claim.objects.get()
            assert (claim.household_id, claim.source, claim.points) == (
                wang.pk,
                ClaimSource.ACTIVITY,
                2000,
            )
            admin.goto(live_server.url + "/claims/")
            with admin.expect_navigation():
                admin.locator(f"#claim-{claim.pk}").get_by_role("button", name="通过").click()
            admin.get_by_text("已审核通过").wait_for()
            shot(admin, "journey-d-approved")
        finally:
            staff.close()
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.ON_NOTICE and claim.notice_ends_at is not None
        ends = timezone.localtime(claim.notice_ends_at)

        phone.reload()
        assert (
            f"公示中，{ends.month}月{ends.day}日公示结束（20 分）"
            in phone.locator(f"#attendance-{attendance.pk}").inner_text()
        )
        shot(phone, "journey-d-on-notice")

        # The notice ends: 2 h x 10 = 20 points are posted and shown on the phone
        assert notices_finalize(at=claim.notice_ends_at + dt.timedelta(minutes=1)).count == 1
        assert household_balance(household_id=wang.pk).balance == 2000
        phone.reload()
        assert phone.locator(f"#attendance-{attendance.pk} .state").inner_text() == "已入账 +20 分"
        assert "累计计入 2 小时" in phone.locator(".big-state").inner_text()
        _elder_mode_ok(phone)
        shot(phone, "journey-d-posted")
        phone.goto(live_server.url + "/m/")
        assert phone.locator(".balance strong").inner_text() == "20"
    finally:
        context.close()

    # The ledger verifies at the end
    assert_ledger_ok(world.scheme.pk)


def test_the_door_screen_shows_the_code_and_staff_confirm_help_for_a_household(page):
    """The grid worker's door screen opens the activity's QR code for residents; the village
    admin confirms, on the staff page, help a grid worker recorded for a household."""
    from civicpoints.activities.services import mutual_help_report

    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin_user = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    grid_user = make_staff("wangge", Role.GRID_WORKER, world.village_a1, world.scheme)
    now = timezone.now()
    activity = activity_create(
        actor=actor_for_user(admin_user),
        scheme=world.scheme,
        region=world.village_a1,
        title="清理村道垃圾",
        place="晓光村村委会门前",
        starts_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(hours=3),
        rule_id=rules["V01"].pk,
        publish=True,
        at=now,
    )
    helper = make_household(world.scheme, world.village_a1, "李德福")
    helped = make_household(world.scheme, world.village_a1, "王秀英")
    row = mutual_help_report(
        actor=actor_for_user(grid_user),
        helper=helper,
        helped=helped,
        hours=2,
        occurred_on=timezone.localdate(),
        note="帮独居老人修屋顶",
    )

    staff_sign_in(page, page.base_url, "wangge")
    page.goto(f"{page.base_url}/activities/{activity.pk}/checkin/")
    page.get_by_text("村民用手机扫码签到：出示活动二维码").click()
    qr = page.locator("#door-qr svg")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 200
    assert activity.code in page.locator(".door-qr-text").inner_text()
    shot(page, "activity-door-qr")
    # The grid worker who recorded the help sees it but is offered no button
    page.get_by_role("link", name="邻里互助").click()
    page.locator(f"#help-{row.pk}").wait_for()  # the new page, not the one just left
    assert page.locator(f"#help-{row.pk}").get_by_role("button").count() == 0
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/login/")  # signed out before signing in again

    staff_sign_in(page, page.base_url, "cun")
    nav = page.get_by_role("link", name="邻里互助 1")
    nav.click()
    line = page.locator(f"#help-{row.pk}")
    assert "帮独居老人修屋顶" in line.inner_text() and "2 小时" in line.inner_text()
    assert_cjk_font(page)
    shot(page, "staff-mutual-help")
    with page.expect_navigation():
        line.get_by_role("button", name="核实属实，代为确认").click()
    page.get_by_text("已代 王秀英 确认：李德福 帮助 2 小时，已生成申报待审核。").wait_for()
    row.refresh_from_db()
    assert (row.claim.points, row.claim.witness) == (3000, "受助户 王秀英（cun 核实）")
