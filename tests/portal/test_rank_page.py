"""我的排名 on the phone: this month's and this year's place in the village and the township."""

from __future__ import annotations

from django.test import Client

from civicpoints.households.services import household_set_pin
from civicpoints.ledger.chain import chain_follow
from tests.factories import make_household
from tests.reports.test_rollups import _earn

PIN = "258369"


def test_a_resident_sees_their_place_this_month_and_this_year(world):
    wang = make_household(world.scheme, world.village_a1, "王秀英")
    zhang = make_household(world.scheme, world.village_a1, "张桂芝")
    quiet = make_household(world.scheme, world.village_a1, "刘玉兰")
    _earn(world, wang, 4500)
    _earn(world, zhang, 6000)
    chain_follow(scheme_id=world.scheme.pk)
    for h in (wang, quiet):
        household_set_pin(actor_id=None, household=h, pin=PIN)
        h.refresh_from_db()

    client = Client()
    home = client.post("/m/login/", {"card": wang.card_code, "pin": PIN}, follow=True)
    assert "我的排名" in home.content.decode()
    page = client.get("/m/rank/").content.decode()

    assert page.count("第 2 名（共 2 户），获得 45 分") == 4  # month and year, village and township
    assert world.village_a1.name in page and world.township_a.name in page

    other = Client()
    other.post("/m/login/", {"card": quiet.card_code, "pin": PIN}, follow=True)
    assert "这一期还没有获得积分，暂不排名" in other.get("/m/rank/").content.decode()
