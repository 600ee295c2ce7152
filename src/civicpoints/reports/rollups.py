"""Keep ``HouseholdDay`` from the ledger: incrementally as the journal follower chains
postings (``rollups_follow``), or all at once from the ledger (``rollups_rebuild``, the
``civicpoints rollup --rebuild`` command). Both count the same postings the same way, so a
rebuild agrees exactly with what the follower kept (``tests/reports/test_rollups.py``).

What counts as earned: postings of kind award, deduction and adjustment, and reversals of
those (their household legs are negative). The day is the posting's date in Beijing time, so a
closed period never gains a posting made later. The category is the rule's of the claim the
posting names (``ref = ("claim", id)``), the member the entry's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from civicpoints.awards.models import Claim
from civicpoints.bulk import upsert_many
from civicpoints.households.models import Household
from civicpoints.ledger.chain import follower_hold
from civicpoints.ledger.models import Account, AccountKind, Entry, Posting, PostingKind
from civicpoints.reports.models import (
    Flow,
    HouseholdDay,
    Participation,
    ParticipationCount,
    PeriodKind,
    RegionDay,
    RegionMonth,
    Standing,
)
from civicpoints.schemes.models import Region

EARNED: frozenset[str] = frozenset(
    {PostingKind.AWARD.value, PostingKind.DEDUCTION.value, PostingKind.ADJUSTMENT.value}
)

# (day, household, category, member) -> [points, postings]
Totals = dict[tuple[Any, int, str, int], list[int]]
# (kind, start, household, member) -> points
Standings = dict[tuple[str, dt.date, int, int], int]

ALL_TIME = dt.date(2000, 1, 1)


def period_start(kind: str, day: dt.date) -> dt.date:
    """The first day of the month, quarter or year ``day`` is in (all time: 2000-01-01)."""
    if kind == PeriodKind.MONTH:
        return day.replace(day=1)
    if kind == PeriodKind.QUARTER:
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if kind == PeriodKind.YEAR:
        return day.replace(month=1, day=1)
    return ALL_TIME


def _standings(totals: Iterable[tuple[tuple[Any, int, str, int], int]]) -> Standings:
    """Day totals summed into each period's: the household's own (member 0) and each named
    member's."""
    out: Standings = defaultdict(int)
    for (day, household, _category, member), points in totals:
        for kind in PeriodKind.values:
            start = period_start(kind, day)
            out[(kind, start, household, 0)] += points
            if member:
                out[(kind, start, household, member)] += points
    return out


def rollups_follow(
    scheme_id: int, postings: list[Posting], entries: dict[int, list[Entry]]
) -> None:
    """The journal follower's pass over one batch (in its transaction): add the batch's
    earned postings to ``HouseholdDay`` and ``Standing``, and every posting that touched a
    household to ``RegionDay`` and ``Participation``."""
    reversed_kinds = dict(
        Posting.objects.filter(
            pk__in=[p.reverses_id for p in postings if p.kind == PostingKind.REVERSAL]
        ).values_list("pk", "kind")
    )
    legs = [e for p in postings for e in entries[p.pk]]
    households = dict(
        Account.objects.filter(
            pk__in={e.account_id for e in legs}, kind=AccountKind.HOUSEHOLD
        ).values_list("pk", "household_id")
    )
    if not households:
        return
    villages = dict(
        Household.objects.filter(pk__in=set(households.values())).values_list("pk", "village_id")
    )
    claim_ids = {int(p.ref_id) for p in postings if p.ref_type == "claim" and p.ref_id.isdigit()}
    categories = dict(Claim.objects.filter(pk__in=claim_ids).values_list("pk", "rule__category"))
    paths = dict(Region.objects.filter(pk__in=set(villages.values())).values_list("pk", "path"))
    seen = _Batch(reversed_kinds, households, villages, categories, paths)
    _follow_earned(scheme_id, postings, entries, seen)
    _follow_flows(scheme_id, postings, entries, seen)


class _Batch:
    """What one follower pass looked up once for all its postings."""

    def __init__(
        self,
        reversed_kinds: dict[int, str],
        households: dict[int, int],
        villages: dict[int, int],
        categories: dict[int, str],
        paths: dict[int, str],
    ) -> None:
        self.reversed_kinds = reversed_kinds
        self.households = households
        self.villages = villages
        self.categories = categories
        self.paths = paths

    def base_kind(self, posting: Posting) -> str | None:
        """The kind a posting counts as: its own, or for a reversal the reversed one's."""
        if posting.kind != PostingKind.REVERSAL:
            return str(posting.kind)
        return self.reversed_kinds.get(posting.reverses_id) if posting.reverses_id else None

    def category(self, posting: Posting) -> str:
        if posting.ref_type == "claim" and posting.ref_id.isdigit():
            return self.categories.get(int(posting.ref_id), "")
        return ""


