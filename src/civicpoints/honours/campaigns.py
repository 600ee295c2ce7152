"""Titles (评比) and the villagers' vote (民主评议).

A campaign names a title for a region and how each village's shortlist is made: the top N
households by points earned in a category and period (from the rollups), or nominations by
staff. ``voting_open`` fixes the shortlist and the window; residents vote on their phones, one
vote per member per campaign (a unique constraint, so it holds under a race), and staff enter
the paper ballots' tallies per village. ``campaign_publish`` counts phone and paper votes and
puts the ``quota`` nominees of each village with most votes on the notice (公示) as claims of
the campaign's rule: from there the claim path decides (an objection sends a winner back to
review; a posted claim is a confirmed title, and carries the title's points).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services.claims.intake import PROPOSERS, NewClaim, claim_create
from civicpoints.awards.services.claims.workflow import claim_approve
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.honours.models import (
    Campaign,
    CampaignStatus,
    Nominee,
    NomineeSource,
    ShortlistRule,
    Vote,
)
from civicpoints.honours.selectors import campaigns_of_household
from civicpoints.households.models import Household, HouseholdStatus, Member, Relation
from civicpoints.reports.models import HouseholdDay
from civicpoints.rules.models import Rule
from civicpoints.rules.selectors import rule_in_force
from civicpoints.schemes.models import Region, RegionLevel, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, parse_id, require_role

# Notes of the claims a campaign makes: stored, so in the scheme's language, never translated.
STORED_TEXT = {
    "vote": "参加“%(title)s”民主评议投票",
    "title": "评比“%(title)s”得票%(votes)s，第%(place)s名",
}
MAX_SHORTLIST = 50
MAX_QUOTA = 50
MAX_VOTING_DAYS = 92
MAX_PAPER_VOTES = 100_000


class TitleState:
    """Where a winner's title stands, read from its claim (the claim path decides)."""

    ON_NOTICE = "on_notice"
    IN_REVIEW = "in_review"
    CONFIRMED = "confirmed"
    REFUSED = "refused"

    # Lazy: the class is made at import, the words are read in each request's language.
    LABELS = {
        ON_NOTICE: gettext_lazy("公示中"),
        IN_REVIEW: gettext_lazy("有异议，退回复核"),
        CONFIRMED: gettext_lazy("已授予"),
        REFUSED: gettext_lazy("复核未通过"),
    }

    @staticmethod
    def of(claim_status: str | None) -> str | None:
        if claim_status is None:
            return None
        if claim_status == ClaimStatus.POSTED:
            return TitleState.CONFIRMED
        if claim_status == ClaimStatus.ON_NOTICE:
            return TitleState.ON_NOTICE
        if claim_status in (ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN):
            return TitleState.REFUSED
        return TitleState.IN_REVIEW


def title_state_label(claim_status: str | None) -> str:
    state = TitleState.of(claim_status)
    return str(TitleState.LABELS[state]) if state else ""


# --- set-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignIn:
    title: str
    region: Region
    rule_id: object
    quota: int
    shortlist_rule: str
    period_start: dt.date
    period_end: dt.date
    category: str = ""
    shortlist_size: int = 5
    vote_rule_id: object = None
    prize: str = ""


def _require_admin(actor: Actor, scheme_id: int, region: Region, action: str) -> None:
    require_role(
        actor, roles=ADMIN_ROLES, scheme_id=scheme_id, region_path=region.path, action=action
    )


def _title_rule(scheme: Scheme, rule_id: object, field: str) -> Rule:
    try:
        rule = rule_in_force(scheme_id=scheme.pk, rule_id=rule_id)
    except ApplicationError:
        raise invalid(_("没有这条细则，或已停用"), field=field) from None
    if rule.is_deduction:
        raise invalid(_("称号和投票只能用加分细则"), field=field)
    if rule.needs_photo:
        raise invalid(_("这条细则要求照片，评比不能用"), field=field)
    return rule


