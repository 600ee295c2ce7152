"""Reads of claims, notices, owed deductions and budgets, always through the actor's scope."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone

from civicpoints.awards.models import (
    LIVE_STATUSES,
    Claim,
    ClaimEvidence,
    ClaimStatus,
    Fund,
    OwedDeduction,
    VillageQuota,
)
from civicpoints.ledger.models import Account, AccountKind
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import STAFF_ROLES, Actor, get_scoped, scoped

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
