"""Titles and the villagers' vote (honours/campaigns.py): the worked example of the issue with
exact numbers (quota 2, five nominees, 30 votes, one objection), the window, one vote per
member, paper tallies, the shortlist from the ranking, and refusals that write nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services.claims.workflow import claim_object
from civicpoints.awards.services.notices import notices_finalize
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.honours.campaigns import (
    CampaignIn,
    TitleState,
    campaign_create,
    campaign_publish,
    nominee_add,
    nominee_propose,
    shortlist_from_ranking,
    tally_enter,
    vote_cast,
    voting_open,
)
from civicpoints.honours.models import Campaign, CampaignStatus, Nominee, ShortlistRule, Vote
from civicpoints.households.models import Member, Relation
from civicpoints.households.services import member_add
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.services import household_account
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff
from tests.reports.test_rollups import BEIJING, _claim_category, _earn, at
from tests.risk.conftest import make_rule

STARTS = dt.datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING)
ENDS = dt.datetime(2026, 11, 27, 18, 0, tzinfo=BEIJING)
DURING = dt.datetime(2026, 11, 22, 9, 0, tzinfo=BEIJING)
AFTER = dt.datetime(2026, 11, 28, 9, 0, tzinfo=BEIJING)


class Town:
    """A county admin, a village admin of 晓光村 and the rules of a title."""

    def __init__(self, world, *, vote_points: bool = False) -> None:
        self.world = world
        self.county = actor_for_user(
            make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
        )
        self.village = actor_for_user(
            make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
        )
        self.title_rule = make_rule(world.scheme, "T01", 20000, category="评比表彰")
        self.vote_rule = make_rule(world.scheme, "T02", 100, category="评比表彰")
        self.vote_points = vote_points

    def campaign(self, **kw) -> Campaign:
        values = {
            "title": "好媳妇",
            "region": self.world.county,
            "rule_id": self.title_rule.pk,
            "quota": 2,
            "shortlist_rule": ShortlistRule.NOMINATION,
            "period_start": dt.date(2026, 1, 1),
            "period_end": dt.date(2026, 12, 31),
            "vote_rule_id": self.vote_rule.pk if self.vote_points else None,
        }
        values.update(kw)
        return campaign_create(
            actor=self.county, scheme=self.world.scheme, new=CampaignIn(**values)
        )


def _voters(world, count: int, *, village=None) -> list[Member]:
    """``count`` members in households of three (head, spouse, child)."""
    members: list[Member] = []
    while len(members) < count:
        h = make_household(world.scheme, village or world.village_a1)
        member_add(actor_id=None, household=h, name=f"{h.head_name}妻", relation=Relation.SPOUSE)
        member_add(actor_id=None, household=h, name=f"{h.head_name}子", relation=Relation.CHILD)
        members.extend(Member.objects.filter(household=h).order_by("pk"))
    return members[:count]


def _vote(member: Member, nominee: Nominee, when=DURING):
    return vote_cast(
        household=member.household,
        member_id=member.pk,
        nominee_id=nominee.pk,
        campaign=nominee.campaign,
        at=when,
    )


def test_worked_example_quota_two_five_nominees_thirty_votes_one_objection(world):
    town = Town(world, vote_points=True)
    campaign = town.campaign()
    names = ["李秀英", "王桂兰", "张玉珍", "刘淑华", "陈凤霞"]
    nominees = [
        nominee_add(
            actor=town.village,
            campaign=campaign,
            household=make_household(world.scheme, world.village_a1, name),
            reason="孝敬公婆",
        )
        for name in names
    ]
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)

    # 30 votes: 20 on phones (one per member), 10 on paper.
    phone = [8, 6, 3, 2, 1]
    paper = {nominees[0].pk: 4, nominees[1].pk: 3, nominees[2].pk: 2, nominees[3].pk: 1}
    voters = iter(_voters(world, 33))  # 38 members in the village with the nominees
    for nominee, n in zip(nominees, phone, strict=True):
        for _ in range(n):
            _vote(next(voters), nominee)
    late = next(voters)
    tally_enter(actor=town.village, campaign=campaign, village=world.village_a1, counts=paper)
    with pytest.raises(ApplicationError) as refused:
        _vote(late, nominees[4], when=ENDS)
    assert refused.value.code == ErrorCode.VOTE_NOT_OPEN

    winners = campaign_publish(actor=town.county, campaign=campaign, at=AFTER)

    table = {n.household.head_name: (n.votes, n.place, n.winner) for n in Nominee.objects.all()}
    assert table == {
        "李秀英": (12, 1, True),
        "王桂兰": (9, 2, True),
        "张玉珍": (5, 3, False),
        "刘淑华": (3, 4, False),
        "陈凤霞": (1, 5, False),
    }
    assert sum(v for v, _, _ in table.values()) == 30
    assert [w.household.head_name for w in winners] == ["李秀英", "王桂兰"]
    first, second = (Claim.objects.get(pk=w.claim_id) for w in winners)
    assert (first.status, second.status) == (ClaimStatus.ON_NOTICE, ClaimStatus.ON_NOTICE)
    assert (first.source, first.points, first.origin_ref) == (
        ClaimSource.HONOUR,
        20000,
        f"campaign:{campaign.pk}",
    )
    # 20 phone votes: 20 voting claims (1 point each) for review, through the claim path.
    vote_claims = Claim.objects.filter(origin_ref=f"vote:{campaign.pk}")
    assert vote_claims.count() == 20
    assert set(vote_claims.values_list("status", flat=True)) == {ClaimStatus.SUBMITTED}

    # A neighbour objects to 王桂兰 during the notice: back to review.
    neighbour = make_household(world.scheme, world.village_a1, "邻居")
    claim_object(claim=second, reason="没有孝敬公婆", objector=neighbour, at=AFTER)
    second.refresh_from_db()
    assert TitleState.of(second.status) == TitleState.IN_REVIEW

    # The notice ends: only 李秀英's title is posted, with its points.
    notices_finalize(at=AFTER + dt.timedelta(days=world.scheme.notice_days, hours=1))
    first.refresh_from_db()
    second.refresh_from_db()
    assert TitleState.of(first.status) == TitleState.CONFIRMED
    assert household_account(household=first.household).balance == 20000
    assert second.posting_id is None and second.status == ClaimStatus.SUBMITTED
    assert household_account(household=second.household).balance == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PUBLISHED
    assert AuditEvent.objects.filter(action=AuditAction.CAMPAIGN_PUBLISH).count() == 1


def test_one_vote_per_member_and_its_own_code(world):
    town = Town(world)
    campaign = town.campaign()
    a = nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1),
    )
    b = nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1),
    )
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    head, spouse = _voters(world, 2)

    _vote(head, a)
    for nominee in (a, b):
        with pytest.raises(ApplicationError) as again:
            _vote(head, nominee)
        assert again.value.code == ErrorCode.ALREADY_VOTED
        assert again.value.detail["nominee"] == a.pk
    _vote(spouse, b)  # another member of the same household has their own vote
    assert Vote.objects.count() == 2


def test_the_window_refuses_before_and_after_with_its_own_code(world):
    town = Town(world)
    campaign = town.campaign()
    a = nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1),
    )
    (voter,) = _voters(world, 1)
    with pytest.raises(ApplicationError) as draft:
        _vote(voter, a)
    assert draft.value.code == ErrorCode.VOTE_NOT_OPEN
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    for when in (STARTS - dt.timedelta(seconds=1), ENDS, AFTER):
        with pytest.raises(ApplicationError) as outside:
            _vote(voter, a, when=when)
        assert outside.value.code == ErrorCode.VOTE_NOT_OPEN
    _vote(voter, a, when=STARTS)
    assert Vote.objects.count() == 1
    with pytest.raises(ApplicationError) as early:
        campaign_publish(actor=town.county, campaign=campaign, at=DURING)
    assert early.value.code == ErrorCode.VOTE_NOT_OPEN


def test_residents_vote_only_for_their_own_village(world):
    town = Town(world)
    campaign = town.campaign()
    a = nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1),
    )
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    (stranger,) = _voters(world, 1, village=world.village_a2)
    with pytest.raises(ApplicationError) as other:
        _vote(stranger, a)
    assert other.value.code == ErrorCode.INVALID_INPUT
    assert other.value.detail["field"] == "nominee"
    (voter,) = _voters(world, 1)
    with pytest.raises(ApplicationError) as not_theirs:
        vote_cast(
            household=voter.household,
            member_id=stranger.pk,
            nominee_id=a.pk,
            campaign=campaign,
            at=DURING,
        )
    assert not_theirs.value.detail["field"] == "member"
    assert Vote.objects.count() == 0


def test_paper_tallies_are_bounded_by_who_did_not_vote_on_the_phone(world):
    town = Town(world)
    campaign = town.campaign()
    a = nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1),
    )
    b = nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1),
    )
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    voters = _voters(world, 6)  # 8 members in the village: 2 nominee heads, 6 voters
    _vote(voters[0], a)
    _vote(voters[1], a)
    # 8 members, 2 voted on phones: at most 6 paper ballots.
    with pytest.raises(ApplicationError) as too_many:
        tally_enter(
            actor=town.village,
            campaign=campaign,
            village=world.village_a1,
            counts={a.pk: 4, b.pk: 3},
        )
    assert "6" in too_many.value.message
    assert Nominee.objects.filter(paper_votes__gt=0).count() == 0
    for bad in ({a.pk: -1}, {a.pk: "三"}, {a.pk: None}, {999999: 1}):
        with pytest.raises(ApplicationError) as refused:
            tally_enter(actor=town.village, campaign=campaign, village=world.village_a1, counts=bad)
        assert refused.value.code == ErrorCode.INVALID_INPUT
    after = tally_enter(
        actor=town.village, campaign=campaign, village=world.village_a1, counts={a.pk: 4, b.pk: 2}
    )
    assert after == {a.pk: 4, b.pk: 2}
    # Entering again replaces, it does not add.
    tally_enter(actor=town.village, campaign=campaign, village=world.village_a1, counts={b.pk: 1})
    assert dict(Nominee.objects.values_list("pk", "paper_votes")) == {a.pk: 4, b.pk: 1}
    other_village_admin = actor_for_user(
        make_staff("cun2", Role.VILLAGE_ADMIN, world.village_a2, world.scheme)
    )
    with pytest.raises(ApplicationError) as denied:
        tally_enter(
            actor=other_village_admin, campaign=campaign, village=world.village_a1, counts={a.pk: 1}
        )
    assert denied.value.code == ErrorCode.PERMISSION_DENIED
    assert AuditEvent.objects.filter(action=AuditAction.TALLY).count() == 2


def test_shortlist_from_ranking_takes_each_villages_top_in_the_category(world):
    town = Town(world)
    in_2026 = dt.datetime(2026, 6, 1, 10, 0, tzinfo=BEIJING)
    households = {
        (village.name, i): make_household(world.scheme, village, f"{village.name}{i}")
        for village in (world.village_a1, world.village_a2)
        for i in range(4)
    }
    with at(in_2026):
        for (_, i), h in households.items():
            _earn(world, h, 1000 * (i + 1), claim=_claim_category(world, h, "孝老爱亲"))
        # Points in another category do not count.
        _earn(
            world,
            households[("晓光村", 0)],
            99999,
            claim=_claim_category(world, households[("晓光村", 0)], "环境卫生"),
        )
    chain_follow(scheme_id=world.scheme.pk)
    campaign = town.campaign(
        shortlist_rule=ShortlistRule.RANKING, category="孝老爱亲", shortlist_size=2
    )
    assert shortlist_from_ranking(actor=town.county, campaign=campaign) == 4
    shortlisted = {
        (n.village.name, n.household.head_name, n.points)
        for n in Nominee.objects.select_related("village", "household")
    }
    assert shortlisted == {
        ("晓光村", "晓光村3", 4000),
        ("晓光村", "晓光村2", 3000),
        ("新华村", "新华村3", 4000),
        ("新华村", "新华村2", 3000),
    }
    assert shortlist_from_ranking(actor=town.county, campaign=campaign) == 0  # idempotent


def test_ties_and_zero_votes_at_publication(world):
    town = Town(world)
    campaign = town.campaign(quota=2)
    a, _b, _c = (
        nominee_add(
            actor=town.village,
            campaign=campaign,
            household=make_household(world.scheme, world.village_a1, n),
        )
        for n in ("甲", "乙", "丙")
    )
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    voters = _voters(world, 2)
    _vote(voters[0], a)
    _vote(voters[1], a)
    winners = campaign_publish(actor=town.county, campaign=campaign, at=AFTER)
    # 乙 and 丙 have no vote: nobody wins with none, and the order is the nomination order.
    assert [w.household.head_name for w in winners] == ["甲"]
    assert dict(Nominee.objects.values_list("household__head_name", "place")) == {
        "甲": 1,
        "乙": 2,
        "丙": 3,
    }
    with pytest.raises(ApplicationError) as again:
        campaign_publish(actor=town.county, campaign=campaign, at=AFTER)
    assert again.value.code == ErrorCode.INVALID_TRANSITION
    assert Claim.objects.filter(origin_ref=f"campaign:{campaign.pk}").count() == 1


def test_bad_set_up_is_refused_with_a_message_and_nothing_written(world):
    town = Town(world)
    deduction = make_rule(world.scheme, "K01", 500, sign="deduction")
    photo = make_rule(world.scheme, "P01", 500, needs_photo=True)
    cases = [
        ({"title": " "}, "title"),
        ({"quota": 0}, "quota"),
        ({"quota": 51}, "quota"),
        ({"shortlist_rule": "lottery"}, "shortlist_rule"),
        ({"period_end": dt.date(2025, 1, 1)}, "period_end"),
        ({"category": "没有的类别"}, "category"),
        ({"rule_id": deduction.pk}, "rule"),
        ({"rule_id": photo.pk}, "rule"),
        ({"rule_id": 987654}, "rule"),
        ({"shortlist_rule": ShortlistRule.RANKING, "shortlist_size": 1}, "shortlist_size"),
        ({"region": world.other_county}, None),
    ]
    for change, field in cases:
        with pytest.raises(ApplicationError) as refused:
            town.campaign(**change)
        if field:
            assert refused.value.detail.get("field") == field, change
            assert refused.value.message
        else:
            assert refused.value.code == ErrorCode.PERMISSION_DENIED
    assert Campaign.objects.count() == 0

    campaign = town.campaign()
    with pytest.raises(ApplicationError) as empty:
        voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    assert empty.value.detail["field"] == "nominees"
    nominee_add(
        actor=town.village,
        campaign=campaign,
        household=make_household(world.scheme, world.village_a1, "甲"),
    )
    with pytest.raises(ApplicationError) as twice:
        nominee_add(
            actor=town.village,
            campaign=campaign,
            household=Nominee.objects.get().household,
        )
    assert twice.value.code == ErrorCode.DUPLICATE
    with pytest.raises(ApplicationError) as backwards:
        voting_open(actor=town.county, campaign=campaign, starts=ENDS, ends=STARTS, at=STARTS)
    assert backwards.value.detail["field"] == "vote_ends"
    with pytest.raises(ApplicationError) as outsider:
        nominee_add(
            actor=town.county,
            campaign=campaign,
            household=make_household(world.other_scheme, world.other_village),
        )
    assert outsider.value.code == ErrorCode.PERMISSION_DENIED
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and Nominee.objects.count() == 1


def test_residents_recommend_someone_of_their_village_once(world):
    town = Town(world)
    campaign = town.campaign()
    proposer = make_household(world.scheme, world.village_a1, "推荐户")
    target = make_household(world.scheme, world.village_a1, "张玉珍")
    member_add(actor_id=None, household=target, name="李秀英", relation=Relation.SPOUSE)
    make_household(world.scheme, world.village_a2, "外村同名")
    make_household(world.scheme, world.village_a1, "重名")
    make_household(world.scheme, world.village_a1, "重名")

    def propose(name, reason="孝敬公婆", by=proposer):
        return nominee_propose(household=by, campaign=campaign, name=name, reason=reason)

    for name, reason, field in (
        ("", "理由", "name"),
        ("李秀英", " ", "reason"),
        ("外村同名", "理由", "name"),  # not of this village
        ("重名", "理由", "name"),  # two households: the village committee decides
        ("推荐户", "理由", "name"),  # not one's own household
    ):
        with pytest.raises(ApplicationError) as refused:
            propose(name, reason)
        assert refused.value.detail["field"] == field, name
    nominee = propose("李秀英")  # a spouse: a personal title
    assert (nominee.household_id, nominee.member.name, nominee.source) == (
        target.pk,
        "李秀英",
        "resident",
    )
    with pytest.raises(ApplicationError) as twice:
        propose("张玉珍")
    assert twice.value.code == ErrorCode.DUPLICATE
    other = make_household(world.scheme, world.village_a1, "另一户")
    household_level = propose("张玉珍", by=other)  # the head: the household
    assert household_level.member_id is None
    voting_open(actor=town.county, campaign=campaign, starts=STARTS, ends=ENDS, at=STARTS)
    late = make_household(world.scheme, world.village_a1, "晚到户")
    with pytest.raises(ApplicationError) as closed:
        propose("李秀英", by=late)
    assert closed.value.code == ErrorCode.INVALID_TRANSITION
    assert Nominee.objects.count() == 2


def test_title_states_are_told_in_the_requests_language():
    from django.utils import translation

    from civicpoints.honours.campaigns import title_state_label

    assert title_state_label(ClaimStatus.POSTED) == "已授予"
    with translation.override("en"):
        assert title_state_label(ClaimStatus.POSTED) != "已授予"
    assert title_state_label(None) == ""
