"""Titles (评比), the villagers' vote, certificates and 表彰大会 (honours/campaigns.py,
honours/ceremonies.py; docs/honours.md).

No call here moves points by itself: publishing creates claims that post after their notice,
and a vote's points are a submitted claim. So none needs an Idempotency-Key: a second vote
of a member is ``already_voted`` (naming the nominee of the first), a second publication is
``invalid_transition``, entering a village's tally again replaces it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from civicpoints.api.schemas import Day, ErrorOut, Id, Trimmed, beijing_aware, points_out
from civicpoints.errors import NotFound, PermissionDenied
from civicpoints.honours.campaigns import (
    CampaignIn,
    TitleState,
    campaign_create,
    campaign_publish,
    is_open,
    nominee_add,
    nominee_propose,
    nominee_remove,
    shortlist_from_ranking,
    tally_enter,
    title_state_label,
    vote_cast,
    votes_counted,
    voting_open,
)
from civicpoints.honours.ceremonies import (
    ceremony_create,
    ceremony_honoured,
    ceremony_prize_list,
    certificates_issue,
)
from civicpoints.honours.models import (
    Campaign,
    CampaignStatus,
    Certificate,
    HonourCeremony,
    Nominee,
    ShortlistRule,
    Vote,
)
from civicpoints.honours.selectors import (
    campaign_for,
    campaign_for_household,
    campaigns_of_household,
    campaigns_visible,
    ceremony_for,
    titles_of_household,
)
from civicpoints.households.models import Household
from civicpoints.households.selectors import household_for
from civicpoints.schemes.scope import ADMIN_ROLES, Actor
from civicpoints.schemes.selectors import region_for, scheme_for_region

router = Router(tags=["honours"])
ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined,no-any-return]


def _resident(request: HttpRequest) -> Household | None:
    return getattr(request, "household", None)


def _staff_campaign(request: HttpRequest, campaign_id: str) -> Campaign:
    if _resident(request) is not None:
        raise NotFound("campaign")
    return campaign_for(_actor(request), campaign_id)


# --- campaigns ------------------------------------------------------------------------------


class CampaignCreateIn(Schema):
    region: Id = Field(description="评比范围：县、乡镇或村")
    title: Trimmed = Field(min_length=1, max_length=40, description="称号，如 好媳妇、最美家庭")
    rule: Id = Field(description="称号的加分细则（授予时按它入账）")
    quota: int = Field(ge=1, le=50, strict=True, description="每村名额")
    shortlist_rule: ShortlistRule = Field(description="ranking：按积分排名入围；nomination：提名")
    category: Trimmed = Field(default="", max_length=30, description="按排名入围时的积分类别")
    shortlist_size: int = Field(default=5, ge=1, le=50, strict=True)
    period_start: Day
    period_end: Day
    vote_rule: Id | None = Field(default=None, description="参加投票的加分细则（可不填）")
    prize: Trimmed = Field(default="", max_length=100, description="奖品（超市商品名）")


class CampaignOut(Schema):
    id: int
    region: int
    region_name: str
    title: str
    rule: int
    rule_name: str
    title_points: float
    vote_rule: int | None
    quota: int
    shortlist_rule: str
    category: str
    shortlist_size: int
    period_start: dt.date
    period_end: dt.date
    vote_starts: dt.datetime | None
    vote_ends: dt.datetime | None
    voting_now: bool
    prize: str
    status: str
    status_label: str
    published_at: dt.datetime | None


def campaign_out(c: Campaign, now: dt.datetime | None = None) -> dict[str, Any]:
    return {
        "id": c.pk,
        "region": c.region_id,
        "region_name": c.region.name,
        "title": c.title,
        "rule": c.rule_id,
        "rule_name": c.rule.name,
        "title_points": points_out(c.rule.points_per_unit),
        "vote_rule": c.vote_rule_id,
        "quota": c.quota,
        "shortlist_rule": c.shortlist_rule,
        "category": c.category,
        "shortlist_size": c.shortlist_size,
        "period_start": c.period_start,
        "period_end": c.period_end,
        "vote_starts": c.vote_starts and timezone.localtime(c.vote_starts),
        "vote_ends": c.vote_ends and timezone.localtime(c.vote_ends),
        "voting_now": is_open(c, now or timezone.now()),
        "prize": c.prize,
        "status": c.status,
        "status_label": str(CampaignStatus(c.status).label),
        "published_at": c.published_at,
    }


@router.post("/campaigns", response={201: CampaignOut, **ERRORS})
def create(request: HttpRequest, body: CampaignCreateIn) -> Status:
    actor = _actor(request)
    region = region_for(actor, body.region)
    scheme = scheme_for_region(actor, region, prefer=ADMIN_ROLES)
    campaign = campaign_create(
        actor=actor,
        scheme=scheme,
        new=CampaignIn(
            title=body.title,
            region=region,
            rule_id=body.rule,
            quota=body.quota,
            shortlist_rule=body.shortlist_rule,
            category=body.category,
            shortlist_size=body.shortlist_size,
            period_start=body.period_start,
            period_end=body.period_end,
            vote_rule_id=body.vote_rule,
            prize=body.prize,
        ),
    )
    return Status(201, campaign_out(campaign_for(actor, campaign.pk)))


class CampaignListIn(Schema):
    status: CampaignStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("/campaigns", response={200: list[CampaignOut], 422: ErrorOut})
def list_campaigns(request: HttpRequest, params: Query[CampaignListIn]) -> list[dict]:
    """Staff: the campaigns of their regions (and above them); a resident: their village's."""
    household = _resident(request)
    rows = (
        campaigns_of_household(household).select_related("rule").order_by("-created_at", "-pk")
        if household is not None
        else campaigns_visible(_actor(request))
    )
    if params.status is not None:
        rows = rows.filter(status=params.status)
    now = timezone.now()
    return [campaign_out(c, now) for c in rows[params.offset : params.offset + params.limit]]


