"""Reads of claims, notices, owed deductions and budgets, always through the actor's scope."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from civicpoints.awards.models import (
    LIVE_STATUSES,
    Claim,
    ClaimEvent,
    ClaimEvidence,
    ClaimStatus,
    Fund,
    OwedDeduction,
    VillageQuota,
)
from civicpoints.calendar import day_bounds
from civicpoints.errors import NotFound
from civicpoints.ledger.models import Account, AccountKind
from civicpoints.schemes.models import Region, Scheme
from civicpoints.schemes.scope import (
    ADMIN_ROLES,
    STAFF_ROLES,
    Actor,
    get_scoped,
    one_or_404,
    scope_q,
    scoped,
)

REGION_PATH = "village__path"
CLAIM_READERS = STAFF_ROLES - {"store_clerk", "merchant_clerk"}


def claims_visible(actor: Actor) -> QuerySet[Claim]:
    return scoped(
        actor,
        Claim.objects.select_related("household", "rule", "village", "member"),
        region_path_field=REGION_PATH,
        roles=CLAIM_READERS,
    )


def claim_for(actor: Actor, claim_id: object) -> Claim:
    return get_scoped(
        actor,
        Claim.objects.select_related("household", "rule", "village", "scheme"),
        claim_id,
        region_path_field=REGION_PATH,
        roles=CLAIM_READERS,
        what="claim",
    )


def notice_regions(actor: Actor) -> QuerySet[Region]:
    """The regions whose notice boards the actor reads: those of the claim readers' grants
    (counter clerks and merchant cashiers have no business with claims, 404)."""
    q = Q(pk__in=[])
    for g in actor.grants_for(CLAIM_READERS):
        q |= Q(path__startswith=g.region_path)
    return Region.objects.filter(q).order_by("code")


def notice_board_for(actor: Actor, region_id: object) -> tuple[Region, Scheme]:
    """A notice board the actor may read, with the scheme of the grant that lets them."""
    region = one_or_404(notice_regions(actor).select_related("parent"), region_id, "region")
    for g in actor.grants_for(CLAIM_READERS):
        if region.path.startswith(g.region_path):
            return region, Scheme.objects.get(pk=g.scheme_id)
    raise NotFound("region")  # pragma: no cover - notice_regions found it under a grant


def notice_claims(*, village_id: int) -> QuerySet[Claim]:
    """What a village's notice board shows: every claim on notice, soonest end first."""
    return (
        Claim.objects.filter(village_id=village_id, status=ClaimStatus.ON_NOTICE)
        .select_related("household", "rule", "member")
        .order_by("notice_ends_at", "pk")
    )


def owed_total(*, household_id: int) -> int:
    return (
        OwedDeduction.objects.filter(household_id=household_id).aggregate(t=Sum("remaining"))["t"]
        or 0
    )


@dataclass(frozen=True)
class BudgetSummary:
    funds_fen: int
    outstanding: int  # hundredths of a point held by households
    liability_fen: int
    quotas: list[dict]

    @property
    def coverage(self) -> Decimal | None:
        if not self.liability_fen:
            return None
        return (Decimal(self.funds_fen) / Decimal(self.liability_fen)).quantize(Decimal("0.01"))


def budget_summary(*, scheme: Scheme, year: int | None = None) -> BudgetSummary:
    year = year or timezone.localdate().year
    funds = Fund.objects.filter(scheme=scheme).aggregate(t=Sum("amount_fen"))["t"] or 0
    outstanding = (
        Account.objects.filter(scheme=scheme, kind=AccountKind.HOUSEHOLD).aggregate(
            t=Sum("balance")
        )["t"]
        or 0
    )
    # hundredths of a point x yuan per point = fen
    liability = int((Decimal(outstanding) * scheme.yuan_per_point).to_integral_value())
    used = dict(
        Claim.objects.filter(
            scheme=scheme,
            is_deduction=False,
            status__in=LIVE_STATUSES,
            occurred_on__year=year,
        )
        .values("village_id")
        .annotate(t=Sum("points"))
        .values_list("village_id", "t")
    )
    quotas = [
        {
            "village": q.village_id,
            "village_name": q.village.name,
            "quota": q.points,
            "used": used.get(q.village_id, 0),
        }
        for q in VillageQuota.objects.filter(scheme=scheme, year=year).select_related("village")
    ]
    return BudgetSummary(
        funds_fen=funds, outstanding=outstanding, liability_fen=liability, quotas=quotas
    )


