"""The staff page for mutual help: a grid worker or admin covering the helped household confirms
(or rejects) for a household without a phone; the reporter cannot confirm its own report;
staff of another village see nothing; the menu offers the page only to those who can use it;
and the door screen shows the activity's code for residents to scan."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.activities.models import Activity, MutualHelp, MutualHelpStatus
from civicpoints.activities.services import mutual_help_report
from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import Claim
from civicpoints.schemes.models import Role
from tests.activities.conftest import Acts
from tests.factories import make_household, make_staff

DAY = dt.date(2026, 11, 1)


def _client(acts: Acts, name: str) -> Client:
    client = Client()
    client.force_login(acts.users[name])
    return client


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def counts() -> tuple[int, int, int]:
    return (
        Claim.objects.count(),
        MutualHelp.objects.filter(status=MutualHelpStatus.PENDING).count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def pending(acts: Acts) -> MutualHelp:
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    return mutual_help_report(
        helper=helper, helped=helped, hours=4, occurred_on=timezone.localdate(), note="修屋顶"
    )


def test_a_grid_worker_confirms_for_a_household_without_a_phone(acts: Acts, pending: MutualHelp):
    client = _client(acts, "grid_worker")
    page = _text(client.get("/mutual-help/"))
    assert "李德福" in page and "王秀英" in page and "修屋顶" in page
    assert "4 小时" in page and ">60<" in page and "待受助户确认" in page
    assert f'action="/mutual-help/{pending.pk}/confirm/"' in page
    # The menu says there is one waiting
    assert re.search(r'href="/mutual-help/"[^>]*>邻里互助 <span class="badge"[^>]*>1</span>', page)

    done = _text(client.post(f"/mutual-help/{pending.pk}/confirm/", follow=True))

    assert "已代 王秀英 确认：李德福 帮助 4 小时，已生成申报待审核。" in done
    pending.refresh_from_db()
    assert (pending.status, pending.claim.points, pending.claim.witness) == (
        MutualHelpStatus.CONFIRMED,
        6000,
        "受助户 王秀英（网格员李明 核实）",
    )
    # A second confirmation writes nothing
    before = counts()
    again = _text(client.post(f"/mutual-help/{pending.pk}/confirm/", follow=True))
    assert "这条互助已经确认过了，不用再确认。" in again
    assert counts() == before


def test_the_reporter_gets_no_button_and_a_forged_confirm_is_refused(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    row = mutual_help_report(
        actor=acts.grid_worker,
        helper=helper,
        helped=helped,
        hours=2,
        occurred_on=timezone.localdate(),
    )
    client = _client(acts, "grid_worker")
    page = _text(client.get("/mutual-help/"))
    assert "网格员李明" in page  # who reported it
    assert f"/mutual-help/{row.pk}/confirm/" not in page
    before = counts()
    refused = _text(client.post(f"/mutual-help/{row.pk}/confirm/", follow=True))
    assert "报告人不能自己确认，请由受助户或另一位工作人员确认" in refused
    assert counts() == before
    # The village admin may confirm it
    assert f"/mutual-help/{row.pk}/confirm/" in _text(
        _client(acts, "village_admin").get("/mutual-help/")
    )


def test_a_rejection_needs_a_reason_at_the_field(acts: Acts, pending: MutualHelp):
    client = _client(acts, "village_admin")
    before = counts()
    response = client.post(f"/mutual-help/{pending.pk}/reject/", {"reason": " "})
    assert response.status_code == 422
    assert f'id="reason-{pending.pk}-error"><li>请填写不属实的原因</li>' in _text(response)
    assert counts() == before

    done = _text(
        client.post(
            f"/mutual-help/{pending.pk}/reject/", {"reason": "上门核实：没有帮忙"}, follow=True
        )
    )
    assert "已记为不属实：李德福 帮助 王秀英，不生成申报。" in done
    pending.refresh_from_db()
    assert (pending.status, pending.reason, pending.claim_id) == (
        MutualHelpStatus.REJECTED,
        "上门核实：没有帮忙",
        None,
    )
    shown = _text(client.get("/mutual-help/?status=rejected"))
    assert "上门核实：没有帮忙" in shown and "不属实" in shown


def test_other_villages_and_counter_staff_see_nothing(acts: Acts, pending: MutualHelp):
    before = counts()
    other = _client(acts, "grid_worker_a2")
    assert "李德福" not in _text(other.get("/mutual-help/"))
    assert other.post(f"/mutual-help/{pending.pk}/confirm/").status_code == 404
    assert other.post(f"/mutual-help/{pending.pk}/reject/", {"reason": "x"}).status_code == 404
    clerk = _client(acts, "store_clerk")
    assert clerk.get("/mutual-help/").status_code == 404
    assert 'href="/mutual-help/"' not in _text(clerk.get("/"))
    assert counts() == before


def test_an_auditor_reads_the_list_without_buttons(acts: Acts, pending: MutualHelp):
    auditor = make_staff("shenji", Role.AUDITOR, acts.world.county, acts.scheme)
    client = Client()
    client.force_login(auditor)
    page = _text(client.get("/mutual-help/"))
    assert "李德福" in page and f"/mutual-help/{pending.pk}/confirm/" not in page
    assert 'href="/mutual-help/"' in page


def test_the_door_screen_shows_the_activity_code_for_residents(acts: Acts):
    now = timezone.now()
    activity = acts.activity(
        at=now - dt.timedelta(hours=1),
        starts_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(hours=2),
    )
    page = _text(_client(acts, "grid_worker").get(f"/activities/{activity.pk}/checkin/"))
    assert "村民用手机扫码签到：出示活动二维码" in page and activity.code in page
    assert "<svg" in page
    Activity.objects.filter(pk=activity.pk).update(self_check_in=False)
    page = _text(_client(acts, "grid_worker").get(f"/activities/{activity.pk}/checkin/"))
    assert "村民用手机扫码签到" not in page
