"""The monthly report (月报) of a township or the county, printed on A4 and handed upward: the
month's figures beside the month before and the same month a year earlier, the townships or
villages below, points by category, who the points reached, the outcome indicators, and the
villages where nothing moved for 60 days. Every figure is one of ``reports.stats``,
``reports.inclusion`` or ``reports.outcomes`` (so it equals the dashboard's), read from the
replica when there is one. Reads only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicpoints.ledger.amounts import to_points
from civicpoints.reports.inclusion import Reach, inclusion
from civicpoints.reports.models import Flow, PeriodKind
from civicpoints.reports.outcomes import OutcomeMonth, outcomes_year
from civicpoints.reports.periods import Period, period_for
from civicpoints.reports.stats import Stats, stats
from civicpoints.schemes.models import Region, Scheme

# The lines of the comparison table, in the order a report reads: (label, how to read it).
POINT_LINES: tuple[tuple[Promise, str], ...] = (
    (_("奖励积分"), Flow.AWARDED),
    (_("扣减积分"), Flow.DEDUCTED),
    (_("爱心超市兑换"), Flow.REDEEMED),
    (_("签约商家消费"), Flow.PAID),
    (_("商家退款"), Flow.REFUNDED),
    (_("到期清零"), Flow.EXPIRED),
    (_("人工调整"), Flow.ADJUSTED),
)


@dataclass(frozen=True)
class Line:
    """One line of the comparison: the month, the month before and a year earlier."""

    label: str | Promise
    this: Any
    previous: Any
    year_ago: Any
    unit: str  # "points", "households", "percent"

    @property
    def change(self) -> Any:
        """This month less the month before (None where a figure is missing)."""
        if self.this is None or self.previous is None or self.unit == "percent":
            return None
        return self.this - self.previous


@dataclass(frozen=True)
class MonthlyReport:
    scheme: Scheme
    region: Region
    month: Period
    figures: Stats
    lines: list[Line]
    reach: Reach
    idle: list[Reach]
    outcomes: OutcomeMonth


def _points(hundredths: int) -> Decimal:
    return to_points(hundredths)


def _percent(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else (rate * 100).quantize(Decimal("0.1"))


def _line(label: str | Promise, values: list[Any], unit: str) -> Line:
    this, previous, year_ago = values
    return Line(label, this, previous, year_ago, unit)


def _lines(this: Stats, previous: Stats, year_ago: Stats) -> list[Line]:
    three = (this, previous, year_ago)
    lines = [
        _line(_("参与农户（户）"), [s.households.active_taking_part for s in three], "households"),
        _line(_("参与率"), [_percent(s.households.rate) for s in three], "percent"),
        _line(
            _("外出务工户参与（户）"),
            [s.households.away_taking_part for s in three],
            "households",
        ),
        _line(
            _("无劳动能力户参与（户）"),
            [s.households.unable_taking_part for s in three],
            "households",
        ),
    ]
    for label, flow in POINT_LINES:
        lines.append(_line(label, [_points(s.flows.get(flow, 0)) for s in three], "points"))
    return lines


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def monthly_report(
    *, scheme: Scheme, region: Region, month: Period, today: dt.date
) -> MonthlyReport:
    """The report of ``region`` for ``month`` (a month period)."""
    if month.kind != PeriodKind.MONTH:
        raise ValueError(month.kind)
    start = month.start
    previous = period_for(PeriodKind.MONTH, start - dt.timedelta(days=1))
    year_ago = period_for(PeriodKind.MONTH, start.replace(year=start.year - 1))
    this_month = stats(scheme=scheme, region=region, period=month, today=today)
    before = stats(scheme=scheme, region=region, period=previous, today=today)
    a_year_ago = stats(scheme=scheme, region=region, period=year_ago, today=today)
    reached = inclusion(scheme=scheme, region=region, period=month, today=today)
    last_day = min(today, (month.end or today) - dt.timedelta(days=1))
    outcomes = outcomes_year(scheme=scheme, region=region, year=start.year)[start.month - 1]
    return MonthlyReport(
        scheme=scheme,
        region=region,
        month=month,
        figures=this_month,
        lines=_lines(this_month, before, a_year_ago),
        reach=reached.whole,
        idle=reached.idle_villages(last_day),
        outcomes=outcomes,
    )