def evidence_for(actor: Actor, evidence_id: object) -> ClaimEvidence:
    return get_scoped(
        actor,
        ClaimEvidence.objects.select_related("claim"),
        evidence_id,
        region_path_field="claim__village__path",
        roles=CLAIM_READERS,
        what="evidence",
    )


# --- the staff home's counts (one cheap query each, scoped by the actor) ----------------------


REVIEW_STAGES = ("village", "township")


REVIEW_STATUSES = (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED)


def claims_for_rows(ids: list[int]) -> list[Claim]:
    """A page of claims, by ids already taken from a scoped query, with what a list row shows."""
    return list(
        Claim.objects.filter(pk__in=ids)
        .select_related("household", "rule", "village", "member")
        .prefetch_related("evidence")
        .order_by("pk")
    )


def review_queue(actor: Actor, *, stage: str | None = None) -> QuerySet[Claim]:
    """Claims waiting for this person's review: the village stage where they are an admin, the
    township stage where they are a township or county admin (and did not approve it first).
    ``stage`` "village" or "township" keeps one of the two; None both."""
    from civicpoints.awards.services.claims import TOWNSHIP_REVIEWERS

    village = scope_q(actor, region_path_field=REGION_PATH, roles=ADMIN_ROLES) & Q(
        status=ClaimStatus.SUBMITTED
    )
    township = (
        scope_q(actor, region_path_field=REGION_PATH, roles=TOWNSHIP_REVIEWERS)
        & Q(status=ClaimStatus.APPROVED)
        & ~Q(village_approved_by_id=actor.user_id)
    )
    wanted = {"village": village, "township": township}.get(stage or "", village | township)
    # The status filter outside the OR lets the plan use the partial queue index (no statistics
    # needed) instead of reading every claim in scope.
    return Claim.objects.filter(status__in=REVIEW_STATUSES).filter(wanted)


def review_queue_count(actor: Actor, *, stage: str | None = None) -> int:
    return review_queue(actor, stage=stage).count()


def objections_waiting_count(actor: Actor) -> int:
    """Claims sent back to review by an objection, waiting for this person's review."""
    return (
        review_queue(actor)
        .filter(status=ClaimStatus.SUBMITTED, events__action="object")
        .values("pk")
        .distinct()
        .count()
    )


def notices_ending_today(actor: Actor) -> QuerySet[Claim]:
    """Claims on notice in the actor's villages whose notice ends today (local time)."""
    start, end = day_bounds()
    return scoped(
        actor,
        Claim.objects.filter(
            status=ClaimStatus.ON_NOTICE, notice_ends_at__gte=start, notice_ends_at__lt=end
        ),
        region_path_field=REGION_PATH,
        roles=CLAIM_READERS,
    )


def notices_ending_today_count(actor: Actor) -> int:
    return notices_ending_today(actor).count()


def objection_reasons(claim_ids: list[int]) -> dict[int, str]:
    """The latest objection's reason of each claim (for marking objected claims in the queue)."""
    reasons: dict[int, str] = {}
    rows = (
        ClaimEvent.objects.filter(claim_id__in=claim_ids, action="object")
        .order_by("claim_id", "pk")
        .values_list("claim_id", "reason")
    )
    for claim_id, reason in rows:
        reasons[claim_id] = reason  # ordered by pk: the last one wins
    return reasons


def claim_actions(actor: Actor, claim: Claim) -> frozenset[str]:
    """What this person may do to this claim now (the services check again): for buttons."""
    from civicpoints.awards.services.claims import PROPOSERS, TOWNSHIP_REVIEWERS

    path = claim.village.path
    admin = actor.covers(roles=ADMIN_ROLES, scheme_id=claim.scheme_id, region_path=path)
    found = set()
    if claim.status == ClaimStatus.SUBMITTED and admin:
        found |= {"approve", "reject"}
    elif claim.status == ClaimStatus.APPROVED:
        if admin:
            found.add("reject")
        if (
            actor.covers(roles=TOWNSHIP_REVIEWERS, scheme_id=claim.scheme_id, region_path=path)
            and claim.village_approved_by_id != actor.user_id
        ):
            found.add("approve")
    elif claim.status == ClaimStatus.ON_NOTICE:
        if admin:
            found.add("reject")
        if actor.covers(roles=PROPOSERS, scheme_id=claim.scheme_id, region_path=path):
            found.add("object")
    if claim.status in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED) and actor.covers(
        roles=PROPOSERS, scheme_id=claim.scheme_id, region_path=path
    ):
        found.add("photo")
    return frozenset(found)