def campaign_create(*, actor: Actor, scheme: Scheme, new: CampaignIn) -> Campaign:
    """A campaign in draft (admins of its region)."""
    region = new.region
    if region.level not in (RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE):
        raise invalid(_("评比范围只能是县、乡镇或村"), field="region")
    _require_admin(actor, scheme.pk, region, "campaign.create")
    title = (new.title or "").strip()
    if not title or len(title) > 40:
        raise invalid(_("请填写称号（最多40个字）"), field="title")
    if not isinstance(new.quota, int) or not 1 <= new.quota <= MAX_QUOTA:
        raise invalid(_("每村名额要在 1 到 50 之间"), field="quota")
    if new.shortlist_rule not in ShortlistRule.values:
        raise invalid(_("请选择入围方式"), field="shortlist_rule")
    if not isinstance(new.shortlist_size, int) or not 1 <= new.shortlist_size <= MAX_SHORTLIST:
        raise invalid(_("每村入围人数要在 1 到 50 之间"), field="shortlist_size")
    if new.shortlist_rule == ShortlistRule.RANKING and new.shortlist_size < new.quota:
        raise invalid(_("入围人数不能少于名额"), field="shortlist_size")
    if new.period_end < new.period_start:
        raise invalid(_("评比期间的结束日期不能早于开始日期"), field="period_end")
    if (new.period_end - new.period_start).days > 3 * 366:
        raise invalid(_("评比期间最长三年"), field="period_end")
    category = (new.category or "").strip()
    if category and not Rule.objects.filter(scheme=scheme, category=category).exists():
        raise invalid(_("没有这个类别：%(names)s") % {"names": category}, field="category")
    prize = (new.prize or "").strip()
    if len(prize) > 100:
        raise invalid(_("奖品名称太长"), field="prize")
    rule = _title_rule(scheme, new.rule_id, "rule")
    vote_rule = None
    if new.vote_rule_id not in (None, ""):
        vote_rule = _title_rule(scheme, new.vote_rule_id, "vote_rule")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            scheme=scheme,
            region=region,
            title=title,
            rule=rule,
            vote_rule=vote_rule,
            quota=new.quota,
            shortlist_rule=new.shortlist_rule,
            category=category,
            shortlist_size=new.shortlist_size,
            period_start=new.period_start,
            period_end=new.period_end,
            prize=prize,
            created_by_id=actor.user_id,
        )
        _audit(actor, campaign, "create")
    return campaign


def _audit(actor: Actor, campaign: Campaign, step: str, **detail: Any) -> None:
    audit_record(
        actor_id=actor.user_id,
        scheme_id=campaign.scheme_id,
        action=AuditAction.CAMPAIGN,
        obj=campaign,
        region_id=campaign.region_id,
        detail={"step": step, "title": campaign.title, **detail},
    )


def _locked(campaign: Campaign) -> Campaign:
    fresh = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    if fresh is None:
        raise NotFound("campaign")
    return Campaign.objects.select_related("region", "scheme", "rule").get(pk=fresh.pk)


def _require_status(campaign: Campaign, status: str, action: str) -> None:
    if campaign.status != status:
        messages: dict[str, str] = {
            CampaignStatus.DRAFT: _("投票已经开始，入围名单不能再改"),
            CampaignStatus.VOTING: _("评比还没有开始投票，或结果已经公布"),
        }
        raise ApplicationError(
            ErrorCode.INVALID_TRANSITION,
            messages.get(status, _("评比当前状态不允许此操作")),
            {"status": campaign.status, "action": action},
        )


# --- the shortlist ---------------------------------------------------------------------------


def nominee_add(
    *,
    actor: Actor,
    campaign: Campaign,
    household: Household,
    member_id: int | None = None,
    reason: str = "",
) -> Nominee:
    """Staff who propose claims in the household's village nominate it (or one member)."""
    require_role(
        actor,
        roles=PROPOSERS,
        scheme_id=campaign.scheme_id,
        region_path=household.village.path,
        action="campaign.nominate",
    )
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise invalid(_("推荐理由最多200个字"), field="reason")
    if household.scheme_id != campaign.scheme_id or not household.village.path.startswith(
        campaign.region.path
    ):
        raise invalid(_("这一户不在评比范围内"), field="household")
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    if (
        member_id is not None
        and not Member.objects.filter(pk=member_id, household=household).exists()
    ):
        raise invalid(_("成员不属于该户"), field="member")
    with transaction.atomic():
        campaign = _locked(campaign)
        _require_status(campaign, CampaignStatus.DRAFT, "nominate")
        in_village = Nominee.objects.filter(campaign=campaign, village_id=household.village_id)
        if in_village.count() >= MAX_SHORTLIST:
            raise invalid(_("每村最多50名候选人"), field="household")
        try:
            with transaction.atomic():
                nominee = Nominee.objects.create(
                    scheme_id=campaign.scheme_id,
                    campaign=campaign,
                    household=household,
                    member_id=member_id,
                    village_id=household.village_id,
                    source=NomineeSource.STAFF,
                    reason=reason,
                    points=_earned(campaign, [household.pk]).get(household.pk, 0),
                    nominated_by_id=actor.user_id,
                )
        except IntegrityError:
            raise ApplicationError(
                ErrorCode.DUPLICATE, _("已经在候选名单上了"), {"field": "household"}
            ) from None
        _audit(actor, campaign, "nominate", nominee=nominee.pk, household=household.pk)
    return nominee


