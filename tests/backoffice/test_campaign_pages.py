"""The pages of titles: a county admin runs a campaign from the form to the ceremony, a
village admin enters paper ballots, a resident votes on the phone, anyone checks a
certificate by its QR; refusals are told on the page and write nothing."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.utils import timezone

from civicpoints.awards.services.notices import notices_finalize
from civicpoints.honours.models import (
    Campaign,
    CampaignStatus,
    Certificate,
    HonourCeremony,
    Nominee,
    Vote,
)
from civicpoints.households.models import Member
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import Role
from tests.factories import make_household, make_staff
from tests.risk.conftest import make_rule

PIN = "246813"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _resident(household) -> Client:
    household_set_pin(actor_id=None, household=household, pin=PIN)
    client = Client()
    response = client.post("/m/login/", {"card": household.card_code, "pin": PIN})
    assert response.status_code == 302, response.content[:300]
    return client


def test_a_campaign_from_the_form_to_the_ceremony(world):
    county = _client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    village = _client(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    rule = make_rule(world.scheme, "T01", 20000, category="评比表彰")
    homes = [make_household(world.scheme, world.village_a1, n) for n in ("曾𠮷", "王桂兰")]
    voter = make_household(world.scheme, world.village_a1, "投票户")

    bad = county.post(
        "/campaigns/",
        {"title": "好媳妇", "region": world.county.pk, "rule": rule.pk, "quota": "零"},
    )
    assert bad.status_code == 422 and "请填写整数" in bad.content.decode()
    assert Campaign.objects.count() == 0
    made = county.post(
        "/campaigns/",
        {
            "title": "好媳妇",
            "region": world.county.pk,
            "rule": rule.pk,
            "quota": "1",
            "shortlist_rule": "nomination",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "prize": "暖水瓶",
        },
    )
    campaign = Campaign.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/campaigns/{campaign.pk}/"
    assert "好媳妇" in county.get("/campaigns/").content.decode()

    found = village.get(f"/campaigns/{campaign.pk}/", {"q": "曾𠮷"}).content.decode()
    assert "曾𠮷" in found
    for home in homes:
        village.post(
            f"/campaigns/{campaign.pk}/nominate/", {"household": home.pk, "reason": "孝敬老人"}
        )
    assert Nominee.objects.count() == 2
    twice = village.post(
        f"/campaigns/{campaign.pk}/nominate/", {"household": homes[0].pk}, follow=True
    )
    assert "已经在候选名单上了" in twice.content.decode()

    now = timezone.localtime()
    window = {
        "starts": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    asked = county.post(f"/campaigns/{campaign.pk}/voting/", window)
    assert "确认开始投票" in asked.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT  # nothing before the confirmation
    county.post(f"/campaigns/{campaign.pk}/voting/", window | {"confirmed": "1"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.VOTING

    # The resident votes on the phone.
    phone = _resident(voter)
    assert "评比投票（正在投票 1）" in phone.get("/m/").content.decode()
    page = phone.get("/m/votes/").content.decode()
    assert "曾𠮷" in page and "谁来投票" in page
    head = Member.objects.get(household=voter)
    nominee = Nominee.objects.get(household=homes[0])
    done = phone.post(
        f"/m/votes/{campaign.pk}/", {"member": head.pk, "nominee": nominee.pk}, follow=True
    )
    assert "已投票给 曾𠮷" in done.content.decode()
    again = phone.post(f"/m/votes/{campaign.pk}/", {"member": head.pk, "nominee": nominee.pk})
    assert again.status_code == 409 and "每人只能投一次" in again.content.decode()
    assert Vote.objects.count() == 1

    # Paper ballots: too many is refused on the page, nothing written.
    other = Nominee.objects.get(household=homes[1])
    too_many = village.post(
        f"/campaigns/{campaign.pk}/tally/",
        {"village": world.village_a1.pk, f"paper-{other.pk}": "50"},
        follow=True,
    )
    assert "超过了本村还没在手机上投票的人数" in too_many.content.decode()
    assert Nominee.objects.get(pk=other.pk).paper_votes == 0

    Campaign.objects.filter(pk=campaign.pk).update(
        vote_ends=timezone.now() - dt.timedelta(minutes=1)
    )
    county.post(f"/campaigns/{campaign.pk}/publish/", {"confirmed": "1"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PUBLISHED
    results = county.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "当选" in results and "公示中" in results
    export = county.get(f"/campaigns/{campaign.pk}/results.xlsx")
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")

    notices_finalize(at=timezone.now() + dt.timedelta(days=world.scheme.notice_days, hours=1))
    issued = county.post(f"/campaigns/{campaign.pk}/certificates/issue/")
    assert issued.status_code == 302
    certificate = Certificate.objects.get()
    sheet = county.get(issued["Location"]).content.decode()
    assert "荣誉证书" in sheet and "曾𠮷" in sheet and "<svg" in sheet
    assert f"/c/{certificate.code}/" not in sheet  # the QR carries it, not the text
    check = Client().get(f"/c/{certificate.code}/").content.decode()
    assert "这张证书是真的" in check and "好媳妇" in check
    assert Client().get("/c/nothing-here/").status_code == 404

    county.post(
        f"/campaigns/{campaign.pk}/ceremony/",
        {"name": "表彰大会", "held_on": str(timezone.localdate()), "place": "村委会"},
    )
    ceremony = county.get(f"/honour-ceremonies/{HonourCeremony.objects.get().pk}/").content.decode()
    assert "宣读“好媳妇”表彰名单" in ceremony
    assert "去超市批量兑换" in ceremony and homes[0].card_code in ceremony


def test_counter_staff_see_no_campaign_menu_and_residents_no_other_village(world):
    clerk = _client(make_staff("dian", Role.STORE_CLERK, world.village_a1, world.scheme))
    assert "评比表彰" not in clerk.get("/").content.decode()
    stranger = _resident(make_household(world.scheme, world.village_a2, "外村人"))
    assert "现在没有正在投票的评比" in stranger.get("/m/votes/").content.decode()
