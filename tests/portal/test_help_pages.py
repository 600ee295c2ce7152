"""Mutual help on the resident's phone, from both sides: the helper records help given, the
helped household confirms or disputes it (or records help received itself); every bad input
gets a Chinese message at its field and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.activities.models import MutualHelp, MutualHelpStatus
from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.households.models import HouseholdStatus
from civicpoints.households.services import household_set_pin
from tests.activities.conftest import Acts, build_acts
from tests.factories import make_household

PIN = "258369"


@pytest.fixture
def acts(db, settings) -> Acts:
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    return build_acts()


def resident(acts: Acts, name: str, village=None, **kw):
    household = make_household(acts.scheme, village or acts.world.village_a1, name, **kw)
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    return household


def phone(household) -> Client:
    client = Client()
    response = client.post("/m/login/", {"card": household.card_code, "pin": PIN})
    assert response.status_code == 302, response.content.decode()
    return client


def counts() -> tuple[int, int, int]:
    return MutualHelp.objects.count(), Claim.objects.count(), AuditEvent.objects.count()


def today() -> str:
    return timezone.localdate().isoformat()


def test_help_given_is_confirmed_on_the_helped_households_phone(acts: Acts):
    li = resident(acts, "李德福")
    wang = resident(acts, "王秀英")
    make_household(acts.scheme, acts.world.village_a2, "新华村户")
    make_household(acts.scheme, acts.world.village_a1, "已销户", status=HouseholdStatus.CLOSED)
    li_phone = phone(li)

    # Given 李德福 opens "我帮助了别人": only the other open households of his village
    form = li_phone.get("/m/help/gave/").content.decode()
    assert f'<option value="{wang.pk}">王秀英</option>' in form
    assert "新华村户" not in form and "已销户" not in form and ">李德福<" not in form

    # When he records 3 hours of help given to 王秀英
    done = li_phone.post(
        "/m/help/gave/",
        {"other": wang.pk, "hours": "3", "occurred_on": today(), "note": "帮忙收玉米"},
        follow=True,
    ).content.decode()
    assert "已登记您帮助 王秀英 3 小时，等对方在手机上确认（或网格员核实）。" in done
    assert "等待 王秀英 确认" in done
    row = MutualHelp.objects.get()
    assert (row.helper_id, row.helped_id, row.status, row.claim_id) == (
        li.pk,
        wang.pk,
        MutualHelpStatus.PENDING,
        None,
    )

    # Then 王秀英's home page says something waits for her, and she confirms it
    wang_phone = phone(wang)
    assert "邻里互助（待您确认 1）" in wang_phone.get("/m/").content.decode()
    page = wang_phone.get("/m/help/").content.decode()
    assert "李德福 说帮助了您" in page and "帮忙收玉米" in page
    confirmed = wang_phone.post(f"/m/help/{row.pk}/confirm/", follow=True).content.decode()
    assert "已确认 李德福 帮助您 3 小时，村里审核、公示后给对方记分。" in confirmed
    row.refresh_from_db()
    assert (row.status, row.claim.household_id, row.claim.points, row.claim.status) == (
        MutualHelpStatus.CONFIRMED,
        li.pk,
        4500,
        ClaimStatus.SUBMITTED,
    )
    assert "待您确认" not in wang_phone.get("/m/").content.decode()
    # ... and the helper sees where it stands
    assert "已确认，村里审核中（45 分）" in li_phone.get("/m/help/").content.decode()

    # Confirming twice writes nothing more
    before = counts()
    again = wang_phone.post(f"/m/help/{row.pk}/confirm/", follow=True).content.decode()
    assert "这条互助您已经确认过了，不用再确认。" in again
    assert counts() == before


def test_the_helper_cannot_confirm_and_a_stranger_does_not_see_it(acts: Acts):
    li = resident(acts, "李德福")
    wang = resident(acts, "王秀英")
    zeng = resident(acts, "曾国涛")
    phone(li).post("/m/help/gave/", {"other": wang.pk, "hours": "2", "occurred_on": today()})
    row = MutualHelp.objects.get()
    before = counts()

    # The helper's list offers no button; a forged post is refused in words
    li_phone = phone(li)
    assert f"/m/help/{row.pk}/confirm/" not in li_phone.get("/m/help/").content.decode()
    page = li_phone.post(f"/m/help/{row.pk}/confirm/", follow=True).content.decode()
    assert "您是帮助的一方，不能自己确认，须由受助户确认" in page
    # A third household gets the resident's 404 page
    stranger = phone(zeng)
    assert stranger.post(f"/m/help/{row.pk}/confirm/").status_code == 404
    assert stranger.get(f"/m/help/{row.pk}/dispute/").status_code == 404
    assert "李德福" not in stranger.get("/m/help/").content.decode()
    assert counts() == before
    assert MutualHelp.objects.get().status == MutualHelpStatus.PENDING


def test_the_helped_household_disputes_with_a_reason(acts: Acts):
    li = resident(acts, "李德福")
    wang = resident(acts, "王秀英")
    phone(li).post("/m/help/gave/", {"other": wang.pk, "hours": "5", "occurred_on": today()})
    row = MutualHelp.objects.get()
    wang_phone = phone(wang)
    assert "这条互助不属实？" in wang_phone.get(f"/m/help/{row.pk}/dispute/").content.decode()

    before = counts()
    empty = wang_phone.post(f"/m/help/{row.pk}/dispute/", {"reason": "  "})
    assert empty.status_code == 422
    assert 'id="reason-error">请写下哪里不属实</p>' in empty.content.decode()
    assert counts() == before

    wang_phone.post(f"/m/help/{row.pk}/dispute/", {"reason": "那天他只帮了1小时"})
    row.refresh_from_db()
    assert (row.status, row.reason, row.claim_id, Claim.objects.count()) == (
        MutualHelpStatus.REJECTED,
        "那天他只帮了1小时",
        None,
        0,
    )
    assert "对方表示不属实：那天他只帮了1小时" in phone(li).get("/m/help/").content.decode()
    assert "您已表示不属实：那天他只帮了1小时" in wang_phone.get("/m/help/").content.decode()
    # Nothing is left to answer: the dispute page sends her back
    later = wang_phone.get(f"/m/help/{row.pk}/dispute/", follow=True).content.decode()
    assert "这条互助不需要您再答复。" in later


def test_help_received_recorded_by_the_helped_household_is_its_confirmation(acts: Acts):
    li = resident(acts, "李德福")
    wang = resident(acts, "王秀英")
    wang_phone = phone(wang)

    done = wang_phone.post(
        "/m/help/received/",
        {"card": li.card_code.lower(), "hours": "1.5", "occurred_on": today(), "note": "送医"},
        follow=True,
    ).content.decode()

    assert "已登记 李德福 帮助您 1.5 小时，村里审核、公示后给对方记分。" in done
    row = MutualHelp.objects.get()
    assert (row.helper_id, row.status, row.reported_by_helped, row.claim.points) == (
        li.pk,
        MutualHelpStatus.CONFIRMED,
        True,
        2250,
    )
    assert "已确认，村里审核中（22.5 分）" in phone(li).get("/m/help/").content.decode()
    assert "待您确认" not in phone(li).get("/m/").content.decode()


@pytest.mark.parametrize("side", ["gave", "received"])
@pytest.mark.parametrize(
    ("other", "hours", "day", "field", "message"),
    [
        ("", "3", "today", "other", "请选择对方户主，或输入对方的积分卡号"),
        ("me", "3", "today", "other", "帮助户和受助户不能是同一户"),
        ("away", "3", "today", "other", "请从本村农户中选择"),
        ("away_card", "3", "today", "card", "没有找到这个卡号，或对方不是本村农户"),
        ("closed", "3", "today", "other", "已销户 户已注销，不能登记互助"),
        ("li", "0", "today", "hours", "数量必须大于0"),
        ("li", "-1", "today", "hours", "数量必须大于0"),
        ("li", "25", "today", "hours", "一次互助不超过24小时"),
        ("li", "两个", "today", "hours", "数量必须是数字"),
        ("li", "", "today", "hours", "数量必须是数字"),
        ("li", "3", "tomorrow", "occurred_on", "日期不能晚于今天"),
        ("li", "3", "2026-13-01", "occurred_on", "请填写日期"),
        ("li", "3", "", "occurred_on", "请填写日期"),
    ],
)
def test_bad_input_is_refused_at_its_field_and_writes_nothing(
    acts: Acts, side, other, hours, day, field, message
):
    wang = resident(acts, "王秀英")
    picks = {
        "": {"other": ""},
        "me": {"other": wang.pk},
        "li": {"other": make_household(acts.scheme, acts.world.village_a1, "李德福").pk},
        "away": {"other": make_household(acts.scheme, acts.world.village_a2, "新华村户").pk},
        "away_card": {
            "card": make_household(acts.scheme, acts.world.village_a2, "新华村户").card_code
        },
        "closed": {
            "other": make_household(
                acts.scheme, acts.world.village_a1, "已销户", status=HouseholdStatus.CLOSED
            ).pk
        },
    }
    dates = {
        "today": today(),
        "tomorrow": (timezone.localdate() + dt.timedelta(days=1)).isoformat(),
    }
    client = phone(wang)
    before = counts()

    response = client.post(
        f"/m/help/{side}/",
        {**picks[other], "hours": hours, "occurred_on": dates.get(day, day)},
    )

    assert response.status_code == 422
    assert f'id="{field}-error">{message}</p>' in response.content.decode()
    assert counts() == before


def test_the_pages_need_a_resident_login(acts: Acts):
    for url in ("/m/help/", "/m/help/gave/", "/m/help/received/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].split("?")[0] == "/m/login/"