def nominee_propose(*, household: Household, campaign: Campaign, name: str, reason: str) -> Nominee:
    """A resident recommends someone of their own village by name (村民推荐): the one
    household whose head, or the one member, has that name. One recommendation per household
    per campaign, not their own household; staff may remove it before the vote."""
    name, reason = (name or "").strip(), (reason or "").strip()
    if not name or len(name) > 40:
        raise invalid(_("请填写被推荐人的姓名"), field="name")
    if not reason or len(reason) > 200:
        raise invalid(_("请写推荐理由（最多200个字）"), field="reason")
    if campaign.scheme_id != household.scheme_id or household.status == HouseholdStatus.CLOSED:
        raise NotFound("campaign")
    members = list(
        Member.objects.filter(
            name=name,
            household__village_id=household.village_id,
            household__scheme_id=household.scheme_id,
        )
        .exclude(household__status=HouseholdStatus.CLOSED)
        .select_related("household")
    )
    if not members:
        raise invalid(_("本村没有叫这个名字的人"), field="name")
    if len({m.household_id for m in members}) > 1:
        raise invalid(_("本村有几位同名的人，请到村委会推荐"), field="name")
    member = members[0]
    target = member.household
    if target.pk == household.pk:
        raise invalid(_("不能推荐自己家"), field="name")
    personal = member.relation != Relation.HEAD  # a spouse, a child: a personal title
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.shortlist_rule != ShortlistRule.NOMINATION:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION,
                _("这个评比按积分排名入围，不接受推荐"),
                {"status": campaign.status, "action": "propose"},
            )
        _require_status(campaign, CampaignStatus.DRAFT, "propose")
        if not target.village.path.startswith(campaign.region.path):
            raise NotFound("campaign")
        if Nominee.objects.filter(campaign=campaign, proposed_by_household=household).exists():
            raise ApplicationError(
                ErrorCode.DUPLICATE, _("您家已经推荐过了，每户推荐一人"), {"field": "name"}
            )
        try:
            with transaction.atomic():
                nominee = Nominee.objects.create(
                    scheme_id=campaign.scheme_id,
                    campaign=campaign,
                    household=target,
                    member=member if personal else None,
                    village_id=target.village_id,
                    source=NomineeSource.RESIDENT,
                    reason=reason,
                    points=_earned(campaign, [target.pk]).get(target.pk, 0),
                    proposed_by_household=household,
                )
        except IntegrityError:
            raise ApplicationError(
                ErrorCode.DUPLICATE, _("这个人已经在候选名单上了"), {"field": "name"}
            ) from None
    return nominee


def campaigns_taking_proposals(household: Household) -> list[Campaign]:
    """Campaigns of the household's village that take residents' recommendations now."""
    return list(
        campaigns_of_household(household)
        .filter(status=CampaignStatus.DRAFT, shortlist_rule=ShortlistRule.NOMINATION)
        .order_by("created_at", "pk")
    )


def nominee_remove(*, actor: Actor, campaign: Campaign, nominee_id: object) -> None:
    with transaction.atomic():
        campaign = _locked(campaign)
        nominee = Nominee.objects.filter(campaign=campaign, pk=parse_id(nominee_id) or 0).first()
        if nominee is None:
            raise NotFound("nominee")
        require_role(
            actor,
            roles=PROPOSERS,
            scheme_id=campaign.scheme_id,
            region_path=nominee.village.path,
            action="campaign.nominate",
        )
        _require_status(campaign, CampaignStatus.DRAFT, "nominate")
        nominee.delete()
        _audit(actor, campaign, "remove", nominee=nominee_id, household=nominee.household_id)


def _earned(campaign: Campaign, household_ids: list[int] | None = None) -> dict[int, int]:
    """Points each household earned in the campaign's category and period (rollups)."""
    rows = HouseholdDay.objects.filter(
        scheme_id=campaign.scheme_id,
        day__gte=campaign.period_start,
        day__lte=campaign.period_end,
        village__path__startswith=campaign.region.path,
    )
    if campaign.category:
        rows = rows.filter(category=campaign.category)
    if household_ids is not None:
        rows = rows.filter(household_id__in=household_ids)
    return dict(
        rows.values("household_id")
        .annotate(total=Sum("points"))
        .values_list("household_id", "total")
    )