def _day(posting: Posting) -> dt.date:
    return posting.created_at.astimezone(timezone.get_default_timezone()).date()


def _follow_earned(
    scheme_id: int, postings: list[Posting], entries: dict[int, list[Entry]], seen: _Batch
) -> None:
    earned = [p for p in postings if seen.base_kind(p) in EARNED]
    if not earned:
        return
    totals: Totals = defaultdict(lambda: [0, 0])
    for posting in earned:
        day, category = _day(posting), seen.category(posting)
        step = -1 if posting.kind == PostingKind.REVERSAL else 1
        for entry in entries[posting.pk]:
            household = seen.households.get(entry.account_id)
            if household is None:
                continue  # the issuance (or adjustment) side
            row = totals[(day, household, category, entry.member_id or 0)]
            row[0] += entry.amount
            row[1] += step
    _add(scheme_id, totals, seen.villages)
    _add_standings(
        scheme_id, _standings((key, value[0]) for key, value in totals.items()), seen.villages
    )


# The flow each kind of posting is, and the sign that makes a household leg's amount that
# flow's own way (an award's leg is +, a redemption's -: both count positive).
FLOW_OF: dict[str, str] = {
    PostingKind.AWARD: Flow.AWARDED,
    PostingKind.DEDUCTION: Flow.DEDUCTED,
    PostingKind.ADJUSTMENT: Flow.ADJUSTED,
    PostingKind.REDEMPTION: Flow.REDEEMED,
    PostingKind.CAPTURE: Flow.REDEEMED,
    PostingKind.PAYMENT: Flow.PAID,
    PostingKind.REFUND: Flow.REFUNDED,
    PostingKind.EXPIRY: Flow.EXPIRED,
}
SIGN: dict[str, int] = {
    PostingKind.AWARD: 1,
    PostingKind.DEDUCTION: -1,
    PostingKind.ADJUSTMENT: 1,
    PostingKind.REDEMPTION: -1,
    PostingKind.CAPTURE: -1,
    PostingKind.PAYMENT: -1,
    PostingKind.REFUND: 1,
    PostingKind.EXPIRY: -1,
}
# (day, village, category, flow) -> [amount, postings]
FlowTotals = dict[tuple[dt.date, int, str, str], list[int]]


def _follow_flows(
    scheme_id: int, postings: list[Posting], entries: dict[int, list[Entry]], seen: _Batch
) -> None:
    totals: FlowTotals = defaultdict(lambda: [0, 0])
    active: set[tuple[dt.date, int]] = set()
    for posting in postings:
        base = seen.base_kind(posting)
        day, category = _day(posting), seen.category(posting)
        cells = set()
        for entry in entries[posting.pk]:
            household = seen.households.get(entry.account_id)
            if household is None:
                continue
            active.add((day, household))
            if base not in FLOW_OF:
                continue
            cell = (day, seen.villages[household], category, FLOW_OF[base])
            totals[cell][0] += SIGN[base] * entry.amount
            cells.add(cell)
        for cell in cells:  # a posting counts once in each cell it touched
            totals[cell][1] += -1 if posting.kind == PostingKind.REVERSAL else 1
    _add_flows(scheme_id, totals, seen.paths)
    _add_participation(scheme_id, _periods(active), seen.villages, seen.paths)


def _periods(active: Iterable[tuple[dt.date, int]]) -> set[tuple[str, dt.date, int]]:
    return {
        (kind, period_start(kind, day), household)
        for day, household in active
        for kind in PeriodKind.values
    }


def _add_flows(scheme_id: int, totals: FlowTotals, paths: dict[int, str]) -> None:
    if not totals:
        return
    upsert_many(
        RegionDay,
        [
            "scheme_id",
            "day",
            "village_id",
            "village_path",
            "category",
            "flow",
            "amount",
            "postings",
        ],
        [
            (scheme_id, day, village, paths[village], category, flow, amount, count)
            for (day, village, category, flow), (amount, count) in sorted(totals.items())
        ],
        ["scheme_id", "day", "village_id", "category", "flow"],
        adding=["amount", "postings"],
    )
    _add_months(scheme_id, _by_month(totals.items(), paths))


