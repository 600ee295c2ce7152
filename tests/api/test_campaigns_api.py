"""The API of titles and the villagers' vote: a campaign from creation to its winners on the
notice, a resident's vote with its own refusals, paper tallies, certificates and a ceremony,
and one vote per member under parallel requests (PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.services.notices import notices_finalize
from civicpoints.honours.models import Campaign, Nominee, Vote
from civicpoints.households.models import Member, Relation
from civicpoints.households.services import household_set_pin, member_add
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error
from tests.api.spending import post, resident_client
from tests.factories import api_client, make_household, make_staff
from tests.ledger.helpers import run_in_threads
from tests.risk.conftest import make_rule

PIN = "246813"
BASE = "/api/v1/honours/campaigns"


class Setting:
    def __init__(self, world) -> None:
        self.world = world
        self.county = api_client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
        self.village = api_client(
            make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
        )
        self.rule = make_rule(world.scheme, "T01", 20000, category="评比表彰")
        self.homes = [
            make_household(world.scheme, world.village_a1, name)
            for name in ("李秀英", "王桂兰", "张玉珍")
        ]
        self.voter = make_household(world.scheme, world.village_a1, "投票户")
        household_set_pin(actor_id=None, household=self.voter, pin=PIN)
        member_add(actor_id=None, household=self.voter, name="投票妻", relation=Relation.SPOUSE)
        self.members = list(Member.objects.filter(household=self.voter).order_by("pk"))

    def create(self, **kw) -> dict:
        body = {
            "region": self.world.county.pk,
            "title": "好媳妇",
            "rule": self.rule.pk,
            "quota": 1,
            "shortlist_rule": "nomination",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "prize": "暖水瓶",
        } | kw
        response = post(self.county, BASE, body)
        assert response.status_code == 201, response.content
        return response.json()

    def ready(self) -> tuple[dict, list[int]]:
        """A campaign with the three homes nominated, voting from an hour ago for a day."""
        campaign = self.create()
        ids = []
        for home in self.homes:
            response = post(
                self.village, f"{BASE}/{campaign['id']}/nominees", {"household": home.pk}
            )
            assert response.status_code == 201, response.content
            ids.append(response.json()["id"])
        now = timezone.now()
        response = post(
            self.county,
            f"{BASE}/{campaign['id']}/voting",
            {
                "starts": (now - dt.timedelta(hours=1)).isoformat(),
                "ends": (now + dt.timedelta(days=1)).isoformat(),
            },
        )
        assert response.status_code == 200, response.content
        assert response.json()["voting_now"] is True
        return campaign, ids


def test_a_campaign_from_creation_to_certificate_and_ceremony(world):
    s = Setting(world)
    campaign, ids = s.ready()
    resident = resident_client(s.voter, PIN)

    # The resident sees the open vote, without counts, and votes for each member once.
    seen = resident.get(f"{BASE}/{campaign['id']}").json()
    assert [n["id"] for n in seen["nominees"]] == ids
    assert {n["votes"] for n in seen["nominees"]} == {None}
    first = post(
        resident, f"{BASE}/{campaign['id']}/votes", {"member": s.members[0].pk, "nominee": ids[0]}
    )
    assert first.status_code == 201, first.content
    again = post(
        resident, f"{BASE}/{campaign['id']}/votes", {"member": s.members[0].pk, "nominee": ids[1]}
    )
    assert assert_error(again, 409, "already_voted")["detail"]["nominee"] == ids[0]
    post(resident, f"{BASE}/{campaign['id']}/votes", {"member": s.members[1].pk, "nominee": ids[0]})
    assert resident.get(f"{BASE}/{campaign['id']}").json()["voted_members"] == [
        m.pk for m in s.members
    ]
    # Staff do not vote; residents do not tally or publish.
    assert_error(
        post(
            s.county,
            f"{BASE}/{campaign['id']}/votes",
            {"member": s.members[0].pk, "nominee": ids[0]},
        ),
        403,
    )
    tally = s.village.put(
        f"{BASE}/{campaign['id']}/tallies/{world.village_a1.pk}",
        {"counts": {str(ids[1]): 1}},
        content_type="application/json",
    )
    assert tally.status_code == 200, tally.content
    assert_error(post(resident, f"{BASE}/{campaign['id']}/publish", {}), 404)
    early = post(s.county, f"{BASE}/{campaign['id']}/publish", {})
    assert_error(early, 409, "vote_not_open")

    Campaign.objects.filter(pk=campaign["id"]).update(
        vote_ends=timezone.now() - dt.timedelta(minutes=1)
    )
    late = post(
        resident, f"{BASE}/{campaign['id']}/votes", {"member": s.members[0].pk, "nominee": ids[1]}
    )
    assert_error(late, 409, "vote_not_open")
    published = post(s.county, f"{BASE}/{campaign['id']}/publish", {})
    assert published.status_code == 200, published.content
    rows = {n["household_name"]: n for n in published.json()["nominees"]}
    assert (rows["李秀英"]["votes"], rows["李秀英"]["winner"], rows["李秀英"]["title_state"]) == (
        2,
        True,
        "on_notice",
    )
    assert (rows["王桂兰"]["votes"], rows["王桂兰"]["winner"]) == (1, False)

    # After the notice the title is confirmed; the certificate and the ceremony follow.
    notices_finalize(at=timezone.now() + dt.timedelta(days=world.scheme.notice_days, hours=1))
    certificates = post(s.county, f"{BASE}/{campaign['id']}/certificates", {})
    assert certificates.status_code == 200, certificates.content
    (certificate,) = certificates.json()
    assert (certificate["name"], certificate["title"]) == ("李秀英", "好媳妇")
    winner = resident_client_of(s.homes[0])
    titles = winner.get("/api/v1/honours/titles").json()
    assert (
        titles[0]["title_state"] == "confirmed" and titles[0]["certificate"] == certificate["code"]
    )
    ceremony = post(
        s.county,
        "/api/v1/honours/ceremonies",
        {
            "region": world.county.pk,
            "name": "表彰大会",
            "held_on": str(timezone.localdate()),
            "campaigns": [campaign["id"]],
        },
    )
    assert ceremony.status_code == 201, ceremony.content
    out = ceremony.json()
    assert out["prize_list"] == f"{s.homes[0].card_code}\t暖水瓶\t1"
    assert out["honoured"][0]["certificate"] == certificate["code"]
    assert any("好媳妇" in line for line in out["programme"])


def resident_client_of(household) -> Client:
    household_set_pin(actor_id=None, household=household, pin=PIN)
    return resident_client(household, PIN)


def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(world):
    s = Setting(world)
    for change, field in (
        ({"quota": 0}, None),
        ({"shortlist_rule": "抽签"}, None),
        ({"period_end": "2025-01-01"}, "period_end"),
        ({"rule": 99999}, "rule"),
    ):
        body = {
            "region": world.county.pk,
            "title": "好媳妇",
            "rule": s.rule.pk,
            "quota": 1,
            "shortlist_rule": "nomination",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
        } | change
        error = assert_error(post(s.county, BASE, body), 422)
        if field:
            assert error["detail"]["field"] == field
    assert Campaign.objects.count() == 0
    campaign, ids = s.ready()
    for counts in ({str(ids[0]): -1}, {"abc": 1}, {str(ids[0]): 10_000}):
        response = s.village.put(
            f"{BASE}/{campaign['id']}/tallies/{world.village_a1.pk}",
            {"counts": counts},
            content_type="application/json",
        )
        assert_error(response, 422)
    assert set(Nominee.objects.values_list("paper_votes", flat=True)) == {0}
    resident = resident_client(s.voter, PIN)
    for body in ({"member": s.members[0].pk}, {"member": 999999, "nominee": ids[0]}):
        assert_error(post(resident, f"{BASE}/{campaign['id']}/votes", body), 422)
    assert_error(
        post(resident, f"{BASE}/999999/votes", {"member": s.members[0].pk, "nominee": ids[0]}), 404
    )
    assert Vote.objects.count() == 0
    # Another county's staff do not even see it.
    other = api_client(make_staff("ta", Role.COUNTY_ADMIN, world.other_county, world.other_scheme))
    assert_error(other.get(f"{BASE}/{campaign['id']}"), 404)


@pytest.mark.django_db(transaction=True)
def test_one_vote_per_member_under_parallel_requests(world, postgres_only):
    s = Setting(world)
    campaign, ids = s.ready()
    token = resident_client(s.voter, PIN).defaults["HTTP_AUTHORIZATION"]
    member = s.members[0].pk

    def vote(i: int) -> int:
        client = Client(HTTP_AUTHORIZATION=token)
        response = post(
            client, f"{BASE}/{campaign['id']}/votes", {"member": member, "nominee": ids[i % 3]}
        )
        return (
            response.status_code
            if response.status_code == 201
            else response.json()["error"]["code"]
        )

    outcomes = run_in_threads(8, vote)
    answers = sorted(str(o.value) for o in outcomes)
    assert answers.count("201") == 1, answers
    assert answers.count("already_voted") == 7, answers
    assert Vote.objects.filter(member_id=member).count() == 1
    assert not Claim.objects.filter(status=ClaimStatus.POSTED).exists()