def shortlist_from_ranking(*, actor: Actor, campaign: Campaign) -> int:
    """Add each village's top ``shortlist_size`` households by points earned (more than 0)
    in the category and period; ties by household number, the same way every time. Returns
    how many were added (already shortlisted households are kept, not added twice)."""
    _require_admin(actor, campaign.scheme_id, campaign.region, "campaign.shortlist")
    with transaction.atomic():
        campaign = _locked(campaign)
        _require_status(campaign, CampaignStatus.DRAFT, "shortlist")
        if campaign.shortlist_rule != ShortlistRule.RANKING:
            raise invalid(_("这个评比是提名入围，不按排名"), field="shortlist_rule")
        earned = _earned(campaign)
        village_of = dict(
            Household.objects.filter(pk__in=earned)
            .exclude(status=HouseholdStatus.CLOSED)
            .values_list("pk", "village_id")
        )
        by_village: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for household_id, points in earned.items():
            if points > 0 and household_id in village_of:
                by_village[village_of[household_id]].append((household_id, points))
        existing = set(
            Nominee.objects.filter(campaign=campaign, member__isnull=True).values_list(
                "household_id", flat=True
            )
        )
        added = []
        for village_id, rows in by_village.items():
            rows.sort(key=lambda r: (-r[1], r[0]))
            for household_id, points in rows[: campaign.shortlist_size]:
                if household_id not in existing:
                    added.append(
                        Nominee(
                            scheme_id=campaign.scheme_id,
                            campaign=campaign,
                            household_id=household_id,
                            village_id=village_id,
                            source=NomineeSource.RANKING,
                            points=points,
                            nominated_by_id=actor.user_id,
                        )
                    )
        Nominee.objects.bulk_create(added)
        _audit(actor, campaign, "shortlist", added=len(added))
    return len(added)


def voting_open(
    *,
    actor: Actor,
    campaign: Campaign,
    starts: dt.datetime,
    ends: dt.datetime,
    at: dt.datetime | None = None,
) -> Campaign:
    """Fix the shortlist and set the window (admins of the campaign's region)."""
    now = at or timezone.now()
    _require_admin(actor, campaign.scheme_id, campaign.region, "campaign.open")
    if ends <= starts:
        raise invalid(_("投票截止时间要晚于开始时间"), field="vote_ends")
    if ends <= now:
        raise invalid(_("投票截止时间已经过了"), field="vote_ends")
    if ends - starts > dt.timedelta(days=MAX_VOTING_DAYS):
        raise invalid(_("投票时间最长三个月"), field="vote_ends")
    with transaction.atomic():
        campaign = _locked(campaign)
        _require_status(campaign, CampaignStatus.DRAFT, "open")
        if not Nominee.objects.filter(campaign=campaign).exists():
            raise invalid(_("候选名单是空的，请先提名或按排名生成"), field="nominees")
        campaign.vote_starts, campaign.vote_ends = starts, ends
        campaign.status = CampaignStatus.VOTING
        campaign.save(update_fields=["vote_starts", "vote_ends", "status"])
        _audit(actor, campaign, "open", starts=starts.isoformat(), ends=ends.isoformat())
    return campaign


# --- voting ----------------------------------------------------------------------------------


def is_open(campaign: Campaign, now: dt.datetime) -> bool:
    return (
        campaign.status == CampaignStatus.VOTING
        and campaign.vote_starts is not None
        and campaign.vote_ends is not None
        and campaign.vote_starts <= now < campaign.vote_ends
    )


