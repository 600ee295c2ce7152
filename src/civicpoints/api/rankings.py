"""Rankings by points earned in a period, for a region the caller can see
(honours/rankings.py; docs/honours.md)."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Trimmed, points_out
from civicpoints.errors import PermissionDenied
from civicpoints.honours.rankings import MAX_LIMIT, period_parse, ranking
from civicpoints.households.models import Household, Member
from civicpoints.schemes.scope import HOUSEHOLD_READERS
from civicpoints.schemes.selectors import region_for, scheme_for_region

router = Router(tags=["honours"])
ERRORS = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class RankingIn(Schema):
    region: int = Field(description="村、镇或县的编号")
    period: Literal["month", "quarter", "year", "all"] = "month"
    value: Trimmed = Field(
        default="", max_length=7, description="2026-11、2026-Q4 或 2026；空：本期"
    )
    by: Literal["household", "member"] = "household"
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class RankedOut(Schema):
    rank: int
    household: int
    household_name: str
    village_name: str
    member: int | None
    member_name: str | None
    points: float


class RankingOut(Schema):
    region: int
    region_name: str
    period: str
    start: str
    label: str
    closed: bool = Field(description="期间已结束：排名已定稿，之后的记账不再改变它")
    total: int
    rows: list[RankedOut]


@router.get("", response={200: RankingOut, **ERRORS})
def rankings(request: HttpRequest, params: Query[RankingIn]) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    region = region_for(actor, params.region)
    scheme = scheme_for_region(actor, region, prefer=HOUSEHOLD_READERS)
    if not actor.covers(roles=HOUSEHOLD_READERS, scheme_id=scheme.pk, region_path=region.path):
        raise PermissionDenied("ranking.read")  # a merchant's cashier: no households to rank
    period = period_parse(params.period, params.value, timezone.localdate())
    result = ranking(
        scheme_id=scheme.pk,
        region=region,
        period=period,
        by=params.by,
        limit=params.limit,
        offset=params.offset,
    )
    households = {
        h["pk"]: h
        for h in Household.objects.filter(pk__in={r.household_id for r in result.rows}).values(
            "pk", "head_name", "village__name"
        )
    }
    members = dict(
        Member.objects.filter(pk__in={r.member_id for r in result.rows if r.member_id}).values_list(
            "pk", "name"
        )
    )
    return {
        "region": region.pk,
        "region_name": region.name,
        "period": period.kind,
        "start": period.start.isoformat(),
        "label": period.label,
        "closed": result.closed,
        "total": result.total,
        "rows": [
            {
                "rank": r.rank,
                "household": r.household_id,
                "household_name": households[r.household_id]["head_name"],
                "village_name": households[r.household_id]["village__name"],
                "member": r.member_id or None,
                "member_name": members.get(r.member_id),
                "points": points_out(r.points),
            }
            for r in result.rows
        ],
    }
