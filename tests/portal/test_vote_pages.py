"""The phone's 评比投票 page before the vote: a resident recommends someone of the village
(村民推荐), sees it kept, and a wrong name is told at the field with the text kept."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from civicpoints.honours.campaigns import CampaignIn, campaign_create
from civicpoints.honours.models import Nominee, ShortlistRule
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff
from tests.risk.conftest import make_rule

PIN = "246813"


def test_a_resident_recommends_someone_on_the_phone(world):
    county = actor_for_user(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    campaign = campaign_create(
        actor=county,
        scheme=world.scheme,
        new=CampaignIn(
            title="最美家庭",
            region=world.county,
            rule_id=make_rule(world.scheme, "T01", 20000).pk,
            quota=2,
            shortlist_rule=ShortlistRule.NOMINATION,
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 12, 31),
        ),
    )
    me = make_household(world.scheme, world.village_a1, "推荐户")
    make_household(world.scheme, world.village_a1, "张玉珍")
    household_set_pin(actor_id=None, household=me, pin=PIN)
    phone = Client()
    phone.post("/m/login/", {"card": me.card_code, "pin": PIN})

    page = phone.get("/m/votes/").content.decode()
    assert "推荐“最美家庭”人选" in page
    wrong = phone.post(f"/m/votes/{campaign.pk}/propose/", {"name": "王不在", "reason": "家庭和睦"})
    body = wrong.content.decode()
    assert wrong.status_code == 422 and "本村没有叫这个名字的人" in body
    assert 'value="家庭和睦"' in body and 'aria-invalid="true"' in body
    assert not Nominee.objects.exists()
    done = phone.post(
        f"/m/votes/{campaign.pk}/propose/", {"name": "张玉珍", "reason": "家庭和睦"}, follow=True
    )
    assert "您家推荐了 张玉珍" in done.content.decode()
    assert Nominee.objects.get().proposed_by_household_id == me.pk