def vote_cast(
    *,
    household: Household,
    member_id: object,
    nominee_id: object,
    campaign: Campaign,
    at: dt.datetime | None = None,
) -> Vote:
    """One member of a signed-in household votes for a nominee of their own village.

    Refused with ``vote_not_open`` outside the window and ``already_voted`` for a member who
    voted (the unique constraint decides between two parallel requests). With a voting rule,
    the household gets a claim of it through the normal path (submitted, for review)."""
    now = at or timezone.now()
    campaign = Campaign.objects.select_related("vote_rule").get(pk=campaign.pk)  # as it is now
    member = Member.objects.filter(pk=parse_id(member_id) or 0, household=household).first()
    if member is None:
        raise invalid(_("请选择投票的家庭成员"), field="member")
    nominee = Nominee.objects.filter(campaign=campaign, pk=parse_id(nominee_id) or 0).first()
    if nominee is None or nominee.village_id != household.village_id:
        raise invalid(_("请选择本村的候选人"), field="nominee")
    if campaign.scheme_id != household.scheme_id or household.status == HouseholdStatus.CLOSED:
        raise NotFound("campaign")
    if not is_open(campaign, now):
        raise ApplicationError(
            ErrorCode.VOTE_NOT_OPEN,
            detail={
                "starts": campaign.vote_starts.isoformat() if campaign.vote_starts else None,
                "ends": campaign.vote_ends.isoformat() if campaign.vote_ends else None,
            },
        )
    try:
        with transaction.atomic():
            vote = Vote.objects.create(
                scheme_id=campaign.scheme_id,
                campaign=campaign,
                nominee=nominee,
                household=household,
                member=member,
                cast_at=now,
            )
            if campaign.vote_rule is not None:
                _honour_claim(
                    household,
                    campaign.vote_rule,
                    member_id=member.pk,
                    note=STORED_TEXT["vote"] % {"title": campaign.title},
                    origin_ref=f"vote:{campaign.pk}",
                    now=now,
                )
    except IntegrityError:
        earlier = Vote.objects.filter(campaign=campaign, member=member).first()
        if earlier is None:  # not the one-vote rule: let it be the bug it is
            raise
        raise ApplicationError(
            ErrorCode.ALREADY_VOTED, detail={"member": member.pk, "nominee": earlier.nominee_id}
        ) from None
    return vote


def tally_enter(
    *, actor: Actor, campaign: Campaign, village: Region, counts: Mapping[Any, Any]
) -> dict[int, int]:
    """Staff of a village enter its paper ballots: each nominee's count (replacing what was
    entered before). The paper ballots of a village cannot be more than its members who did
    not vote on the phone."""
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=campaign.scheme_id,
        region_path=village.path,
        action="campaign.tally",
    )
    nominees = {n.pk: n for n in Nominee.objects.filter(campaign=campaign, village=village)}
    if not nominees:
        raise invalid(_("这个村没有候选人"), field="village")
    clean: dict[int, int] = {}
    for key, raw in counts.items():
        nominee_id = parse_id(key)
        if nominee_id not in nominees:
            raise invalid(_("候选人不在这个村的名单上"), field="counts")
        if isinstance(raw, bool) or raw in (None, ""):
            raise invalid(_("票数要填整数"), field="counts")
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise invalid(_("票数要填整数"), field="counts") from None
        if not 0 <= value <= MAX_PAPER_VOTES:
            raise invalid(_("票数不能是负数，也不能太大"), field="counts")
        clean[nominee_id] = value
    with transaction.atomic():
        campaign = _locked(campaign)
        _require_status(campaign, CampaignStatus.VOTING, "tally")
        phone = Vote.objects.filter(campaign=campaign, nominee__village=village).count()
        members = Member.objects.filter(
            household__village=village, household__scheme_id=campaign.scheme_id
        ).exclude(household__status=HouseholdStatus.CLOSED)
        papers_possible = members.count() - phone
        after = {pk: clean.get(pk, n.paper_votes) for pk, n in nominees.items()}
        if sum(after.values()) > papers_possible:
            raise invalid(
                _("纸质票一共%(papers)s张，超过了本村还没在手机上投票的人数（%(left)s人）")
                % {"papers": sum(after.values()), "left": max(papers_possible, 0)},
                field="counts",
            )
        for pk, value in clean.items():
            Nominee.objects.filter(pk=pk).update(paper_votes=value)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=campaign.scheme_id,
            action=AuditAction.TALLY,
            obj=campaign,
            region_id=village.pk,
            detail={"title": campaign.title, "counts": {str(k): v for k, v in clean.items()}},
        )
    return after


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    nominee: Nominee
    phone: int
    paper: int

    @property
    def votes(self) -> int:
        return self.phone + self.paper


def votes_counted(campaign: Campaign) -> dict[int, list[Counted]]:
    """Each village's nominees with their votes, most first (ties: more points earned, then
    the earlier nomination)."""
    phone = dict(
        Vote.objects.filter(campaign=campaign)
        .values("nominee_id")
        .annotate(n=Count("pk"))
        .values_list("nominee_id", "n")
    )
    by_village: dict[int, list[Counted]] = defaultdict(list)
    nominees = Nominee.objects.filter(campaign=campaign).select_related(
        "household", "member", "village", "claim", "certificate"
    )
    for nominee in nominees:
        by_village[nominee.village_id].append(
            Counted(nominee, phone.get(nominee.pk, 0), nominee.paper_votes)
        )
    for rows in by_village.values():
        rows.sort(key=lambda c: (-c.votes, -c.nominee.points, c.nominee.pk))
    return by_village


