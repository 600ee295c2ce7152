"""Who the points reach (docs/reports.md, "Inclusion"): how evenly the points earned in a
period are spread over a region's households (the share of the top 10 % and the Gini
coefficient, households that earned nothing or less than nothing counting as 0), whether
households away for work or unable to work, and households whose head is 60 or older (the
year of birth kept from the ID number), earned anything, village by village, and the
villages where nothing has moved for 60 days.

Read from the rollups (``Standing`` for each household's points in the period, ``RegionDay``
for the last day anything moved in a village) and the households table.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Max
from django.utils import timezone

from civicpoints.households.models import Household, HouseholdStatus, Member, Relation
from civicpoints.ledger.chain import chain_head
from civicpoints.replica import replica_reads
from civicpoints.reports.models import RegionDay, RegionMonth, Standing
from civicpoints.reports.periods import Period
from civicpoints.schemes.models import Region, RegionLevel, Scheme

IDLE_DAYS = 60
ELDERLY_AGE = 60  # 老年人: 60 and over (the Law on the Elderly)
TOP_SHARE = Decimal("0.1")


def top_share(points: Sequence[int]) -> Decimal | None:
    """The share of all points held by the top 10 % of households (at least one household),
    None when nobody earned anything."""
    return _top_share(sorted(max(p, 0) for p in points))


def gini(points: Sequence[int]) -> Decimal | None:
    """The Gini coefficient of the points (0: all equal; near 1: one household has all),
    None when nobody earned anything."""
    return _gini(sorted(max(p, 0) for p in points))


def _top_share(values: Sequence[int]) -> Decimal | None:
    """``top_share`` of values already made non-negative and sorted (ascending)."""
    total = sum(values)
    if not values or total <= 0:
        return None
    top = max(1, int(len(values) * TOP_SHARE))
    return (Decimal(sum(values[-top:])) / Decimal(total)).quantize(Decimal("0.0001"))


def _gini(values: Sequence[int]) -> Decimal | None:
    """``gini`` of values already made non-negative and sorted (ascending)."""
    n, total = len(values), sum(values)
    if n == 0 or total <= 0:
        return None
    weighted = sum(i * v for i, v in enumerate(values, start=1))
    g = Decimal(2 * weighted) / Decimal(n * total) - Decimal(n + 1) / Decimal(n)
    return g.quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Reach:
    """One region's households and how the period's points reached them."""

    region: Region
    households: int  # not closed
    earned: int  # households with points earned > 0
    top_share: Decimal | None
    gini: Decimal | None
    away: int
    away_earned: int
    unable: int
    unable_earned: int
    elderly_headed: int = 0  # the head turns 60 or more this year (by the ID number's year)
    elderly_earned: int = 0
    last_moved: dt.date | None = None

    @property
    def elderly_share(self) -> Decimal | None:
        if not self.households:
            return None
        return (Decimal(self.elderly_headed) / Decimal(self.households)).quantize(Decimal("0.0001"))

    def idle(self, today: dt.date) -> bool:
        """Nothing moved in the village for 60 days (or ever)."""
        return self.last_moved is None or (today - self.last_moved).days >= IDLE_DAYS


@dataclass(frozen=True)
class Inclusion:
    whole: Reach
    villages: list[Reach]

    def idle_villages(self, today: dt.date) -> list[Reach]:
        return [v for v in self.villages if v.idle(today)]


def inclusion(
    *, scheme: Scheme, region: Region, period: Period, today: dt.date | None = None
) -> Inclusion:
    """Who the points reach, read from the replica when there is one (``civicpoints.replica``).

    Kept in the cache under what it depends on: the scheme's chain head (the follower's
    rollups), its newest household and member (households and members are only ever added,
    never edited or moved), the region, the period and the day. A dashboard viewed again
    before anything new is chained reads it back instead of weighing 50,000 households."""
    today = today or timezone.localdate()
    with replica_reads():
        households = Household.objects.filter(scheme=scheme).aggregate(m=Max("pk"))["m"]
        members = Member.objects.filter(scheme=scheme).aggregate(m=Max("pk"))["m"]
        head = chain_head(scheme_id=scheme.pk)["seq"]
        key = (
            f"inclusion:{scheme.pk}:{region.pk}:{period.kind}:{period.start}:{today}:"
            f"{head}:{households}:{members}"
        )
        found = cache.get(key)
        if found is None:
            found = _inclusion(scheme=scheme, region=region, period=period, today=today)
            cache.set(key, found, timeout=3600)
    return found


def _inclusion(
    *, scheme: Scheme, region: Region, period: Period, today: dt.date | None
) -> Inclusion:
    today = today or timezone.localdate()
    homes = list(
        Household.objects.filter(scheme=scheme, village__path__startswith=region.path)
        .exclude(status=HouseholdStatus.CLOSED)
        .values_list("pk", "village_id", "status")
    )
    earned = dict(
        Standing.objects.filter(
            scheme=scheme,
            kind=period.kind,
            start=period.start,
            member_id=0,
            village_path__startswith=region.path,
        ).values_list("household_id", "points")
    )
    moved = _last_moved(scheme, region, today)
    born_by = today.year - ELDERLY_AGE
    elderly = set(
        Member.objects.filter(
            household__scheme=scheme,
            household__village__path__startswith=region.path,
            relation=Relation.HEAD,
            birth_year__lte=born_by,
        ).values_list("household_id", flat=True)
    )
    by_village: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for pk, village_id, status in homes:
        by_village[village_id].append((pk, status))
    villages = {
        v.pk: v
        for v in Region.objects.filter(
            path__startswith=region.path, level=RegionLevel.VILLAGE
        ).select_related("parent")
    }
    rows = [
        _reach(villages[vid], by_village.get(vid, []), earned, elderly, moved.get(vid))
        for vid in sorted(villages, key=lambda pk: villages[pk].code)
    ]
    return Inclusion(
        whole=_reach(region, [(pk, status) for pk, _v, status in homes], earned, elderly, None),
        villages=rows,
    )


def _last_moved(scheme: Scheme, region: Region, today: dt.date) -> dict[int, dt.date]:
    """The last day anything moved in each village of the region. The villages that moved in
    the last 60 days from their day rows of those days; the others (few, the idle ones) from
    their last month row (``RegionMonth``), then that month's day rows: never every day row
    of two years."""
    since = today - dt.timedelta(days=IDLE_DAYS)
    moved = dict(
        RegionDay.objects.filter(
            scheme=scheme, village_path__startswith=region.path, day__gte=since
        )
        .values("village_id")
        .annotate(last=Max("day"))
        .values_list("village_id", "last")
    )
    last_month = dict(
        RegionMonth.objects.filter(
            scheme=scheme,
            region__path__startswith=region.path,
            region__level=RegionLevel.VILLAGE,
            month__lt=since,
        )
        .exclude(region_id__in=list(moved))
        .values("region_id")
        .annotate(last=Max("month"))
        .values_list("region_id", "last")
    )
    for village_id, month in last_month.items():
        last = RegionDay.objects.filter(
            scheme=scheme, village_id=village_id, day__gte=month, day__lt=since
        ).aggregate(last=Max("day"))["last"]
        if last is not None:
            moved[village_id] = last
    return moved


def _reach(
    region: Region,
    homes: list[tuple[int, str]],
    earned: dict[int, int],
    elderly: set[int],
    last_moved: dt.date | None,
) -> Reach:
    """One pass over the households (the county's is 50,000 of them), one sort."""
    values = []
    counts = dict.fromkeys(
        ("earned", "away", "away_earned", "unable", "unable_earned", "elderly", "elderly_earned"),
        0,
    )
    for pk, status in homes:
        points = earned.get(pk, 0)
        values.append(max(points, 0))
        gained = points > 0
        counts["earned"] += gained
        if status == HouseholdStatus.AWAY:
            counts["away"] += 1
            counts["away_earned"] += gained
        elif status == HouseholdStatus.UNABLE:
            counts["unable"] += 1
            counts["unable_earned"] += gained
        if pk in elderly:
            counts["elderly"] += 1
            counts["elderly_earned"] += gained
    values.sort()
    return Reach(
        region=region,
        households=len(homes),
        earned=counts["earned"],
        top_share=_top_share(values),
        gini=_gini(values),
        away=counts["away"],
        away_earned=counts["away_earned"],
        unable=counts["unable"],
        unable_earned=counts["unable_earned"],
        elderly_headed=counts["elderly"],
        elderly_earned=counts["elderly_earned"],
        last_moved=last_moved,
    )
