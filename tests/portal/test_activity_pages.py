"""Volunteer activities on the resident's phone: the activities open to the household, sign-up
and cancellation under the services' capacity and deadline rules, check-in and check-out by
the activity's code, and the hours served with where their points stand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.activities.models import Activity, Attendance, Enrolment, EnrolmentStatus
from civicpoints.activities.services import activity_close, activity_enrol
from civicpoints.audit.models import AuditEvent
from civicpoints.awards.services import claim_approve, notices_finalize
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.selectors import household_balance
from tests.activities.conftest import Acts, build_acts
from tests.factories import make_household
from tests.ledger.helpers import assert_ledger_ok

PIN = "258369"


@pytest.fixture
def acts(db, settings) -> Acts:
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    return build_acts()


def resident(acts: Acts, name: str, village=None):
    household = make_household(acts.scheme, village or acts.world.village_a1, name)
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    return household


def phone(household) -> Client:
    client = Client()
    assert client.post("/m/login/", {"card": household.card_code, "pin": PIN}).status_code == 302
    return client


def written() -> tuple[int, int, int]:
    enrolled = Enrolment.objects.filter(status=EnrolmentStatus.ENROLLED).count()
    return enrolled, Attendance.objects.count(), AuditEvent.objects.count()


def upcoming(acts: Acts, **kw) -> Activity:
    """An activity tomorrow afternoon, created now."""
    start = timezone.localtime().replace(hour=14, minute=0, second=0, microsecond=0)
    start += dt.timedelta(days=1)
    kw.setdefault("starts_at", start)
    kw.setdefault("ends_at", start + dt.timedelta(hours=3))
    return acts.activity(at=timezone.now(), **kw)


def running(acts: Acts, **kw) -> Activity:
    now = timezone.now()
    return acts.activity(
        at=now - dt.timedelta(hours=1),
        starts_at=now - dt.timedelta(minutes=20),
        ends_at=now + dt.timedelta(hours=2),
        **kw,
    )


def test_a_resident_signs_up_and_gives_the_place_back(acts: Acts):
    wang = resident(acts, "王秀英")
    ours = upcoming(acts, capacity=2, title="清理村道垃圾")
    upcoming(acts, region=acts.world.township_a, capacity=None, title="镇上义诊")
    upcoming(acts, region=acts.world.village_a2, title="新华村植树")
    client = phone(wang)

    listing = client.get("/m/activities/").content.decode()
    assert "清理村道垃圾" in listing and "镇上义诊" in listing and "新华村植树" not in listing
    assert "还剩 2 个名额" in listing and "名额不限" in listing
    assert "每小时 15 分" in listing

    signed = client.post(f"/m/activities/{ours.pk}/enrol/", follow=True).content.decode()
    assert "已报名「清理村道垃圾」" in signed
    assert Enrolment.objects.get(activity=ours).household_id == wang.pk
    assert f"/m/activities/{ours.pk}/cancel/" in signed

    # Cancelling asks first (no pop-up), then gives the place back
    ask = client.get(f"/m/activities/{ours.pk}/cancel/").content.decode()
    assert "取消报名吗？" in ask
    done = client.post(f"/m/activities/{ours.pk}/cancel/", follow=True).content.decode()
    assert "已取消报名「清理村道垃圾」。" in done and "还剩 2 个名额" in done
    assert Enrolment.objects.get(activity=ours).status == EnrolmentStatus.CANCELLED


def test_a_full_activity_offers_no_button_and_a_forged_sign_up_is_refused(acts: Acts):
    full = upcoming(acts, capacity=1)
    activity_enrol(activity=full, household=make_household(acts.scheme, acts.world.village_a1))
    wang = resident(acts, "王秀英")
    client = phone(wang)
    listing = client.get("/m/activities/").content.decode()
    assert "名额已满" in listing and f"/m/activities/{full.pk}/enrol/" not in listing

    before = written()
    page = client.post(f"/m/activities/{full.pk}/enrol/", follow=True).content.decode()
    assert "「清理村道垃圾」1 个名额已满" in page
    assert written() == before


def test_sign_up_after_the_end_and_other_villages_activities_are_refused(acts: Acts):
    wang = resident(acts, "王秀英")
    client = phone(wang)
    now = timezone.now()
    ended = acts.activity(
        at=now - dt.timedelta(hours=5),
        starts_at=now - dt.timedelta(hours=4),
        ends_at=now - dt.timedelta(hours=1),
    )
    sibling = upcoming(acts, region=acts.world.village_a2)
    before = written()
    page = client.post(f"/m/activities/{ended.pk}/enrol/", follow=True).content.decode()
    assert "活动未在报名中" in page
    assert client.post(f"/m/activities/{sibling.pk}/enrol/").status_code == 404
    assert client.get(f"/m/activities/{sibling.pk}/cancel/").status_code == 404
    not_mine = client.get(f"/m/activities/{ended.pk}/cancel/", follow=True).content.decode()
    assert "您没有报名这个活动，不用取消。" in not_mine
    assert written() == before


def test_check_in_and_out_by_the_activitys_code_then_hours_and_points(acts: Acts):
    wang = resident(acts, "王秀英")
    activity = running(acts)
    activity_enrol(activity=activity, household=wang)
    client = phone(wang)

    # The door's code, typed in lower case: the page shows the activity and one button
    found = client.get("/m/activities/scan/", {"code": activity.code.lower()}).content.decode()
    assert "清理村道垃圾" in found and '<input type="hidden" name="mode" value="in">' in found
    checked_in = client.post(
        "/m/activities/scan/", {"code": activity.code, "mode": "in"}, follow=True
    ).content.decode()
    assert "已签到「清理村道垃圾」" in checked_in
    assert '<input type="hidden" name="mode" value="out">' in checked_in
    attendance = Attendance.objects.get()
    assert (attendance.household_id, attendance.checked_in_by_id) == (wang.pk, None)
    # A second check-in is refused in words and writes nothing
    before = written()
    again = client.post(
        "/m/activities/scan/", {"code": activity.code, "mode": "in"}, follow=True
    ).content.decode()
    assert "王秀英 已于" in again and "请勿重复签到" in again
    assert written() == before

    # Check out two hours later (the clock moved: times set on the row)
    Attendance.objects.filter(pk=attendance.pk).update(checked_in_at=activity.starts_at)
    out = client.post(
        "/m/activities/scan/", {"code": activity.code, "mode": "out"}, follow=True
    ).content.decode()
    assert "已签退「清理村道垃圾」" in out
    hours_page = client.get("/m/activities/hours/").content.decode()
    assert "活动结束后交村里审核" in hours_page

    # Close, approve, notice ends: the hours page says what was posted
    Attendance.objects.filter(pk=attendance.pk).update(
        checked_out_at=activity.starts_at + dt.timedelta(hours=2)
    )
    end = activity.ends_at + dt.timedelta(minutes=5)
    result = activity_close(actor=acts.village_admin, activity=activity, at=end)
    claim = result.activity.attendances.get().claim
    claim_approve(actor=acts.village_admin, claim=claim, at=end)
    on_notice = client.get("/m/activities/hours/").content.decode()
    assert "计 2 小时" in on_notice and "公示中" in on_notice and "（30 分）" in on_notice
    notices_finalize(at=end + dt.timedelta(days=3))
    posted = client.get("/m/activities/hours/").content.decode()
    assert "已入账 +30 分" in posted and "累计计入 2 小时" in posted
    assert household_balance(household_id=wang.pk).balance == 3000
    assert_ledger_ok(acts.scheme.pk)


def test_scan_page_refusals_are_in_words_and_write_nothing(acts: Acts):
    wang = resident(acts, "王秀英")
    client = phone(wang)
    sibling = running(acts, region=acts.world.village_a2)
    later = upcoming(acts)
    staff_only = running(acts, title="只许刷卡")
    Activity.objects.filter(pk=staff_only.pk).update(self_check_in=False)
    before = written()

    for code in ("NOSUCHCODE12", sibling.code):
        page = client.get("/m/activities/scan/", {"code": code}).content.decode()
        assert 'id="code-error">没有找到这个活动码，或这个活动不在您村的范围内</p>' in page
    shown = client.get("/m/activities/scan/", {"code": staff_only.code}).content.decode()
    assert "这个活动不能扫码自助签到，请到现场请工作人员扫您的积分卡" in shown
    assert 'name="mode"' not in shown
    for code, message in [
        (staff_only.code, "这个活动不能扫码自助签到，请到现场请工作人员扫您的积分卡"),
        (later.code, "签到时间为"),
        (sibling.code, "没有找到这个活动码，或这个活动不在您村的范围内"),
    ]:
        page = client.post(
            "/m/activities/scan/", {"code": code, "mode": "in"}, follow=True
        ).content.decode()
        assert message in page
    out = client.post(
        "/m/activities/scan/", {"code": later.code, "mode": "out"}, follow=True
    ).content.decode()
    assert "王秀英 尚未签到，不能签退" in out
    assert written() == before


def test_the_home_page_links_to_activities_and_help(acts: Acts):
    home = phone(resident(acts, "王秀英")).get("/m/").content.decode()
    assert 'href="/m/activities/"' in home and 'href="/m/help/"' in home
    for url in ("/m/activities/", "/m/activities/scan/", "/m/activities/hours/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].split("?")[0] == "/m/login/"
