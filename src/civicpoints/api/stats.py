"""The county's figures (reports/stats.py; docs/reports.md): ``GET /stats`` for a region the
caller governs or audits, for a month, a quarter, a year or all time."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Trimmed
from civicpoints.reports.inclusion import Reach, inclusion
from civicpoints.reports.outcomes import outcomes_year
from civicpoints.reports.periods import Period, period_parse
from civicpoints.reports.stats import stats, stats_dict, stats_region
from civicpoints.schemes.models import RegionLevel

router = Router(tags=["stats"])


class StatsIn(Schema):
    region: int = Field(description="县、乡镇或村的编号")
    period: Literal["month", "quarter", "year", "all"] = "year"
    value: Trimmed = Field(
        default="", max_length=7, description="2026-11、2026-Q4 或 2026；空：本期"
    )


class FlowsOut(Schema):
    awarded: float = Field(description="奖励（减去冲正）")
    deducted: float
    redeemed: float = Field(description="爱心超市兑换（含订单扣减）")
    paid: float = Field(description="签约商家消费")
    refunded: float
    expired: float
    adjusted: float = Field(description="人工调整（可为负）")


class HouseholdsOut(Schema):
    active: int
    away: int = Field(description="外出务工")
    unable: int = Field(description="无劳动能力")
    active_taking_part: int = Field(description="期间内有任何积分记录的正常户")
    away_taking_part: int
    unable_taking_part: int
    participation_rate: float | None = Field(description="active_taking_part / active")


class MonthOut(FlowsOut):
    month: str


class CategoryOut(Schema):
    category: str
    awarded: float


class ChildOut(Schema):
    region: int
    region_name: str
    awarded: float
    redeemed: float
    taking_part: int


class SpendingOut(Schema):
    statements_unpaid: int = Field(description="待付款的商家结算单（全县）")
    statements_overdue: int = Field(description="超过24小时未付款")
    statements_unpaid_yuan: float
    low_stock: int = Field(description="该区域超市库存不足的商品")


class StatsOut(Schema):
    region: int
    region_name: str
    period: str
    start: str
    label: str
    flows: FlowsOut
    outstanding: float = Field(description="该区域农户现有积分（负债）")
    liability_yuan: float
    funds_yuan: float = Field(description="方案收到的资金（全县）")
    coverage: float | None = Field(description="资金 / 负债（仅全县）")
    households: HouseholdsOut
    trend: list[MonthOut] = Field(description="截至期末的12个月")
    categories: list[CategoryOut]
    children: list[ChildOut] = Field(description="下一级：县的乡镇，乡镇的村")
    spending: SpendingOut
    as_of: str | None = Field(
        description="数据截至（ISO 8601）：从只读副本读取时为副本已回放到的时间"
    )
    replica: bool = Field(description="是否从只读副本读取")
    lag_seconds: float = Field(description="副本落后主库的秒数（0：已追上或读主库）")


def _asked(request: HttpRequest, params: StatsIn) -> tuple[Any, Any, Period]:
    region, scheme = stats_region(request.actor, params.region)  # type: ignore[attr-defined]
    return scheme, region, period_parse(params.period, params.value, timezone.localdate())


@router.get("", response={200: StatsOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def read(request: HttpRequest, params: Query[StatsIn]) -> dict[str, Any]:
    """The dashboard's figures for a region and a period (admins and auditors of it)."""
    scheme, region, period = _asked(request, params)
    return stats_dict(stats(scheme=scheme, region=region, period=period))


class ReachOut(Schema):
    region: int
    region_name: str
    households: int = Field(description="未注销的户")
    earned: int = Field(description="期间内获得积分大于0的户")
    top_share: float | None = Field(description="获得积分最多的10%的户所占份额")
    gini: float | None = Field(description="基尼系数（净扣分的户按0计）")
    away: int
    away_earned: int
    unable: int
    unable_earned: int
    elderly_headed: int = Field(description="户主60岁及以上的户（按身份证号的出生年份）")
    elderly_share: float | None
    elderly_earned: int
    last_moved: str | None = Field(description="村里最后一次有积分变动的日期")
    idle: bool = Field(description="60天没有任何积分变动")


class InclusionOut(Schema):
    region: ReachOut
    villages: list[ReachOut]


def reach_out(r: Reach, today: Any) -> dict[str, Any]:
    return {
        "region": r.region.pk,
        "region_name": r.region.name,
        "households": r.households,
        "earned": r.earned,
        "top_share": float(r.top_share) if r.top_share is not None else None,
        "gini": float(r.gini) if r.gini is not None else None,
        "away": r.away,
        "away_earned": r.away_earned,
        "unable": r.unable,
        "unable_earned": r.unable_earned,
        "elderly_headed": r.elderly_headed,
        "elderly_share": float(r.elderly_share) if r.elderly_share is not None else None,
        "elderly_earned": r.elderly_earned,
        "last_moved": r.last_moved.isoformat() if r.last_moved else None,
        "idle": r.idle(today) if r.region.level == RegionLevel.VILLAGE else False,
    }


@router.get("/inclusion", response={200: InclusionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def read_inclusion(request: HttpRequest, params: Query[StatsIn]) -> dict[str, Any]:
    """Who the points reach: spread (top 10 %, Gini), away and unable households that earned,
    each village, and villages idle for 60 days."""
    scheme, region, period = _asked(request, params)
    today = timezone.localdate()
    found = inclusion(scheme=scheme, region=region, period=period, today=today)
    return {
        "region": reach_out(found.whole, today),
        "villages": [reach_out(v, today) for v in found.villages],
    }


class OutcomeFiguresOut(Schema):
    disputes: int | None = Field(description="调解纠纷（件）；null：该月没有村填报")
    petitions: int | None = Field(description="信访（件）")
    criminal_cases: int | None = Field(description="刑事案件（件）")
    sanitation_score: float | None = Field(description="卫生检查平均分（填报的村）")
    taking_part: int = Field(description="当月有积分变动的农户")


class OutcomeMonthOut(Schema):
    month: int = Field(description="1–12")
    this_year: OutcomeFiguresOut
    last_year: OutcomeFiguresOut = Field(description="上一年同月")


class OutcomesOut(Schema):
    region: int
    region_name: str
    year: int
    months: list[OutcomeMonthOut]


class OutcomesIn(Schema):
    region: int = Field(description="县、乡镇或村的编号")
    year: int | None = Field(default=None, ge=2000, le=2100, description="空：今年")


@router.get("/outcomes", response={200: OutcomesOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def read_outcomes(request: HttpRequest, params: Query[OutcomesIn]) -> dict[str, Any]:
    """The outcome indicators the villages entered (disputes mediated, petitions, criminal
    cases, sanitation scores) each month of a year beside the same month a year earlier,
    summed over the region's villages, with the households that took part that month."""
    region, scheme = stats_region(request.actor, params.region)  # type: ignore[attr-defined]
    year = params.year or timezone.localdate().year
    months = outcomes_year(scheme=scheme, region=region, year=year)
    return {
        "region": region.pk,
        "region_name": region.name,
        "year": year,
        "months": [
            {"month": m.month, "this_year": m.this_year, "last_year": m.last_year} for m in months
        ],
    }