class NomineeOut(Schema):
    id: int
    household: int
    household_name: str
    member: int | None
    member_name: str | None
    village: int
    village_name: str
    source: str
    reason: str
    points: float = Field(description="入围时评比期间该类别获得的积分")
    votes: int | None = Field(description="票数（手机+纸质）；村民在结果公布后才看得到")
    paper_votes: int | None
    place: int | None
    winner: bool
    title_state: str | None = Field(
        description="on_notice 公示中 / in_review 有异议退回复核 / confirmed 已授予 / refused"
    )
    title_state_label: str


class CampaignDetailOut(CampaignOut):
    nominees: list[NomineeOut]
    voted_members: list[int] = Field(description="村民：本户已投票的成员")


def _nominee_out(n: Nominee, phone: dict[int, int], *, counts: bool) -> dict[str, Any]:
    claim_status = n.claim_status
    return {
        "id": n.pk,
        "household": n.household_id,
        "household_name": n.household.head_name,
        "member": n.member_id,
        "member_name": n.member_name,
        "village": n.village_id,
        "village_name": n.village.name,
        "source": n.source,
        "reason": n.reason,
        "points": points_out(n.points),
        "votes": (n.votes if n.votes is not None else phone.get(n.pk, 0) + n.paper_votes)
        if counts
        else None,
        "paper_votes": n.paper_votes if counts else None,
        "place": n.place,
        "winner": n.winner,
        "title_state": TitleState.of(claim_status),
        "title_state_label": title_state_label(claim_status),
    }


def _detail(campaign: Campaign, household: Household | None) -> dict[str, Any]:
    counted = votes_counted(campaign)
    rows = [c for village in counted.values() for c in village]
    if household is not None:
        rows = [c for c in rows if c.nominee.village_id == household.village_id]
    counts = household is None or campaign.status == CampaignStatus.PUBLISHED
    phone = {c.nominee.pk: c.phone for c in rows}
    rows.sort(key=lambda c: (c.nominee.village.code, c.nominee.place or 0, c.nominee.pk))
    return {
        **campaign_out(campaign),
        "nominees": [_nominee_out(c.nominee, phone, counts=counts) for c in rows],
        "voted_members": sorted(
            Vote.objects.filter(campaign=campaign, household=household).values_list(
                "member_id", flat=True
            )
        )
        if household is not None
        else [],
    }


@router.get("/campaigns/{campaign_id}", response={200: CampaignDetailOut, 404: ErrorOut})
def detail(request: HttpRequest, campaign_id: str) -> dict[str, Any]:
    household = _resident(request)
    if household is not None:
        return _detail(campaign_for_household(household, campaign_id), household)
    return _detail(campaign_for(_actor(request), campaign_id), None)


class NominateIn(Schema):
    household: Id
    member: Id | None = Field(default=None, description="评的是个人（如好媳妇）时填成员")
    reason: Trimmed = Field(default="", max_length=200)


@router.post("/campaigns/{campaign_id}/nominees", response={201: NomineeOut, **ERRORS})
def nominate(request: HttpRequest, campaign_id: str, body: NominateIn) -> Status:
    actor = _actor(request)
    campaign = _staff_campaign(request, campaign_id)
    nominee = nominee_add(
        actor=actor,
        campaign=campaign,
        household=household_for(actor, body.household),
        member_id=body.member,
        reason=body.reason,
    )
    nominee = Nominee.objects.select_related("household", "member", "village").get(pk=nominee.pk)
    return Status(201, _nominee_out(nominee, {}, counts=True))