# (month, region, parent, category, flow) -> [amount, postings]
MonthTotals = dict[tuple[dt.date, int, int | None, str, str], list[int]]


def _by_month(
    rows: Iterable[tuple[tuple[dt.date, int, str, str], list[int]]], paths: dict[int, str]
) -> MonthTotals:
    """Day rows of villages as month rows of every region each village belongs to."""
    rows = list(rows)
    above = _regions_above({paths[village] for (_d, village, _c, _f), _v in rows})
    months: MonthTotals = defaultdict(lambda: [0, 0])
    for (day, village, category, flow), (amount, count) in rows:
        for region, parent in above[paths[village]]:
            cell = months[(day.replace(day=1), region, parent, category, flow)]
            cell[0] += amount
            cell[1] += count
    return months


def _regions_above(paths: set[str]) -> dict[str, list[tuple[int, int | None]]]:
    """For each village's path, the (id, parent id) of every region on it, the village too."""
    codes = {code for path in paths for code in path.split("/") if code}
    found = {
        code: (pk, parent)
        for code, pk, parent in Region.objects.filter(code__in=codes).values_list(
            "code", "pk", "parent_id"
        )
    }
    return {path: [found[code] for code in path.split("/") if code] for path in paths}


def _add_months(scheme_id: int, months: MonthTotals) -> None:
    rows = sorted(months.items(), key=lambda row: (row[0][0], row[0][1], row[0][3], row[0][4]))
    upsert_many(
        RegionMonth,
        ["scheme_id", "month", "region_id", "parent_id", "category", "flow", "amount", "postings"],
        [
            (scheme_id, month, region, parent, category, flow, amount, count)
            for (month, region, parent, category, flow), (amount, count) in rows
        ],
        ["scheme_id", "region_id", "month", "category", "flow"],
        adding=["amount", "postings"],
    )


def months_rebuild(*, scheme_id: int) -> int:
    """Make a scheme's ``RegionMonth`` again from its ``RegionDay``; returns the rows."""
    RegionMonth.objects.filter(scheme_id=scheme_id).delete()
    months = _months_from_days(scheme_id)
    RegionMonth.objects.bulk_create(
        [
            RegionMonth(
                scheme_id=scheme_id,
                month=month,
                region_id=region,
                parent_id=parent,
                category=category,
                flow=flow,
                amount=amount,
                postings=count,
            )
            for (month, region, parent, category, flow), (amount, count) in sorted(
                months.items(), key=lambda row: (row[0][0], row[0][1], row[0][3], row[0][4])
            )
        ],
        batch_size=2000,
    )
    return len(months)


def _months_from_days(scheme_id: int) -> MonthTotals:
    by_village = (
        RegionDay.objects.filter(scheme_id=scheme_id)
        .annotate(m=TruncMonth("day"))
        .values("m", "village_id", "village_path", "category", "flow")
        .annotate(a=Sum("amount"), n=Sum("postings"))
        .values_list("m", "village_id", "village_path", "category", "flow", "a", "n")
    )
    rows, paths = [], {}
    for month, village, path, category, flow, amount, count in by_village:
        paths[village] = path
        rows.append(((month, village, category, flow), [int(amount), int(count)]))
    return _by_month(rows, paths)


def _add_participation(
    scheme_id: int,
    periods: set[tuple[str, dt.date, int]],
    villages: dict[int, int],
    paths: dict[int, str],
) -> None:
    if not periods:
        return
    made = upsert_many(
        Participation,
        ["scheme_id", "kind", "start", "household_id", "village_id", "village_path"],
        [
            (scheme_id, kind, start, household, villages[household], paths[villages[household]])
            for kind, start, household in sorted(periods)
        ],
        ["scheme_id", "kind", "start", "household_id"],
        returning="kind, start, household_id",
    )
    _add_counts(scheme_id, _counted(made, villages), paths)


def _counted(
    rows: Iterable[tuple[str, Any, int]], villages: dict[int, int]
) -> dict[tuple[str, dt.date, int, str], int]:
    """New participation rows as counts per (kind, start, village, status)."""
    rows = list(rows)
    status = dict(
        Household.objects.filter(pk__in={h for _k, _s, h in rows}).values_list("pk", "status")
    )
    counts: dict[tuple[str, dt.date, int, str], int] = defaultdict(int)
    for kind, start, household in rows:
        counts[(kind, _as_date(start), villages[household], status[household])] += 1
    return counts


