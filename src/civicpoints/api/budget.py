"""Budgets and sanctions: funds in, village quotas, the coverage summary; 一票否决."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Id, Points, Trimmed, points_out
from civicpoints.awards.models import FundKind
from civicpoints.awards.selectors import budget_summary
from civicpoints.awards.services import fund_record, quota_set
from civicpoints.households.selectors import household_for
from civicpoints.households.standing import household_disqualify
from civicpoints.ledger.amounts import parse_points
from civicpoints.schemes.models import Role
from civicpoints.schemes.selectors import region_for, scheme_for_region, scheme_governed

router = Router(tags=["budget"])
ERRORS = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
READERS = (Role.COUNTY_ADMIN, Role.AUDITOR)


class QuotaOut(Schema):
    village: int
    village_name: str
    quota: float
    used: float


class BudgetOut(Schema):
    scheme: int
    year: int
    funds_yuan: float
    outstanding_points: float
    liability_yuan: float
    coverage: float | None = Field(description="资金 / 未兑换积分折合金额")
    quotas: list[QuotaOut]


class YearIn(Schema):
    year: int = Field(default=0, ge=0, le=2100)


@router.get("", response={200: BudgetOut, **ERRORS})
def summary(request: HttpRequest, params: Query[YearIn]) -> dict:
    scheme = scheme_governed(request.actor, READERS, "budget.read")  # type: ignore[attr-defined]
    year = params.year or timezone.localdate().year
    s = budget_summary(scheme=scheme, year=year)
    return {
        "scheme": scheme.pk,
        "year": year,
        "funds_yuan": s.funds_fen / 100,
        "outstanding_points": points_out(s.outstanding),
        "liability_yuan": s.liability_fen / 100,
        "coverage": float(s.coverage) if s.coverage is not None else None,
        "quotas": [
            {**q, "quota": points_out(q["quota"]), "used": points_out(q["used"])} for q in s.quotas
        ],
    }


class FundIn(Schema):
    kind: FundKind
    yuan: Points = Field(description="金额（元），最多两位小数")
    source: Trimmed = Field(min_length=1, max_length=100)
    received_on: dt.date
    note: Trimmed = Field(default="", max_length=200)


class FundOut(Schema):
    id: int
    kind: str
    yuan: float
    source: str
    received_on: dt.date


@router.post("/funds", response={201: FundOut, **ERRORS})
def funds(request: HttpRequest, body: FundIn) -> Status:
    scheme = scheme_governed(request.actor, (Role.COUNTY_ADMIN,), "budget.fund")  # type: ignore[attr-defined]
    fund = fund_record(
        actor=request.actor,  # type: ignore[attr-defined]
        scheme=scheme,
        kind=body.kind,
        amount_fen=parse_points(body.yuan),  # yuan with two decimals = fen
        source=body.source,
        received_on=body.received_on,
        note=body.note,
    )
    return Status(
        201,
        {
            "id": fund.pk,
            "kind": fund.kind,
            "yuan": fund.amount_fen / 100,
            "source": fund.source,
            "received_on": fund.received_on,
        },
    )


class QuotaIn(Schema):
    village: Id
    year: int = Field(ge=2000, le=2100, strict=True)
    points: Points


@router.put("/quotas", response={200: QuotaOut, **ERRORS})
def quotas(request: HttpRequest, body: QuotaIn) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    village = region_for(actor, body.village)
    scheme = scheme_for_region(actor, village)
    quota = quota_set(
        actor=actor,
        scheme=scheme,
        village=village,
        year=body.year,
        points=parse_points(body.points),
    )
    summary_row = next(
        (
            q
            for q in budget_summary(scheme=scheme, year=body.year).quotas
            if q["village"] == village.pk
        ),
        {"used": 0},
    )
    return {
        "village": village.pk,
        "village_name": village.name,
        "quota": points_out(quota.points),
        "used": points_out(summary_row["used"]),
    }


sanctions_router = Router(tags=["households"])


class DisqualifyIn(Schema):
    reason: Trimmed = Field(min_length=1, max_length=500)
    starts_on: dt.date
    ends_on: dt.date


class DisqualifyOut(Schema):
    id: int
    household: int
    reason: str
    starts_on: dt.date
    ends_on: dt.date


@sanctions_router.post("/{household_id}/disqualifications", response={201: DisqualifyOut, **ERRORS})
def disqualify(request: HttpRequest, household_id: str, body: DisqualifyIn) -> Status:
    actor = request.actor  # type: ignore[attr-defined]
    household = household_for(actor, household_id)
    ban = household_disqualify(
        actor=actor,
        household=household,
        reason=body.reason,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
    )
    return Status(
        201,
        {
            "id": ban.pk,
            "household": household.pk,
            "reason": ban.reason,
            "starts_on": ban.starts_on,
            "ends_on": ban.ends_on,
        },
    )