@router.delete("/campaigns/{campaign_id}/nominees/{nominee_id}", response={204: None, **ERRORS})
def unnominate(request: HttpRequest, campaign_id: str, nominee_id: str) -> Status:
    nominee_remove(
        actor=_actor(request),
        campaign=_staff_campaign(request, campaign_id),
        nominee_id=nominee_id,
    )
    return Status(204, None)


class AddedOut(Schema):
    added: int


@router.post("/campaigns/{campaign_id}/shortlist", response={200: AddedOut, **ERRORS})
def shortlist(request: HttpRequest, campaign_id: str) -> dict[str, int]:
    """Add each village's top households by points earned in the category and period."""
    campaign = _staff_campaign(request, campaign_id)
    return {"added": shortlist_from_ranking(actor=_actor(request), campaign=campaign)}


class VotingIn(Schema):
    starts: dt.datetime = Field(description="不带时区时按北京时间")
    ends: dt.datetime


@router.post("/campaigns/{campaign_id}/voting", response={200: CampaignOut, **ERRORS})
def open_voting(request: HttpRequest, campaign_id: str, body: VotingIn) -> dict[str, Any]:
    """Fix the shortlist and set the voting window."""
    actor = _actor(request)
    campaign = voting_open(
        actor=actor,
        campaign=_staff_campaign(request, campaign_id),
        starts=beijing_aware(body.starts),
        ends=beijing_aware(body.ends),
    )
    return campaign_out(campaign_for(actor, campaign.pk))


class TallyIn(Schema):
    counts: dict[str, int] = Field(
        description="候选人编号 -> 纸质票数（整数，0 或以上）；再次录入替换原数", max_length=50
    )


class TallyOut(Schema):
    village: int
    counts: dict[str, int]


@router.put("/campaigns/{campaign_id}/tallies/{village_id}", response={200: TallyOut, **ERRORS})
def tally(request: HttpRequest, campaign_id: str, village_id: str, body: TallyIn) -> dict:
    """A village's paper ballots, entered by its staff."""
    actor = _actor(request)
    campaign = _staff_campaign(request, campaign_id)
    village = region_for(actor, village_id)
    after = tally_enter(actor=actor, campaign=campaign, village=village, counts=body.counts)
    return {"village": village.pk, "counts": {str(k): v for k, v in after.items()}}


@router.post("/campaigns/{campaign_id}/publish", response={200: CampaignDetailOut, **ERRORS})
def publish(request: HttpRequest, campaign_id: str) -> dict[str, Any]:
    """After the window: count phone and paper votes and put each village's winners on the
    notice (公示) as claims of the title's rule."""
    actor = _actor(request)
    campaign_publish(actor=actor, campaign=_staff_campaign(request, campaign_id))
    return _detail(campaign_for(actor, campaign_id), None)


# --- the vote (residents) ---------------------------------------------------------------------


class VoteIn(Schema):
    member: Id = Field(description="投票的家庭成员（每人每个评比一票）")
    nominee: Id


class VoteOut(Schema):
    campaign: int
    member: int
    nominee: int
    cast_at: dt.datetime


@router.post("/campaigns/{campaign_id}/votes", response={201: VoteOut, **ERRORS})
def vote(request: HttpRequest, campaign_id: str, body: VoteIn) -> Status:
    """A resident's vote for one member of the household: ``vote_not_open`` outside the
    window, ``already_voted`` for a member who voted (detail.nominee: for whom)."""
    household = _resident(request)
    if household is None:
        raise PermissionDenied("campaign.vote")
    cast = vote_cast(
        household=household,
        member_id=body.member,
        nominee_id=body.nominee,
        campaign=campaign_for_household(household, campaign_id),
    )
    return Status(
        201,
        {
            "campaign": cast.campaign_id,
            "member": cast.member_id,
            "nominee": cast.nominee_id,
            "cast_at": cast.cast_at,
        },
    )


class ProposalIn(Schema):
    name: Trimmed = Field(min_length=1, max_length=40, description="被推荐人姓名（本村户主或成员）")
    reason: Trimmed = Field(min_length=1, max_length=200)


@router.post("/campaigns/{campaign_id}/proposals", response={201: NomineeOut, **ERRORS})
def propose(request: HttpRequest, campaign_id: str, body: ProposalIn) -> Status:
    """村民推荐: a resident names someone of the village (one per household per campaign)."""
    household = _resident(request)
    if household is None:
        raise PermissionDenied("campaign.propose")
    nominee = nominee_propose(
        household=household,
        campaign=campaign_for_household(household, campaign_id),
        name=body.name,
        reason=body.reason,
    )
    nominee = Nominee.objects.select_related("household", "member", "village").get(pk=nominee.pk)
    return Status(201, _nominee_out(nominee, {}, counts=False))