def _add_counts(
    scheme_id: int, counts: dict[tuple[str, dt.date, int, str], int], paths: dict[int, str]
) -> None:
    upsert_many(
        ParticipationCount,
        ["scheme_id", "kind", "start", "village_id", "village_path", "status", "households"],
        [
            (scheme_id, kind, start, village, paths[village], status, n)
            for (kind, start, village, status), n in sorted(counts.items())
        ],
        ["scheme_id", "kind", "start", "village_id", "status"],
        adding=["households"],
    )


def counts_rebuild(*, scheme_id: int) -> int:
    """Make a scheme's ``ParticipationCount`` again from its ``Participation``."""
    ParticipationCount.objects.filter(scheme_id=scheme_id).delete()
    counts = _counts_from_participation(scheme_id)
    paths = dict(
        Region.objects.filter(pk__in={v for _k, _s, v, _st in counts}).values_list("pk", "path")
    )
    ParticipationCount.objects.bulk_create(
        [
            ParticipationCount(
                scheme_id=scheme_id,
                kind=kind,
                start=start,
                village_id=village,
                village_path=paths[village],
                status=status,
                households=n,
            )
            for (kind, start, village, status), n in sorted(counts.items())
        ],
        batch_size=2000,
    )
    return len(counts)


def _counts_from_participation(scheme_id: int) -> dict[tuple[str, dt.date, int, str], int]:
    return {
        (kind, _as_date(start), village, status): n
        for kind, start, village, status, n in Participation.objects.filter(scheme_id=scheme_id)
        .values("kind", "start", "village_id", "household__status")
        .annotate(n=Count("pk"))
        .values_list("kind", "start", "village_id", "household__status", "n")
    }


def _add_standings(scheme_id: int, standings: Standings, villages: dict[int, int]) -> None:
    rows = sorted((k, v) for k, v in standings.items() if v)
    if not rows:
        return
    paths = dict(Region.objects.filter(pk__in=set(villages.values())).values_list("pk", "path"))
    upsert_many(
        Standing,
        [
            "scheme_id",
            "kind",
            "start",
            "household_id",
            "member_id",
            "village_id",
            "village_path",
            "points",
        ],
        [
            (
                scheme_id,
                kind,
                start,
                household,
                member,
                villages[household],
                paths[villages[household]],
                points,
            )
            for (kind, start, household, member), points in rows
        ],
        ["scheme_id", "kind", "start", "household_id", "member_id"],
        adding=["points"],
        replacing=["village_id", "village_path"],
    )


def _add(scheme_id: int, totals: Totals, villages: dict[int, int]) -> None:
    """Add ``totals`` to the rows (an upsert that adds: rows are per household, so two
    followers of different schemes never meet on one)."""
    if not totals:
        return
    upsert_many(
        HouseholdDay,
        [
            "scheme_id",
            "day",
            "household_id",
            "member_id",
            "category",
            "village_id",
            "points",
            "postings",
        ],
        [
            (scheme_id, day, household, member, category, villages[household], points, count)
            for (day, household, category, member), (points, count) in sorted(totals.items())
        ],
        ["scheme_id", "day", "household_id", "category", "member_id"],
        adding=["points", "postings"],
        replacing=["village_id"],
    )


def _category_of_claim() -> Case:
    """The rule category of the claim an entry's posting names ("" for none)."""
    claim_category = Claim.objects.filter(
        pk=Cast(OuterRef("posting__ref_id"), BigIntegerField())
    ).values("rule__category")[:1]
    return Case(
        When(
            posting__ref_type="claim",
            posting__ref_id__regex=r"^[0-9]+$",
            then=Coalesce(Subquery(claim_category), Value("")),
        ),
        default=Value(""),
    )


def _household_legs(scheme_id: int) -> Any:
    """Every chained posting's household legs (what the follower has seen)."""
    return Entry.objects.filter(
        scheme_id=scheme_id, account__kind=AccountKind.HOUSEHOLD, posting__chain_link__isnull=False
    )


