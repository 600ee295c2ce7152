"""The staff check-in screen without a browser: the list, a scan posted by HTMX and its large
result text, a forgotten check-out closed with a reason, the close button, and scope."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.activities.models import Activity, Attendance
from civicpoints.activities.services import activity_check_in, activity_create
from civicpoints.awards.models import Claim
from tests.activities.conftest import Acts
from tests.factories import make_household, static_text

HX = {"HTTP_HX_REQUEST": "true"}


def _client(acts: Acts, name: str) -> Client:
    client = Client()
    client.force_login(acts.users[name])
    return client


@pytest.fixture
def running(acts: Acts) -> Activity:
    now = timezone.now()
    return activity_create(
        actor=acts.village_admin,
        scheme=acts.scheme,
        region=acts.world.village_a1,
        title="清理村道垃圾",
        place="村委会门前",
        starts_at=now - dt.timedelta(hours=2),
        ends_at=now + dt.timedelta(hours=1),
        rule_id=acts.rules["H01"].pk,
        capacity=20,
        publish=True,
        at=now - dt.timedelta(days=1),
    )


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_list_links_to_the_check_in_screen(acts: Acts, running: Activity):
    page = _text(_client(acts, "grid_worker").get("/activities/"))
    assert "清理村道垃圾" in page
    assert f'href="/activities/{running.pk}/checkin/"' in page
    assert "结束并生成申报" not in page  # a grid worker scans but does not close
    assert "结束并生成申报" in _text(_client(acts, "village_admin").get("/activities/"))
    assert "清理村道垃圾" not in _text(_client(acts, "grid_worker_a2").get("/activities/"))


def test_the_check_in_screen_has_a_focused_field_and_a_local_camera_scanner(
    acts: Acts, running: Activity
):
    page = _text(_client(acts, "grid_worker").get(f"/activities/{running.pk}/checkin/"))
    assert re.search(r'<input id="code" name="code"[^>]*autofocus', page)
    assert f'hx-post="/activities/{running.pk}/scan/"' in page
    # The scanner is loaded from our own static files (by the shared camera-scan.js).
    assert 'data-scanner="/static/vendor/qr-scanner/qr-scanner.min.js"' in page
    assert '<script type="module" src="/static/js/activity-checkin.js"></script>' in page
    assert 'import { cameraScan } from "./camera-scan.js"' in static_text("js/activity-checkin.js")
    assert "https://" not in page and "//cdn" not in page
    assert Client().get("/static/vendor/qr-scanner/qr-scanner-worker.min.js").status_code == 200


def test_a_scan_shows_the_name_and_time_in_large_text(acts: Acts, running: Activity):
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    client = _client(acts, "grid_worker")
    url = f"/activities/{running.pk}/scan/"

    response = client.post(url, {"code": f" {wang.card_code.lower()}\n", "mode": "in"}, **HX)
    attendance = Attendance.objects.get()
    time = f"{timezone.localtime(attendance.checked_in_at):%H:%M}"
    page = _text(response)
    assert (
        f'<div class="scan-result ok" role="status" data-code="">王秀英 已签到 {time}</div>' in page
    )
    assert "报名 1 户 · 在场 1 户 · 已签退 0 户" in page
    assert 'id="door-counts" class="door-counts" hx-swap-oob="true"' in page

    again = _text(client.post(url, {"code": wang.card_code, "mode": "in"}, **HX))
    assert f"王秀英 已于 {time} 签到，请勿重复签到" in again
    assert 'class="scan-result refused"' in again

    out = _text(client.post(url, {"code": wang.card_code, "mode": "out"}, **HX))
    assert "王秀英 已签退 共 0 小时" in out
    unknown = _text(client.post(url, {"code": "NOPE", "mode": "in"}, **HX))
    assert "未找到该卡号，或该户不在本活动范围内" in unknown


def test_without_htmx_a_scan_redirects_back_with_a_message(acts: Acts, running: Activity):
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    client = _client(acts, "grid_worker")
    response = client.post(
        f"/activities/{running.pk}/scan/", {"code": wang.card_code, "mode": "out"}, follow=True
    )
    assert response.redirect_chain == [(f"/activities/{running.pk}/checkin/?mode=out", 302)]
    assert "王秀英 尚未签到，不能签退" in _text(response)


def test_staff_close_a_forgotten_check_out_then_the_activity(acts: Acts, running: Activity):
    zeng = make_household(acts.scheme, acts.world.village_a1, "曾国涛")
    activity_check_in(
        actor=acts.grid_worker,
        activity=running,
        code=zeng.card_code,
        at=running.starts_at + dt.timedelta(minutes=5),
    )
    attendance = Attendance.objects.get()
    admin = _client(acts, "village_admin")
    page = _text(admin.get(f"/activities/{running.pk}/checkin/"))
    assert "尚未签退" in page and "曾国涛" in page

    closed = admin.post(f"/activities/{running.pk}/close/", follow=True)
    assert "还有 1 户未签退（曾国涛）" in _text(closed)

    url = f"/activities/{running.pk}/attendances/{attendance.pk}/checkout/"
    response = admin.post(url, {"reason": "提前回家，忘记签退"}, follow=True)
    assert "曾国涛 已补签退 共 1.5 小时" in _text(response)
    attendance.refresh_from_db()
    assert (attendance.closed_by_staff, attendance.close_reason) == (True, "提前回家，忘记签退")

    done = _text(admin.post(f"/activities/{running.pk}/close/", follow=True))
    assert "「清理村道垃圾」已结束：生成 1 条申报（待审核），0 条签到未生成申报" in done
    assert Claim.objects.get().points == 2250


def test_another_village_gets_not_found(acts: Acts, running: Activity):
    household = make_household(acts.scheme, acts.world.village_a1)
    client = _client(acts, "grid_worker_a2")
    assert client.get(f"/activities/{running.pk}/checkin/").status_code == 404
    response = client.post(
        f"/activities/{running.pk}/scan/", {"code": household.card_code, "mode": "in"}, **HX
    )
    assert response.status_code == 404
    assert client.post(f"/activities/{running.pk}/close/").status_code == 404
    assert Attendance.objects.count() == 0