class TitleOut(Schema):
    campaign: int
    title: str
    member_name: str | None
    votes: int | None
    title_state: str | None
    title_state_label: str
    certificate: str | None = Field(description="证书编号（扫证书上的二维码可核验）")


@router.get("/titles", response={200: list[TitleOut], 403: ErrorOut})
def my_titles(request: HttpRequest) -> list[dict[str, Any]]:
    """A resident's titles, newest first."""
    household = _resident(request)
    if household is None:
        raise PermissionDenied("titles.read")
    return [
        {
            "campaign": n.campaign_id,
            "title": n.campaign.title,
            "member_name": n.member_name,
            "votes": n.votes,
            "title_state": TitleState.of(n.claim_status),
            "title_state_label": title_state_label(n.claim_status),
            "certificate": _certificate_code(n),
        }
        for n in titles_of_household(household)
    ]


def _certificate_code(n: Nominee) -> str | None:
    try:
        return n.certificate.code
    except Certificate.DoesNotExist:
        return None


# --- certificates and ceremonies ------------------------------------------------------------


class CertificateOut(Schema):
    code: str
    name: str
    title: str
    village_name: str
    issued_on: dt.date
    household: int


@router.post(
    "/campaigns/{campaign_id}/certificates", response={200: list[CertificateOut], **ERRORS}
)
def certificates(request: HttpRequest, campaign_id: str) -> list[dict[str, Any]]:
    """The certificates of the campaign's confirmed titles (issuing the missing ones)."""
    campaign = _staff_campaign(request, campaign_id)
    actor = _actor(request)
    if not actor.covers(
        roles=ADMIN_ROLES, scheme_id=campaign.scheme_id, region_path=campaign.region.path
    ):
        raise PermissionDenied("certificate.issue")
    return [
        {
            "code": c.code,
            "name": c.name,
            "title": c.title,
            "village_name": c.village_name,
            "issued_on": c.issued_on,
            "household": c.nominee.household_id,
        }
        for c in certificates_issue(campaign)
    ]


class HonourCeremonyIn(Schema):
    region: Id
    name: Trimmed = Field(min_length=1, max_length=100)
    held_on: Day
    place: Trimmed = Field(default="", max_length=100)
    campaigns: list[Id] = Field(min_length=1, max_length=50)
    programme: str = Field(default="", max_length=4000, description="议程，一行一项；空：常用议程")


class HonouredOut(Schema):
    campaign: int
    title: str
    household: int
    household_name: str
    member_name: str | None
    village_name: str
    confirmed: bool
    certificate: str | None


class HonourCeremonyOut(Schema):
    id: int
    region: int
    name: str
    held_on: dt.date
    place: str
    campaigns: list[int]
    programme: list[str]
    honoured: list[HonouredOut]
    prize_list: str = Field(description="超市批量兑换名单：卡号、奖品、数量，一行一户")


def ceremony_out(ceremony: HonourCeremony) -> dict[str, Any]:
    honoured = ceremony_honoured(ceremony)
    return {
        "id": ceremony.pk,
        "region": ceremony.region_id,
        "name": ceremony.name,
        "held_on": ceremony.held_on,
        "place": ceremony.place,
        "campaigns": sorted(ceremony.campaigns.values_list("pk", flat=True)),
        "programme": [line for line in ceremony.programme.splitlines() if line.strip()],
        "honoured": [
            {
                "campaign": h.campaign.pk,
                "title": h.campaign.title,
                "household": h.nominee.household_id,
                "household_name": h.nominee.household.head_name,
                "member_name": h.nominee.member_name,
                "village_name": h.nominee.village.name,
                "confirmed": h.confirmed,
                "certificate": _certificate_code(h.nominee),
            }
            for h in honoured
        ],
        "prize_list": ceremony_prize_list(honoured),
    }


@router.post("/ceremonies", response={201: HonourCeremonyOut, **ERRORS})
def create_ceremony(request: HttpRequest, body: HonourCeremonyIn) -> Status:
    actor = _actor(request)
    region = region_for(actor, body.region)
    scheme = scheme_for_region(actor, region, prefer=ADMIN_ROLES)
    ceremony = ceremony_create(
        actor=actor,
        scheme=scheme,
        region=region,
        name=body.name,
        held_on=body.held_on,
        place=body.place,
        campaign_ids=body.campaigns,
        programme=body.programme,
    )
    return Status(201, ceremony_out(ceremony))


@router.get("/ceremonies/{ceremony_id}", response={200: HonourCeremonyOut, 404: ErrorOut})
def ceremony(request: HttpRequest, ceremony_id: str) -> dict[str, Any]:
    return ceremony_out(ceremony_for(_actor(request), ceremony_id))