def _flows_from_ledger(scheme_id: int) -> FlowTotals:
    """``RegionDay`` as the ledger has it, grouped as the follower groups it."""
    rows = (
        _household_legs(scheme_id)
        .annotate(
            day=TruncDate("posting__created_at", tzinfo=timezone.get_default_timezone()),
            village=F("account__household__village_id"),
            category=_category_of_claim(),
            base=Case(
                When(posting__kind=PostingKind.REVERSAL, then=F("posting__reverses__kind")),
                default=F("posting__kind"),
            ),
            reversal=Case(
                When(posting__kind=PostingKind.REVERSAL, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
        )
        .values("day", "village", "category", "base", "reversal")
        .annotate(amount=Sum("amount"), count=Count("posting", distinct=True))
        .order_by()
    )
    totals: FlowTotals = defaultdict(lambda: [0, 0])
    for r in rows:
        if r["base"] not in FLOW_OF:
            continue
        cell = (r["day"], r["village"], r["category"], FLOW_OF[r["base"]])
        totals[cell][0] += SIGN[r["base"]] * r["amount"]
        totals[cell][1] += -r["count"] if r["reversal"] else r["count"]
    return totals


def _participation_from_ledger(scheme_id: int) -> set[tuple[str, dt.date, int]]:
    """``Participation`` as the ledger has it (a month's first day stands for its days)."""
    months = (
        _household_legs(scheme_id)
        .annotate(
            month=TruncMonth("posting__created_at", tzinfo=timezone.get_default_timezone()),
            household=F("account__household_id"),
        )
        .values_list("month", "household")
        .distinct()
        .order_by()
    )
    return _periods((_as_date(month), household) for month, household in months)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, str):  # SQLite's RETURNING gives the text it keeps
        return dt.date.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def flows_rebuild(*, scheme_id: int) -> int:
    """Recompute a scheme's ``RegionDay`` and ``Participation`` from the ledger (inside the
    caller's transaction, which holds off the follower); returns the rows written."""
    RegionDay.objects.filter(scheme_id=scheme_id).delete()
    Participation.objects.filter(scheme_id=scheme_id).delete()
    totals = _flows_from_ledger(scheme_id)
    periods = _participation_from_ledger(scheme_id)
    villages = dict(
        Household.objects.filter(pk__in={h for _k, _s, h in periods}).values_list(
            "pk", "village_id"
        )
    )
    wanted = {v for _d, v, _c, _f in totals} | set(villages.values())
    paths = dict(Region.objects.filter(pk__in=wanted).values_list("pk", "path"))
    RegionDay.objects.bulk_create(
        [
            RegionDay(
                scheme_id=scheme_id,
                day=day,
                village_id=village,
                village_path=paths[village],
                category=category,
                flow=flow,
                amount=amount,
                postings=count,
            )
            for (day, village, category, flow), (amount, count) in sorted(totals.items())
        ],
        batch_size=2000,
    )
    Participation.objects.bulk_create(
        [
            Participation(
                scheme_id=scheme_id,
                kind=kind,
                start=start,
                household_id=household,
                village_id=villages[household],
                village_path=paths[villages[household]],
            )
            for kind, start, household in sorted(periods)
        ],
        batch_size=2000,
    )
    return len(totals) + len(periods)


def _from_ledger(scheme_id: int) -> Iterable[dict[str, Any]]:
    """The rollups as the ledger has them: every chained earned posting's household legs,
    grouped as the follower groups them."""
    return (
        Entry.objects.filter(
            Q(posting__kind__in=EARNED)
            | Q(posting__kind=PostingKind.REVERSAL, posting__reverses__kind__in=EARNED),
            scheme_id=scheme_id,
            account__kind=AccountKind.HOUSEHOLD,
            posting__chain_link__isnull=False,
        )
        .annotate(
            day=TruncDate("posting__created_at", tzinfo=timezone.get_default_timezone()),
            household=F("account__household_id"),
            village=F("account__household__village_id"),
            named=Coalesce("member_id", Value(0)),
            category=_category_of_claim(),
            step=Case(
                When(posting__kind=PostingKind.REVERSAL, then=Value(-1)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .values("day", "household", "village", "category", "named")
        .annotate(points=Sum("amount"), postings=Sum("step"))
        .order_by()
    )


def rollups_rebuild(*, scheme_id: int, flows: bool = True) -> int:
    """Recompute a scheme's rollups from the ledger (what is chained so far), in one
    transaction that also holds off the follower; returns the rows written."""
    with transaction.atomic():
        follower_hold(scheme_id)
        HouseholdDay.objects.filter(scheme_id=scheme_id).delete()
        Standing.objects.filter(scheme_id=scheme_id).delete()
        rows = [
            HouseholdDay(
                scheme_id=scheme_id,
                day=r["day"],
                household_id=r["household"],
                village_id=r["village"],
                category=r["category"],
                member_id=r["named"],
                points=r["points"],
                postings=r["postings"],
            )
            for r in _from_ledger(scheme_id)
        ]
        HouseholdDay.objects.bulk_create(rows, batch_size=2000)
        villages = {r.household_id: r.village_id for r in rows}
        paths = dict(Region.objects.filter(pk__in=set(villages.values())).values_list("pk", "path"))
        standings = _standings(
            ((r.day, r.household_id, r.category, r.member_id), r.points) for r in rows
        )
        Standing.objects.bulk_create(
            [
                Standing(
                    scheme_id=scheme_id,
                    kind=kind,
                    start=start,
                    household_id=household,
                    member_id=member,
                    village_id=villages[household],
                    village_path=paths[villages[household]],
                    points=points,
                )
                for (kind, start, household, member), points in sorted(standings.items())
                if points
            ],
            batch_size=2000,
        )
        if flows:  # migration reports 0003 runs before the flows' tables exist
            flows_rebuild(scheme_id=scheme_id)
            months_rebuild(scheme_id=scheme_id)
            counts_rebuild(scheme_id=scheme_id)
    return len(rows)


def rollups_differences(*, scheme_id: int) -> list[tuple[Any, ...]]:
    """Rows where the kept rollups and the ledger disagree (empty when they agree): a
    rollup row with nothing behind it counts as a difference too, unless it is all zero."""
    kept = {
        (r.day, r.household_id, r.category, r.member_id): (r.points, r.postings, r.village_id)
        for r in HouseholdDay.objects.filter(scheme_id=scheme_id)
    }
    ledger = {
        (r["day"], r["household"], r["category"], r["named"]): (
            r["points"],
            r["postings"],
            r["village"],
        )
        for r in _from_ledger(scheme_id)
    }
    found: list[tuple[Any, ...]] = sorted(
        (key, kept.get(key), ledger.get(key))
        for key in kept.keys() | ledger.keys()
        if kept.get(key, (0, 0, None))[:2] != ledger.get(key, (0, 0, None))[:2]
    )
    # the periods' totals against the ledger's days
    expected = _standings((key, value[0]) for key, value in ledger.items())
    standings = {
        (r.kind, r.start, r.household_id, r.member_id): r.points
        for r in Standing.objects.filter(scheme_id=scheme_id)
    }
    found += sorted(
        (key, standings.get(key), expected.get(key))
        for key in standings.keys() | expected.keys()
        if standings.get(key, 0) != expected.get(key, 0)
    )
    # the flows and who took part
    flows = {
        (r.day, r.village_id, r.category, r.flow): [r.amount, r.postings]
        for r in RegionDay.objects.filter(scheme_id=scheme_id)
    }
    flows_expected = _flows_from_ledger(scheme_id)
    found += sorted(
        (key, flows.get(key), flows_expected.get(key))
        for key in flows.keys() | flows_expected.keys()
        if flows.get(key, [0, 0]) != flows_expected.get(key, [0, 0])
    )
    # the months of every region, against the days
    months = {
        (r.month, r.region_id, r.parent_id, r.category, r.flow): [r.amount, r.postings]
        for r in RegionMonth.objects.filter(scheme_id=scheme_id)
    }
    months_expected = _months_from_days(scheme_id)
    found += sorted(
        (("month", *key), months.get(key), months_expected.get(key))
        for key in months.keys() | months_expected.keys()
        if months.get(key, [0, 0]) != months_expected.get(key, [0, 0])
    )
    took_part = set(
        Participation.objects.filter(scheme_id=scheme_id).values_list("kind", "start", "household")
    )
    found += sorted(
        ("participation", key) for key in took_part ^ _participation_from_ledger(scheme_id)
    )
    counts = {
        (r.kind, r.start, r.village_id, r.status): r.households
        for r in ParticipationCount.objects.filter(scheme_id=scheme_id)
    }
    counts_expected = _counts_from_participation(scheme_id)
    found += sorted(
        (("count", *key), counts.get(key), counts_expected.get(key))
        for key in counts.keys() | counts_expected.keys()
        if counts.get(key, 0) != counts_expected.get(key, 0)
    )
    return found
