"""The demo county's honours, so each role has something to see and do: a 好媳妇 campaign
whose vote ended and whose winners are confirmed (certificates issued, a 表彰大会 planned), and
a 最美家庭 campaign voting now, which the demo resident has not voted in yet.

Everything goes through the honours services, like real use.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from civicpoints.awards.services.notices import notices_finalize
from civicpoints.honours.campaigns import (
    CampaignIn,
    campaign_create,
    campaign_publish,
    nominee_add,
    tally_enter,
    vote_cast,
    voting_open,
)
from civicpoints.honours.ceremonies import ceremony_create, certificates_issue
from civicpoints.honours.models import Campaign, ShortlistRule
from civicpoints.households.models import Household, HouseholdStatus, Member, Relation
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Region, Scheme, User
from civicpoints.schemes.scope import actor_for_user


def build_honours(*, scheme: Scheme, village: Region) -> int:
    """Two campaigns in ``village`` (one done, one voting); returns how many votes were cast."""
    if Campaign.objects.filter(scheme=scheme).exists():
        return 0
    county_admin = actor_for_user(User.objects.get(username="county-admin"))
    village_admin = actor_for_user(User.objects.get(username="village-admin"))
    homes = list(
        Household.objects.filter(scheme=scheme, village=village)
        .exclude(status=HouseholdStatus.CLOSED)
        .order_by("pk")
    )
    # The first households are the demo residents: they have not voted.
    wives = list(
        Member.objects.filter(household__in=homes[1:], relation=Relation.SPOUSE).order_by("pk")
    )[:4]
    if len(wives) < 2 or len(homes) < 3:
        return 0  # a county too small for a vote (a test's few households)
    voters = list(Member.objects.filter(household__in=homes[1:]).order_by("-pk"))
    now = timezone.now()
    year = timezone.localdate().year

    def campaign(title: str, code: str, prize: str) -> Campaign:
        return campaign_create(
            actor=county_admin,
            scheme=scheme,
            new=CampaignIn(
                title=title,
                region=scheme.operator_region,
                rule_id=Rule.objects.get(scheme=scheme, code=code, effective_to__isnull=True).pk,
                quota=2,
                shortlist_rule=ShortlistRule.NOMINATION,
                period_start=dt.date(year, 1, 1),
                period_end=dt.date(year, 12, 31),
                prize=prize,
            ),
        )

    done = campaign(f"{year}年度好媳妇", "F01", "暖水瓶")
    nominees = [
        nominee_add(
            actor=village_admin,
            campaign=done,
            household=wife.household,
            member_id=wife.pk,
            reason="孝敬公婆，照顾病重的婆婆多年",
        )
        for wife in wives
    ]
    opened = now - dt.timedelta(days=12)
    voting_open(
        actor=county_admin,
        campaign=done,
        starts=opened,
        ends=now - dt.timedelta(days=8),
        at=opened,
    )
    cast = 0
    for index, voter in enumerate(voters[:12]):
        vote_cast(
            household=voter.household,
            member_id=voter.pk,
            nominee_id=nominees[(0, 0, 1, 0, 1, 2)[index % 6] % len(nominees)].pk,
            campaign=done,
            at=now - dt.timedelta(days=10),
        )
        cast += 1
    if len(voters) >= cast + 7:  # paper ballots from members who did not vote on the phone
        tally_enter(
            actor=village_admin,
            campaign=done,
            village=village,
            counts={n.pk: paper for n, paper in zip(nominees, (3, 2, 1, 1), strict=False)},
        )
    campaign_publish(actor=county_admin, campaign=done, at=now - dt.timedelta(days=7))
    notices_finalize(scheme_id=scheme.pk, at=now)
    certificates_issue(done)
    ceremony_create(
        actor=county_admin,
        scheme=scheme,
        region=scheme.operator_region,
        name=f"{year}年度通榆县文明表彰大会",
        held_on=timezone.localdate() + dt.timedelta(days=7),
        place="县文化广场",
        campaign_ids=[done.pk],
    )

    voting = campaign(f"{year}年度最美家庭", "F02", "")
    for home in homes[1:6]:
        nominee_add(
            actor=village_admin, campaign=voting, household=home, reason="家庭和睦，邻里称赞"
        )
    voting_open(
        actor=county_admin,
        campaign=voting,
        starts=now - dt.timedelta(days=1),
        ends=now + dt.timedelta(days=6),
        at=now,
    )
    first = voting.nominees.order_by("pk").first()
    assert first is not None  # just nominated
    for voter in voters[12:18]:
        vote_cast(
            household=voter.household, member_id=voter.pk, nominee_id=first.pk, campaign=voting
        )
        cast += 1
    return cast
