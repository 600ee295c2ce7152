"""Periods of the rollups (a month, a quarter, a year or all time) as rankings, star
ratings and the county's figures name them: ``Period``, the one a day falls in, and the one a
person typed ("2026-11", "2026-Q4", "2026")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext as _

from civicpoints.errors import invalid
from civicpoints.reports.models import PeriodKind
from civicpoints.reports.rollups import period_start


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date

    @property
    def end(self) -> dt.date | None:
        """The day after the period (None: all time never ends)."""
        if self.kind == PeriodKind.MONTH:
            return _months_later(self.start, 1)
        if self.kind == PeriodKind.QUARTER:
            return _months_later(self.start, 3)
        if self.kind == PeriodKind.YEAR:
            return self.start.replace(year=self.start.year + 1)
        return None

    @property
    def label(self) -> str:
        if self.kind == PeriodKind.MONTH:
            return _("%(year)s年%(month)s月") % {"year": self.start.year, "month": self.start.month}
        if self.kind == PeriodKind.QUARTER:
            quarter = (self.start.month - 1) // 3 + 1
            return _("%(year)s年第%(quarter)s季度") % {"year": self.start.year, "quarter": quarter}
        if self.kind == PeriodKind.YEAR:
            return _("%(year)s年") % {"year": self.start.year}
        return _("累计")

    def ended(self, today: dt.date) -> bool:
        end = self.end
        return end is not None and end <= today


def _months_later(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_for(kind: str, day: dt.date) -> Period:
    """The period of ``kind`` that ``day`` falls in."""
    if kind not in PeriodKind.values:
        raise invalid(_("期间只能是月、季度、年或累计"), field="period")
    return Period(kind, period_start(kind, day))


def period_parse(kind: str, value: str, today: dt.date) -> Period:
    """``kind`` with ``value``: "2026-11" (month), "2026-Q4" (quarter), "2026" (year), ""
    (the current one; all time needs none)."""
    if kind not in PeriodKind.values:
        raise invalid(_("期间只能是月、季度、年或累计"), field="period")
    value = (value or "").strip()
    if not value or kind == PeriodKind.ALL:
        return period_for(kind, today)
    try:
        if kind == PeriodKind.MONTH:
            year, month = value.split("-")
            day = dt.date(int(year), int(month), 1)
        elif kind == PeriodKind.QUARTER:
            year, quarter = value.upper().split("-Q")
            if not 1 <= int(quarter) <= 4:
                raise ValueError
            day = dt.date(int(year), int(quarter) * 3 - 2, 1)
        else:
            day = dt.date(int(value), 1, 1)
    except ValueError:
        raise invalid(
            _("期间写法不对：月如 2026-11，季度如 2026-Q4，年如 2026"), field="value"
        ) from None
    if day > today:
        raise invalid(_("这个期间还没有开始"), field="value")
    return period_for(kind, day)
