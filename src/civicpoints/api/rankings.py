"""Honours: rankings by points earned in a period, for a region the caller can see; star
households' thresholds, rating and list (honours/; docs/honours.md)."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Points, Trimmed, points_out
from civicpoints.errors import PermissionDenied
from civicpoints.honours.rankings import MAX_LIMIT, period_parse, ranking, ranking_named
from civicpoints.honours.stars import (
    STAR_READERS,
    STAR_SETTERS,
    Level,
    star_levels,
    star_levels_set,
    stars_compute,
    stars_in_region,
)
from civicpoints.ledger.amounts import parse_points
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import HOUSEHOLD_READERS
from civicpoints.schemes.selectors import region_for, scheme_for_region, scheme_governed

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
                "household_name": r.head_name,
                "village_name": r.village_name,
                "member": r.member_id or None,
                "member_name": r.member_name or None,
                "points": points_out(r.points),
            }
            for r in ranking_named(result.rows)
        ],
    }


# --- star households (honours/stars.py) ------------------------------------------------------

stars_router = Router(tags=["honours"])


class LevelIn(Schema):
    stars: int = Field(ge=1, le=5)
    points: Points = Field(description="全年获得积分不少于")
    categories: list[Trimmed] = Field(default_factory=list, max_length=20)


class LevelsIn(Schema):
    levels: list[LevelIn] = Field(min_length=1, max_length=5)


class LevelOut(Schema):
    stars: int
    points: float
    categories: list[str]


class LevelsOut(Schema):
    scheme: int
    levels: list[LevelOut]


class StarsRunOut(Schema):
    year: int
    by_stars: dict[str, int] = Field(description="星级 -> 户数")
    changed: int


class StarredOut(Schema):
    household: int
    household_name: str
    village_name: str
    stars: int
    points: float


class StarsIn(Schema):
    year: int = Field(ge=2000, le=2100)
    region: int
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=10_000_000)


def _levels_out(scheme: Scheme) -> dict:
    return {
        "scheme": scheme.pk,
        "levels": [
            {"stars": lv.stars, "points": points_out(lv.points), "categories": list(lv.categories)}
            for lv in star_levels(scheme_id=scheme.pk)
        ],
    }


@stars_router.get("/star-levels", response={200: LevelsOut, **ERRORS})
def levels_read(request: HttpRequest) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    return _levels_out(scheme_governed(actor, STAR_READERS, "honours.star_levels"))


@stars_router.put("/star-levels", response={200: LevelsOut, **ERRORS})
def levels_write(request: HttpRequest, body: LevelsIn) -> dict:
    scheme = scheme_governed(request.actor, STAR_SETTERS, "honours.star_levels")  # type: ignore[attr-defined]
    star_levels_set(
        actor=request.actor,  # type: ignore[attr-defined]
        scheme=scheme,
        levels=[
            Level(lv.stars, parse_points(lv.points), tuple(lv.categories)) for lv in body.levels
        ],
    )
    return _levels_out(scheme)


@stars_router.put("/stars/{year}", response={200: StarsRunOut, **ERRORS})
def stars_rate(request: HttpRequest, year: int) -> dict:
    """Rate ``year`` (which must have ended) again: the same answer however often it runs."""
    scheme = scheme_governed(request.actor, STAR_SETTERS, "honours.stars")  # type: ignore[attr-defined]
    run = stars_compute(
        actor_id=request.actor.user_id,  # type: ignore[attr-defined]
        scheme_id=scheme.pk,
        year=year,
    )
    return {
        "year": run.year,
        "by_stars": {str(k): v for k, v in run.by_stars.items()},
        "changed": run.changed,
    }


@stars_router.get("/stars", response={200: list[StarredOut], **ERRORS})
def stars_list(request: HttpRequest, params: Query[StarsIn]) -> list[dict]:
    """A region's star households of a year, most stars first (then by household id)."""
    actor = request.actor  # type: ignore[attr-defined]
    region = region_for(actor, params.region)
    scheme = scheme_for_region(actor, region, prefer=HOUSEHOLD_READERS)
    if not actor.covers(roles=HOUSEHOLD_READERS, scheme_id=scheme.pk, region_path=region.path):
        raise PermissionDenied("honours.stars")
    rows = stars_in_region(scheme_id=scheme.pk, region_path=region.path, year=params.year)
    return [
        {
            "household": r.household_id,
            "household_name": r.household.head_name,
            "village_name": r.household.village.name,
            "stars": r.stars,
            "points": points_out(r.points),
        }
        for r in rows[params.offset : params.offset + params.limit]
    ]
