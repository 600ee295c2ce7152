"""Rankings of households and members by points earned (awards, deductions and adjustments,
with their reversals; never the balance) in a month, a quarter, a year or all time, within a
village, township or county.

Read from the follower's period totals (``reports.Standing``) in rank order by their index,
never by summing entries. Ties: equal points share a rank (1, 2, 2, 4) and are listed by
household id, then member id, the same every time. A period that has ended is closed once
(``period_close``: the scheduler's ``periods_close`` job, or the first ranking asked for it):
its totals are copied as they stood (``ClosedStanding``), and its rankings never change again,
whatever is posted or reversed later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import invalid
from civicpoints.honours.models import ClosedStanding, PeriodClose
from civicpoints.ledger.chain import chain_follow, chain_head, follower_hold
from civicpoints.ledger.models import Posting
from civicpoints.reports.models import PeriodKind, Standing
from civicpoints.reports.periods import Period, period_for, period_parse
from civicpoints.reports.rollups import ALL_TIME, period_start
from civicpoints.schemes.models import Region, RegionLevel, Scheme

BY_HOUSEHOLD = "household"
BY_MEMBER = "member"
MAX_LIMIT = 500


@dataclass(frozen=True)
class Ranked:
    rank: int
    household_id: int
    member_id: int
    points: int  # hundredths


@dataclass(frozen=True)
class Ranking:
    period: Period
    region: Region
    by: str
    closed: bool  # frozen: the period has ended and its totals were copied at closing
    total: int  # how many are ranked
    rows: list[Ranked]


def _standings(
    scheme_id: int, region: Region, period: Period, by: str, today: dt.date
) -> tuple[QuerySet[Any], bool]:
    closed = period_close(scheme_id=scheme_id, period=period, today=today)
    if closed is not None:
        rows: QuerySet[Any] = ClosedStanding.objects.filter(period=closed)
    else:
        rows = Standing.objects.filter(scheme_id=scheme_id, kind=period.kind, start=period.start)
    # The narrowest filter the region allows, each served by an index in rank order: a
    # village by its id, the scheme's whole area by nothing at all, a township by its path.
    if region.level == RegionLevel.VILLAGE:
        rows = rows.filter(village_id=region.pk)
    elif not Scheme.objects.filter(
        pk=scheme_id, operator_region__path__startswith=region.path
    ).exists():
        rows = rows.filter(village_path__startswith=region.path)
    rows = rows.filter(member_id=0) if by == BY_HOUSEHOLD else rows.exclude(member_id=0)
    return rows, closed is not None


def ranking(
    *,
    scheme_id: int,
    region: Region,
    period: Period,
    by: str = BY_HOUSEHOLD,
    limit: int = 100,
    offset: int = 0,
    today: dt.date | None = None,
) -> Ranking:
    """The households (or members) of ``region`` in rank order, ``limit`` from ``offset``."""
    if by not in (BY_HOUSEHOLD, BY_MEMBER):
        raise invalid(_("只能按户或按成员排名"), field="by")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise invalid(_("每页 1 到 %(max)s 条") % {"max": MAX_LIMIT}, field="limit")
    today = today or timezone.localdate()
    rows, closed = _standings(scheme_id, region, period, by, today)
    page = list(
        rows.order_by("-points", "household_id", "member_id").values_list(
            "household_id", "member_id", "points"
        )[offset : offset + limit]
    )
    ranked: list[Ranked] = []
    for i, (household, member, points) in enumerate(page):
        if ranked and ranked[-1].points == points:
            rank = ranked[-1].rank
        elif i == 0 and offset:
            rank = rows.filter(points__gt=points).count() + 1
        else:
            rank = offset + i + 1
        ranked.append(Ranked(rank, household, member, points))
    return Ranking(
        period, region, by, closed, _counted(scheme_id, region, period, by, rows), ranked
    )


def _counted(scheme_id: int, region: Region, period: Period, by: str, rows: QuerySet[Any]) -> int:
    """How many are ranked. Counting a county's 50,000 rows costs more than reading its top
    100, and the number can only change when the follower has chained something new: kept in
    the cache under the scheme's chain head (a closed period's never changes at all)."""
    head = chain_head(scheme_id=scheme_id)["seq"]
    key = f"ranking-count:{scheme_id}:{period.kind}:{period.start}:{region.pk}:{by}:{head}"
    total = cache.get(key)
    if total is None:
        total = rows.count()
        cache.set(key, total, timeout=3600)
    return int(total)


@dataclass(frozen=True)
class Named:
    """A ranked row with what a page or an answer shows of it."""

    rank: int
    household_id: int
    head_name: str
    village_name: str
    member_id: int
    member_name: str
    points: int  # hundredths


def ranking_named(rows: list[Ranked]) -> list[Named]:
    """``rows`` with the households' and members' names (two queries for a page)."""
    from civicpoints.households.models import Household, Member

    households = {
        h["pk"]: h
        for h in Household.objects.filter(pk__in={r.household_id for r in rows}).values(
            "pk", "head_name", "village__name"
        )
    }
    members = dict(
        Member.objects.filter(pk__in={r.member_id for r in rows if r.member_id}).values_list(
            "pk", "name"
        )
    )
    return [
        Named(
            r.rank,
            r.household_id,
            households[r.household_id]["head_name"],
            households[r.household_id]["village__name"],
            r.member_id,
            members.get(r.member_id, ""),
            r.points,
        )
        for r in rows
    ]


def rank_of(
    *,
    scheme_id: int,
    region: Region,
    period: Period,
    household_id: int,
    today: dt.date | None = None,
) -> tuple[int, int, int] | None:
    """A household's (rank, points, how many ranked) in ``region``; None: not ranked (it
    earned nothing in the period)."""
    today = today or timezone.localdate()
    rows, _closed = _standings(scheme_id, region, period, BY_HOUSEHOLD, today)
    mine = rows.filter(household_id=household_id).values_list("points", flat=True).first()
    if mine is None:
        return None
    return rows.filter(points__gt=mine).count() + 1, mine, rows.count()


def period_close(*, scheme_id: int, period: Period, today: dt.date) -> PeriodClose | None:
    """Close an ended period once: copy its totals as they stand. None while it runs."""
    if not period.ended(today):
        return None
    found = PeriodClose.objects.filter(
        scheme_id=scheme_id, kind=period.kind, start=period.start
    ).first()
    if found is not None:
        return found
    end = period.end
    assert end is not None
    tz = timezone.get_default_timezone()
    until = dt.datetime.combine(end, dt.time.min, tzinfo=tz)
    if Posting.objects.filter(
        scheme_id=scheme_id, chain_link__isnull=True, created_at__lt=until
    ).exists():
        # every posting of the period in the totals first, a late one too
        chain_follow(scheme_id=scheme_id, sweep=True)
    try:
        with transaction.atomic():
            follower_hold(scheme_id)
            closing = PeriodClose.objects.create(
                scheme_id=scheme_id, kind=period.kind, start=period.start
            )
            _copy(closing)
    except IntegrityError:
        # closed meanwhile by another request or the scheduler: theirs stands
        return PeriodClose.objects.get(scheme_id=scheme_id, kind=period.kind, start=period.start)
    return closing


def _copy(closing: PeriodClose) -> None:
    closed, standing = ClosedStanding._meta.db_table, Standing._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {closed} (scheme_id, period_id, household_id, member_id, "  # noqa: S608
            "village_id, village_path, points) "
            f"SELECT scheme_id, %s, household_id, member_id, village_id, village_path, points "
            f"FROM {standing} WHERE scheme_id = %s AND kind = %s AND start = %s",
            [closing.pk, closing.scheme_id, closing.kind, closing.start],
        )


def periods_close(today: dt.date | None = None) -> int:
    """The scheduler's job: close the month, quarter and year that ended before ``today``
    for every scheme; returns how many were closed now."""
    from civicpoints.schemes.models import Scheme

    today = today or timezone.localdate()
    made = 0
    for scheme_id in Scheme.objects.values_list("pk", flat=True):
        for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
            last = period_for(kind, period_start(kind, today) - dt.timedelta(days=1))
            if PeriodClose.objects.filter(
                scheme_id=scheme_id, kind=kind, start=last.start
            ).exists():
                continue
            if period_close(scheme_id=scheme_id, period=last, today=today) is not None:
                made += 1
    return made


__all__ = [
    "ALL_TIME",
    "BY_HOUSEHOLD",
    "BY_MEMBER",
    "Period",
    "Ranked",
    "Ranking",
    "period_close",
    "period_for",
    "period_parse",
    "periods_close",
    "rank_of",
    "ranking",
    "ranking_named",
]
