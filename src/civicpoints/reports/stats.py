"""The county's figures for a region and a period, read from the rollups (``RegionDay``,
``Participation``) and a few small tables, never by scanning entries: what the dashboard,
the staff home and ``GET /api/v1/stats`` show (docs/reports.md).

Every figure here can be computed straight from the ledger as well; ``tests/reports`` does
so on a small county and compares them all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from civicpoints.awards.models import Fund
from civicpoints.errors import PermissionDenied
from civicpoints.honours.rankings import Period
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.ledger.amounts import to_points
from civicpoints.ledger.models import Account, AccountKind
from civicpoints.merchants.models import Statement, StatementStatus
from civicpoints.merchants.settlement.statements import OVERDUE_AFTER
from civicpoints.replica import AsOf, as_of, replica_reads
from civicpoints.reports.models import Flow, ParticipationCount, RegionMonth
from civicpoints.schemes.models import Region, RegionLevel, Role, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor
from civicpoints.schemes.selectors import region_for, scheme_for_region
from civicpoints.stores.models import Product

TREND_MONTHS = 12
# Who reads the county's figures: its admins (each for their region) and auditors.
STATS_READERS = frozenset({*ADMIN_ROLES, Role.AUDITOR})


def stats_region(actor: Actor, region_id: int | str | None = None) -> tuple[Region, Scheme]:
    """The region whose figures ``actor`` asks for (none: the widest they read figures of)
    and its scheme, when they govern or audit it (else PermissionDenied, or NotFound for a
    region they cannot see). The dashboard, the monthly report and the stats API ask here."""
    grants = actor.grants_for(STATS_READERS)
    if not grants:
        raise PermissionDenied("stats.read")
    if not region_id:
        region_id = min(grants, key=lambda g: len(g.region_path)).region_id
    region = region_for(actor, region_id)
    scheme = scheme_for_region(actor, region, prefer=STATS_READERS)
    if not actor.covers(roles=STATS_READERS, scheme_id=scheme.pk, region_path=region.path):
        raise PermissionDenied("stats.read")
    return region, scheme


@dataclass(frozen=True)
class Households:
    """Households of the region by status, and how many of each took part in the period."""

    active: int
    away: int
    unable: int
    active_taking_part: int
    away_taking_part: int
    unable_taking_part: int

    @property
    def rate(self) -> Decimal | None:
        """Participation rate: active households with any posting in the period."""
        if not self.active:
            return None
        return (Decimal(self.active_taking_part) / Decimal(self.active)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Child:
    """One township or village below the region, for the ranking bars and the drill-down."""

    region: Region
    awarded: int
    redeemed: int
    taking_part: int


@dataclass(frozen=True)
class Spending:
    """Where the points go: merchants' statements waiting for the county's payment (overdue:
    unpaid 24 hours after they were made, the scheme's), and the stores of the region with
    goods at or below their low-stock mark."""

    statements_unpaid: int
    statements_overdue: int
    statements_unpaid_fen: int
    low_stock: int


@dataclass
class Stats:
    scheme: Scheme
    region: Region
    period: Period
    flows: dict[str, int]
    households: Households
    outstanding: int  # hundredths held by the region's households now
    liability_fen: int
    funds_fen: int  # the scheme's (funds are not kept per region)
    trend: list[tuple[dt.date, dict[str, int]]]
    categories: list[tuple[str, int]]
    children: list[Child] = field(default_factory=list)
    spending: Spending | None = None
    as_of: AsOf | None = None  # how current: a replica's figures may be a moment old

    @property
    def coverage(self) -> Decimal | None:
        """Funds over the liability of the whole scheme (None: nothing outstanding)."""
        if self.region.pk != self.scheme.operator_region_id or not self.liability_fen:
            return None
        return (Decimal(self.funds_fen) / Decimal(self.liability_fen)).quantize(Decimal("0.01"))


def _days(period: Period, today: dt.date) -> tuple[dt.date, dt.date]:
    end = period.end
    if end is None:  # all time
        return dt.date(2000, 1, 1), today
    return period.start, end - dt.timedelta(days=1)


def stats(*, scheme: Scheme, region: Region, period: Period, today: dt.date | None = None) -> Stats:
    """The figures, read from the replica when there is one (``civicpoints.replica``), with
    the time they are as of (measured first: the replica only moves forward meanwhile)."""
    with replica_reads():
        when = as_of()
        figures = _stats(scheme=scheme, region=region, period=period, today=today)
    figures.as_of = when
    return figures


def _stats(*, scheme: Scheme, region: Region, period: Period, today: dt.date | None) -> Stats:
    today = today or timezone.localdate()
    first, last = _days(period, today)
    # Every period shown is whole months: the region's own month rows (RegionMonth).
    in_region = RegionMonth.objects.filter(
        scheme=scheme, region=region, month__gte=first.replace(day=1), month__lte=last
    )
    flows = {f: 0 for f in Flow.values}
    flows.update(dict(in_region.values("flow").annotate(t=Sum("amount")).values_list("flow", "t")))
    categories = sorted(
        (
            (c or "", t)
            for c, t in in_region.filter(flow=Flow.AWARDED)
            .values("category")
            .annotate(t=Sum("amount"))
            .values_list("category", "t")
            if t
        ),
        key=lambda row: (-row[1], row[0]),
    )
    accounts = Account.objects.filter(scheme=scheme, kind=AccountKind.HOUSEHOLD)
    if region.pk != scheme.operator_region_id:  # the whole scheme needs no join
        accounts = accounts.filter(household__village__path__startswith=region.path)
    outstanding = accounts.aggregate(t=Sum("balance"))["t"] or 0
    funds = Fund.objects.filter(scheme=scheme).aggregate(t=Sum("amount_fen"))["t"] or 0
    return Stats(
        scheme=scheme,
        region=region,
        period=period,
        flows=flows,
        households=_households(scheme, region, period),
        outstanding=outstanding,
        liability_fen=int((Decimal(outstanding) * scheme.yuan_per_point).to_integral_value()),
        funds_fen=funds,
        trend=_trend(scheme, region, last),
        categories=categories,
        children=_children(scheme, region, period, first, last),
        spending=_spending(scheme, region),
    )


def _spending(scheme: Scheme, region: Region) -> Spending:
    unpaid = Statement.objects.filter(scheme=scheme, status=StatementStatus.UNPAID)
    overdue = unpaid.filter(created_at__lt=timezone.now() - OVERDUE_AFTER).count()
    return Spending(
        statements_unpaid=unpaid.count(),
        statements_overdue=overdue,
        statements_unpaid_fen=unpaid.aggregate(t=Sum("amount_fen"))["t"] or 0,
        low_stock=Product.objects.filter(
            store__scheme=scheme,
            store__region__path__startswith=region.path,
            active=True,
            stock__lte=F("low_stock_at"),
        ).count(),
    )


def _households(scheme: Scheme, region: Region, period: Period) -> Households:
    """Households by status, and how many of each took part (``ParticipationCount``).

    Households are only ever added (never edited, moved or removed): their counts by status
    are kept in the cache under the scheme's newest household, and counted again (a scan of
    the region's households) only after one is added."""
    newest = Household.objects.filter(scheme=scheme).aggregate(m=Max("pk"))["m"]
    key = f"households-by-status:{scheme.pk}:{region.pk}:{newest}"
    by_status = cache.get(key)
    if by_status is None:
        homes = Household.objects.filter(scheme=scheme, village__path__startswith=region.path)
        if region.pk == scheme.operator_region_id:
            homes = Household.objects.filter(scheme=scheme)  # the whole scheme: no join
        by_status = dict(homes.values("status").annotate(n=Count("pk")).values_list("status", "n"))
        cache.set(key, by_status, timeout=3600)
    taking_part = dict(
        ParticipationCount.objects.filter(
            scheme=scheme,
            kind=period.kind,
            start=period.start,
            village_path__startswith=region.path,
        )
        .values("status")
        .annotate(n=Sum("households"))
        .values_list("status", "n")
    )
    return Households(
        active=by_status.get(HouseholdStatus.ACTIVE, 0),
        away=by_status.get(HouseholdStatus.AWAY, 0),
        unable=by_status.get(HouseholdStatus.UNABLE, 0),
        active_taking_part=taking_part.get(HouseholdStatus.ACTIVE, 0),
        away_taking_part=taking_part.get(HouseholdStatus.AWAY, 0),
        unable_taking_part=taking_part.get(HouseholdStatus.UNABLE, 0),
    )


def _trend(scheme: Scheme, region: Region, last: dt.date) -> list[tuple[dt.date, dict[str, int]]]:
    """The 12 months up to ``last``: each month's flows."""
    index = last.year * 12 + last.month - 1 - (TREND_MONTHS - 1)
    first = dt.date(index // 12, index % 12 + 1, 1)
    months = [dt.date((index + i) // 12, (index + i) % 12 + 1, 1) for i in range(TREND_MONTHS)]
    found: dict[dt.date, dict[str, int]] = defaultdict(lambda: {f: 0 for f in Flow.values})
    for month, flow, total in (
        RegionMonth.objects.filter(scheme=scheme, region=region, month__gte=first, month__lte=last)
        .values("month", "flow")
        .annotate(t=Sum("amount"))
        .values_list("month", "flow", "t")
    ):
        found[month][flow] = total
    return [(m, found[m]) for m in months]


def _children(
    scheme: Scheme, region: Region, period: Period, first: dt.date, last: dt.date
) -> list[Child]:
    """The townships of a county, the villages of a township (none below a village)."""
    below: dict[int, int] = {
        RegionLevel.COUNTY: RegionLevel.TOWNSHIP,
        RegionLevel.TOWNSHIP: RegionLevel.VILLAGE,
    }
    level = below.get(int(region.level))
    if level is None:
        return []
    kids = list(Region.objects.filter(path__startswith=region.path, level=level).order_by("code"))
    owner = {}  # village id -> the child it lies under
    villages = Region.objects.filter(path__startswith=region.path, level=RegionLevel.VILLAGE)
    for village_id, path in villages.values_list("pk", "path"):
        for kid in kids:
            if path.startswith(kid.path):
                owner[village_id] = kid.pk
    moved: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for child_id, flow, total in (
        RegionMonth.objects.filter(
            scheme=scheme,
            parent=region,
            month__gte=first.replace(day=1),
            month__lte=last,
            flow__in=[Flow.AWARDED, Flow.REDEEMED],
        )
        .values("region_id", "flow")
        .annotate(t=Sum("amount"))
        .values_list("region_id", "flow", "t")
    ):
        moved[child_id][flow] += total
    part: dict[int, int] = defaultdict(int)
    for village_id, n in (
        ParticipationCount.objects.filter(
            scheme=scheme,
            kind=period.kind,
            start=period.start,
            village_path__startswith=region.path,
        )
        .values("village_id")
        .annotate(n=Sum("households"))
        .values_list("village_id", "n")
    ):
        if village_id in owner:
            part[owner[village_id]] += n
    return [
        Child(
            kid,
            moved[kid.pk][Flow.AWARDED],
            moved[kid.pk][Flow.REDEEMED],
            part[kid.pk],
        )
        for kid in kids
    ]


def _flows(flows: dict[str, int]) -> dict[str, float]:
    return {flow: _number(amount) for flow, amount in flows.items()}


def stats_dict(s: Stats) -> dict[str, Any]:
    """The figures as plain data (points and yuan as numbers with two decimals): the API's
    answer and the dashboard's chart data."""
    h = s.households
    sp = s.spending
    assert sp is not None
    return {
        "region": s.region.pk,
        "region_name": s.region.name,
        "period": s.period.kind,
        "start": s.period.start.isoformat(),
        "label": s.period.label,
        "flows": _flows(s.flows),
        "outstanding": _number(s.outstanding),
        "liability_yuan": _number(s.liability_fen),
        "funds_yuan": _number(s.funds_fen),
        "coverage": float(s.coverage) if s.coverage is not None else None,
        "households": {
            "active": h.active,
            "away": h.away,
            "unable": h.unable,
            "active_taking_part": h.active_taking_part,
            "away_taking_part": h.away_taking_part,
            "unable_taking_part": h.unable_taking_part,
            "participation_rate": float(h.rate) if h.rate is not None else None,
        },
        "trend": [{"month": m.strftime("%Y-%m"), **_flows(f)} for m, f in s.trend],
        "categories": [{"category": c, "awarded": _number(t)} for c, t in s.categories],
        "children": [
            {
                "region": c.region.pk,
                "region_name": c.region.name,
                "awarded": _number(c.awarded),
                "redeemed": _number(c.redeemed),
                "taking_part": c.taking_part,
            }
            for c in s.children
        ],
        "as_of": s.as_of.at.isoformat() if s.as_of else None,
        "replica": bool(s.as_of and s.as_of.replica),
        "lag_seconds": round(s.as_of.lag_seconds, 1) if s.as_of else 0.0,
        "spending": {
            "statements_unpaid": sp.statements_unpaid,
            "statements_overdue": sp.statements_overdue,
            "statements_unpaid_yuan": _number(sp.statements_unpaid_fen),
            "low_stock": sp.low_stock,
        },
    }


def _number(hundredths: int) -> float:
    return float(to_points(hundredths))
