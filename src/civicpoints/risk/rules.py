"""The risk rules: each one a few aggregate queries over other apps' tables, returning findings.

A rule reads only rows changed since ``since`` (the last scan's watermark minus a look-back
window), widened to whole periods (a week, a month) so an aggregate is always computed over
its full period; ``since=None`` reads all history. Rules never write: ``scan.py`` turns their
findings into flags. Amounts are hundredths of a point, as in the ledger.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import ExtractIsoYear, ExtractWeek, Mod, TruncMonth
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import LIVE_STATUSES, Claim
from civicpoints.calendar import day_start
from civicpoints.merchants.models import Payment, Refund
from civicpoints.risk.models import EvidenceKind, RiskRule, RiskSettings
from civicpoints.rules.models import ApprovalLevel
from civicpoints.stores.models import Redemption, RedemptionSource, StockMove, StockMoveKind

# A flag points at no more rows than this (its figures still count them all).
EVIDENCE_LIMIT = 200
# Stocktake reasons that say nothing (compared after strip() and lower()).
NON_REASONS = frozenset(
    {
        "",
        "无",
        "没有",
        "暂无",
        "其他",
        "其它",
        "调整",
        "盘点",
        "盘亏",
        "核减",
        "-",
        ".",
        "。",
        "/",
        "x",
        "na",
        "n/a",
        "1",
    }
)
# The audit action another part of the system writes for a burst of invalid payment codes.
CODE_GUESSING_ACTION = "merchant.code_guessing"


@dataclass
class Finding:
    subject: str
    period: str
    region_id: int
    detail: dict[str, Any]
    evidence: Sequence[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    scheme_id: int
    region_id: int  # the scheme's own region, for findings tied to no village
    settings: RiskSettings
    since: dt.datetime | None
    now: dt.datetime


def _month(day: dt.date) -> str:
    return f"{day:%Y-%m}"


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _local_month_start(ctx: Context) -> dt.datetime | None:
    """The start of the local month that holds ``since``: whole months are recomputed."""
    if ctx.since is None:
        return None
    day = _month_start(timezone.localdate(ctx.since))
    return day_start(day)


def _local_month(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return _month(value)


def _award_claims(ctx: Context) -> Any:
    return Claim.objects.filter(
        scheme_id=ctx.scheme_id, status__in=LIVE_STATUSES, is_deduction=False
    )


def _claim_floor(ctx: Context, claims: Any) -> dt.date | bool | None:
    """The earliest deed date among claims touched since ``since`` (False: none touched)."""
    if ctx.since is None:
        return None
    floor = claims.filter(updated_at__gte=ctx.since).aggregate(d=Min("occurred_on"))["d"]
    return False if floor is None else floor


# --- 1. staff approving their own household or one at the same address -------------------


def own_household(ctx: Context) -> list[Finding]:
    claims = _award_claims(ctx)
    if ctx.since is not None:
        claims = claims.filter(updated_at__gte=ctx.since)
    groups: dict[tuple[int, int, str], list[tuple[int, int, str, int]]] = defaultdict(list)
    for column in ("village_approved_by", "township_approved_by"):
        same_household = Q(**{f"{column}__household_id": F("household_id")})
        same_address = (
            Q(**{f"{column}__household__address": F("household__address")})
            & Q(**{f"{column}__household__scheme_id": F("scheme_id")})
            & ~Q(household__address="")
        )
        rows = claims.filter(same_household | same_address).values_list(
            "pk",
            f"{column}_id",
            "household_id",
            "village_id",
            "occurred_on",
            "points",
            f"{column}__household_id",
        )
        for pk, user_id, household_id, village_id, day, points, own_id in rows:
            how = "own" if own_id == household_id else "address"
            groups[(user_id, household_id, _month(day))].append((pk, village_id, how, points))
    found = []
    for (user_id, household_id, month), items in sorted(groups.items()):
        claims_seen = {pk: (village, how, points) for pk, village, how, points in items}
        village_id = next(iter(claims_seen.values()))[0]
        how = "own" if any(v[1] == "own" for v in claims_seen.values()) else "address"
        found.append(
            Finding(
                subject=f"staff:{user_id}/household:{household_id}",
                period=month,
                region_id=village_id,
                detail={
                    "staff": user_id,
                    "household": household_id,
                    "how": how,
                    "claims": len(claims_seen),
                    "points": sum(v[2] for v in claims_seen.values()),
                    "month": month,
                },
                evidence=[(EvidenceKind.STAFF, user_id), (EvidenceKind.HOUSEHOLD, household_id)]
                + [(EvidenceKind.CLAIM, pk) for pk in sorted(claims_seen)],
            )
        )
    return found


# --- 2. claims split to stay under the township's review threshold -----------------------


def split_claims(ctx: Context) -> list[Finding]:
    claims = _award_claims(ctx).filter(
        needs_township=False,
        rule__approval_level=ApprovalLevel.TOWNSHIP,
        rule__township_threshold__isnull=False,
    )
    floor = _claim_floor(ctx, claims)
    if floor is False:
        return []
    if floor is not None:
        assert isinstance(floor, dt.date)
        claims = claims.filter(occurred_on__gte=floor - dt.timedelta(days=floor.weekday()))
    groups = (
        claims.annotate(y=ExtractIsoYear("occurred_on"), w=ExtractWeek("occurred_on"))
        .values("household_id", "rule__code", "y", "w")
        .annotate(
            n=Count("pk"),
            total=Sum("points"),
            threshold=Max("rule__township_threshold"),
            village_id=Min("village_id"),
        )
        .filter(n__gte=ctx.settings.split_min_claims, total__gt=F("threshold"))
        .order_by("household_id", "rule__code", "y", "w")
    )
    found = []
    for g in groups:
        monday = dt.date.fromisocalendar(g["y"], g["w"], 1)
        ids = list(
            claims.filter(
                household_id=g["household_id"],
                rule__code=g["rule__code"],
                occurred_on__range=(monday, monday + dt.timedelta(days=6)),
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:EVIDENCE_LIMIT]
        )
        week = f"{g['y']}-W{g['w']:02d}"
        found.append(
            Finding(
                subject=f"household:{g['household_id']}/rule:{g['rule__code']}",
                period=week,
                region_id=g["village_id"],
                detail={
                    "household": g["household_id"],
                    "rule": g["rule__code"],
                    "claims": g["n"],
                    "points": g["total"],
                    "threshold": g["threshold"],
                    "week_start": monday.isoformat(),
                },
                evidence=[(EvidenceKind.HOUSEHOLD, g["household_id"])]
                + [(EvidenceKind.CLAIM, pk) for pk in ids],
            )
        )
    return found


# --- 3. one approver's awards bunched at caps or at month end ----------------------------


def _month_end_q(first: dt.date, last: dt.date, days: int) -> Q:
    q = Q(pk__in=[])
    month = _month_start(first)
    while month <= last:
        end = _next_month(month) - dt.timedelta(days=1)
        q |= Q(occurred_on__range=(end - dt.timedelta(days=days - 1), end))
        month = _next_month(month)
    return q


AT_CAP = (
    Q(rule__cap_day__gt=F("rule__points_per_unit"), points__gte=F("rule__cap_day"))
    | Q(rule__cap_month__gt=F("rule__points_per_unit"), points__gte=F("rule__cap_month"))
    | Q(rule__cap_year__gt=F("rule__points_per_unit"), points__gte=F("rule__cap_year"))
)


def approver_bunching(ctx: Context) -> list[Finding]:
    s = ctx.settings
    claims = _award_claims(ctx).filter(village_approved_by__isnull=False)
    floor = _claim_floor(ctx, claims)
    if floor is False:
        return []
    if floor is None:
        floor = claims.aggregate(d=Min("occurred_on"))["d"]
        if floor is None:
            return []
    assert isinstance(floor, dt.date)
    claims = claims.filter(occurred_on__gte=_month_start(floor))
    at_end = _month_end_q(floor, timezone.localdate(ctx.now), s.month_end_days)
    groups = (
        claims.annotate(month=TruncMonth("occurred_on"))
        .values("village_approved_by_id", "month")
        .annotate(
            n=Count("pk"),
            at_cap=Count("pk", filter=AT_CAP),
            at_end=Count("pk", filter=at_end),
            village_id=Min("village_id"),
        )
        .filter(n__gte=s.bunching_min_claims)
        .order_by("village_approved_by_id", "month")
    )
    found = []
    for g in groups:
        cap_hit = g["at_cap"] * 100 >= s.bunching_share_pct * g["n"]
        end_hit = g["at_end"] * 100 >= s.bunching_share_pct * g["n"]
        if not (cap_hit or end_hit):
            continue
        month = g["month"]
        month = month.date() if isinstance(month, dt.datetime) else month
        which = Q(pk__in=[])
        if cap_hit:
            which |= AT_CAP
        if end_hit:
            which |= at_end
        ids = list(
            claims.filter(which, village_approved_by_id=g["village_approved_by_id"])
            .filter(occurred_on__range=(month, _next_month(month) - dt.timedelta(days=1)))
            .order_by("pk")
            .values_list("pk", flat=True)[:EVIDENCE_LIMIT]
        )
        user_id = g["village_approved_by_id"]
        found.append(
            Finding(
                subject=f"staff:{user_id}",
                period=_month(month),
                region_id=g["village_id"],
                detail={
                    "staff": user_id,
                    "month": _month(month),
                    "claims": g["n"],
                    "at_cap": g["at_cap"],
                    "at_end": g["at_end"],
                    "cap_hit": cap_hit,
                    "end_hit": end_hit,
                    "share_pct": s.bunching_share_pct,
                    "month_end_days": s.month_end_days,
                },
                evidence=[(EvidenceKind.STAFF, user_id)] + [(EvidenceKind.CLAIM, pk) for pk in ids],
            )
        )
    return found


# --- 4. assisted redemptions (no PIN) above a share per clerk ----------------------------


def assisted_share(ctx: Context) -> list[Finding]:
    s = ctx.settings
    rows = Redemption.objects.filter(
        scheme_id=ctx.scheme_id, source=RedemptionSource.COUNTER, actor__isnull=False
    )
    start = _local_month_start(ctx)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    assisted = Q(mode="assisted")
    groups = (
        rows.annotate(month=TruncMonth("created_at"))
        .values("actor_id", "month")
        .annotate(
            n=Count("pk"), assisted=Count("pk", filter=assisted), region_id=Min("store__region_id")
        )
        .filter(n__gte=s.assisted_min_redemptions)
        .order_by("actor_id", "month")
    )
    found = []
    for g in groups:
        if g["assisted"] * 100 <= s.assisted_share_pct * g["n"]:
            continue
        month = _local_month(g["month"])
        begin = timezone.localtime(g["month"])
        end = day_start(_next_month(begin.date()))
        ids = list(
            rows.filter(assisted, actor_id=g["actor_id"], created_at__gte=begin, created_at__lt=end)
            .order_by("pk")
            .values_list("pk", flat=True)[:EVIDENCE_LIMIT]
        )
        found.append(
            Finding(
                subject=f"staff:{g['actor_id']}",
                period=month,
                region_id=g["region_id"],
                detail={
                    "staff": g["actor_id"],
                    "month": month,
                    "redemptions": g["n"],
                    "assisted": g["assisted"],
                    "share_pct": s.assisted_share_pct,
                },
                evidence=[(EvidenceKind.STAFF, g["actor_id"])]
                + [(EvidenceKind.REDEMPTION, pk) for pk in ids],
            )
        )
    return found


# --- 5. merchant cash-out patterns --------------------------------------------------------


def _payments(ctx: Context) -> Any:
    rows = Payment.objects.filter(scheme_id=ctx.scheme_id)
    start = _local_month_start(ctx)
    return rows if start is None else rows.filter(created_at__gte=start)


def round_payments(ctx: Context) -> list[Finding]:
    s = ctx.settings
    low = s.payment_limit - s.payment_limit * s.near_limit_pct // 100
    near = (
        _payments(ctx)
        .filter(points__gte=low, points__lte=s.payment_limit)
        .annotate(rest=Mod("points", s.round_unit))
        .filter(rest=0)
    )
    groups = (
        near.annotate(month=TruncMonth("created_at"))
        .values("merchant_id", "month")
        .annotate(
            households=Count("household_id", distinct=True),
            n=Count("pk"),
            total=Sum("points"),
        )
        .filter(households__gte=s.round_min_households)
        .order_by("merchant_id", "month")
    )
    found = []
    for g in groups:
        begin = timezone.localtime(g["month"])
        end = day_start(_next_month(begin.date()))
        ids = list(
            near.filter(merchant_id=g["merchant_id"], created_at__gte=begin, created_at__lt=end)
            .order_by("pk")
            .values_list("pk", flat=True)[:EVIDENCE_LIMIT]
        )
        month = _local_month(g["month"])
        found.append(
            Finding(
                subject=f"merchant:{g['merchant_id']}",
                period=month,
                region_id=ctx.region_id,
                detail={
                    "merchant": g["merchant_id"],
                    "month": month,
                    "households": g["households"],
                    "payments": g["n"],
                    "points": g["total"],
                    "low": low,
                    "limit": s.payment_limit,
                    "round_unit": s.round_unit,
                },
                evidence=[(EvidenceKind.MERCHANT, g["merchant_id"])]
                + [(EvidenceKind.PAYMENT, pk) for pk in ids],
            )
        )
    return found


def refund_transfer(ctx: Context) -> list[Finding]:
    """A refund of the same amount soon after another household paid: points moved between
    households through the merchant's till."""
    from django.db.models import OuterRef, Subquery

    window = dt.timedelta(minutes=ctx.settings.refund_window_minutes)
    other = (
        Payment.objects.filter(
            merchant_id=OuterRef("merchant_id"),
            points=OuterRef("points"),
            created_at__lte=OuterRef("created_at"),
            created_at__gte=OuterRef("created_at") - window,
        )
        .exclude(household_id=OuterRef("payment__household_id"))
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    refunds = Refund.objects.filter(scheme_id=ctx.scheme_id)
    if ctx.since is not None:
        refunds = refunds.filter(created_at__gte=ctx.since)
    rows = list(
        refunds.annotate(other=Subquery(other))
        .filter(other__isnull=False)
        .values_list(
            "pk",
            "merchant_id",
            "payment_id",
            "payment__household_id",
            "payment__household__village_id",
            "points",
            "other",
        )
        .order_by("pk")
    )
    found = []
    payers = dict(
        Payment.objects.filter(pk__in=[r[6] for r in rows]).values_list("pk", "household_id")
    )
    for pk, merchant_id, payment_id, to_household, village_id, points, other_id in rows:
        from_household = payers[other_id]
        found.append(
            Finding(
                subject=f"refund:{pk}",
                period="",
                region_id=village_id,
                detail={
                    "merchant": merchant_id,
                    "points": points,
                    "refund": pk,
                    "paid_by": from_household,
                    "refunded_to": to_household,
                    "minutes": ctx.settings.refund_window_minutes,
                },
                evidence=[
                    (EvidenceKind.MERCHANT, merchant_id),
                    (EvidenceKind.PAYMENT, other_id),
                    (EvidenceKind.REFUND, pk),
                    (EvidenceKind.PAYMENT, payment_id),
                    (EvidenceKind.HOUSEHOLD, from_household),
                    (EvidenceKind.HOUSEHOLD, to_household),
                ],
            )
        )
    return found


def merchant_outlier(ctx: Context) -> list[Finding]:
    s = ctx.settings
    by_month: dict[Any, dict[int, int]] = defaultdict(dict)
    rows = (
        _payments(ctx)
        .annotate(month=TruncMonth("created_at"))
        .values("month", "merchant_id")
        .annotate(total=Sum("points"))
        .order_by()
    )
    for r in rows:
        by_month[r["month"]][r["merchant_id"]] = r["total"]
    found = []
    for month_start, totals in sorted(by_month.items()):
        for merchant_id, total in sorted(totals.items()):
            peers = [t for m, t in totals.items() if m != merchant_id]
            if len(peers) < 2 or total < s.peer_min_points:
                continue
            median = statistics.median(peers)
            if total <= s.peer_factor * median:
                continue
            month = _local_month(month_start)
            found.append(
                Finding(
                    subject=f"merchant:{merchant_id}",
                    period=month,
                    region_id=ctx.region_id,
                    detail={
                        "merchant": merchant_id,
                        "month": month,
                        "points": total,
                        "peer_median": int(median),
                        "peers": len(peers),
                        "factor": s.peer_factor,
                    },
                    evidence=[(EvidenceKind.MERCHANT, merchant_id)],
                )
            )
    return found


# --- 6. stock written off without a reason ------------------------------------------------


def writeoff_no_reason(ctx: Context) -> list[Finding]:
    moves = StockMove.objects.filter(
        scheme_id=ctx.scheme_id, kind=StockMoveKind.STOCKTAKE, quantity__lt=0
    )
    if ctx.since is not None:
        moves = moves.filter(created_at__gte=ctx.since)
    rows = moves.values_list(
        "pk",
        "store_id",
        "store__region_id",
        "product__name",
        "product__price",
        "quantity",
        "reason",
        "actor_id",
    ).order_by("pk")
    found = []
    for pk, store_id, region_id, product, price, quantity, reason, actor_id in rows.iterator():
        if (reason or "").strip().lower() not in NON_REASONS:
            continue
        value = -quantity * price
        if value < ctx.settings.writeoff_min_points:
            continue
        evidence = [(EvidenceKind.STOCK_MOVE, pk)]
        if actor_id:
            evidence.append((EvidenceKind.STAFF, actor_id))
        found.append(
            Finding(
                subject=f"stock_move:{pk}",
                period="",
                region_id=region_id,
                detail={
                    "store": store_id,
                    "product": product,
                    "quantity": -quantity,
                    "points": value,
                    "reason": (reason or "").strip(),
                    "staff": actor_id,
                },
                evidence=evidence,
            )
        )
    return found


# --- 7. bursts of invalid payment codes ---------------------------------------------------


def code_guessing(ctx: Context) -> list[Finding]:
    rows = AuditEvent.objects.filter(scheme_id=ctx.scheme_id, action=CODE_GUESSING_ACTION)
    if ctx.since is not None:
        rows = rows.filter(created_at__gte=ctx.since)
    found = []
    for pk, detail, created_at in rows.values_list("pk", "detail", "created_at").order_by("pk"):
        detail = detail if isinstance(detail, dict) else {}
        merchant_id = _int(detail.get("merchant"))
        cashier_id = _int(detail.get("cashier"))
        evidence: list[tuple[str, int]] = [(EvidenceKind.AUDIT, pk)]
        if merchant_id:
            evidence.append((EvidenceKind.MERCHANT, merchant_id))
        if cashier_id:
            evidence.append((EvidenceKind.STAFF, cashier_id))
        found.append(
            Finding(
                subject=f"audit:{pk}",
                period="",
                region_id=ctx.region_id,
                detail={
                    "merchant": merchant_id,
                    "staff": cashier_id,
                    "count": _int(detail.get("count")),
                    "at": timezone.localtime(created_at).strftime("%Y-%m-%d %H:%M"),
                },
                evidence=evidence,
            )
        )
    return found


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


RULES: dict[str, Callable[[Context], Iterable[Finding]]] = {
    RiskRule.OWN_HOUSEHOLD: own_household,
    RiskRule.SPLIT_CLAIMS: split_claims,
    RiskRule.APPROVER_BUNCHING: approver_bunching,
    RiskRule.ASSISTED_SHARE: assisted_share,
    RiskRule.ROUND_PAYMENTS: round_payments,
    RiskRule.REFUND_TRANSFER: refund_transfer,
    RiskRule.MERCHANT_OUTLIER: merchant_outlier,
    RiskRule.WRITEOFF_NO_REASON: writeoff_no_reason,
    RiskRule.CODE_GUESSING: code_guessing,
}