def campaign_publish(
    *, actor: Actor, campaign: Campaign, at: dt.datetime | None = None
) -> list[Nominee]:
    """After the window: count, record every nominee's votes and place, and put each village's
    ``quota`` first (with at least one vote) on the notice as claims of the title's rule,
    approved by the publisher. All or nothing: a claim the limits refuse refuses the whole
    publication, naming the household."""
    now = at or timezone.now()
    _require_admin(actor, campaign.scheme_id, campaign.region, "campaign.publish")
    winners: list[Nominee] = []
    with transaction.atomic():
        campaign = _locked(campaign)
        _require_status(campaign, CampaignStatus.VOTING, "publish")
        assert campaign.vote_ends is not None
        if now < campaign.vote_ends:
            raise ApplicationError(
                ErrorCode.VOTE_NOT_OPEN,
                _("投票还没有截止，截止后才能公布结果"),
                {"ends": campaign.vote_ends.isoformat()},
            )
        for rows in votes_counted(campaign).values():
            for place, counted in enumerate(rows, start=1):
                nominee = counted.nominee
                nominee.votes, nominee.place = counted.votes, place
                nominee.winner = place <= campaign.quota and counted.votes > 0
                if nominee.winner:
                    nominee.claim = _title_claim(actor, campaign, nominee, now)
                    winners.append(nominee)
                nominee.save(update_fields=["votes", "place", "winner", "claim"])
        campaign.status = CampaignStatus.PUBLISHED
        campaign.published_at, campaign.published_by_id = now, actor.user_id
        campaign.save(update_fields=["status", "published_at", "published_by"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=campaign.scheme_id,
            action=AuditAction.CAMPAIGN_PUBLISH,
            obj=campaign,
            region_id=campaign.region_id,
            detail={
                "title": campaign.title,
                "winners": [[n.pk, n.household_id, n.votes] for n in winners],
            },
        )
    return winners


def _honour_claim(
    household: Household,
    rule: Rule,
    *,
    member_id: int | None,
    note: str,
    origin_ref: str,
    now: dt.datetime,
    proposed_by_id: int | None = None,
) -> Claim:
    """One occurrence of ``rule`` for the household, submitted through the claim path."""
    return claim_create(
        NewClaim(
            household=household,
            rule=rule,
            quantity=Decimal(1),
            occurred_on=timezone.localdate(now),
            source=ClaimSource.HONOUR,
            proposed_by_id=proposed_by_id,
            member_id=member_id,
            note=note,
            origin_ref=origin_ref,
        ),
        at=now,
    )


def _title_claim(actor: Actor, campaign: Campaign, nominee: Nominee, now: dt.datetime) -> Claim:
    household = nominee.household
    try:
        claim = _honour_claim(
            household,
            campaign.rule,
            member_id=nominee.member_id,
            note=STORED_TEXT["title"]
            % {"title": campaign.title, "votes": nominee.votes, "place": nominee.place},
            origin_ref=f"campaign:{campaign.pk}",
            now=now,
            proposed_by_id=actor.user_id,
        )
        return claim_approve(actor=actor, claim=claim, at=now)
    except ApplicationError as exc:
        raise ApplicationError(
            exc.code,
            _("%(name)s（%(village)s）：%(message)s")
            % {
                "name": household.head_name,
                "village": nominee.village.name,
                "message": exc.message,
            },
            {**exc.detail, "household": household.pk},
        ) from None


def campaign_results(campaign: Campaign) -> dict[int, list[Counted]]:
    """What the results page shows: the counted votes (before publishing: so far)."""
    return votes_counted(campaign)


def campaigns_open_for(household: Household, now: dt.datetime) -> list[Campaign]:
    """The campaigns a resident can vote in now: voting, in the window, with nominees in the
    household's village."""
    return list(
        Campaign.objects.filter(
            scheme_id=household.scheme_id,
            status=CampaignStatus.VOTING,
            vote_starts__lte=now,
            vote_ends__gt=now,
        )
        .filter(Q(nominees__village_id=household.village_id))
        .distinct()
        .order_by("vote_ends", "pk")
    )
