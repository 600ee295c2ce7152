"""What a village publishes to anyone, without a login (``/open/<village code>/``).

The village's points month by month (awarded and deducted by rule category, redeemed), the
claims on notice with names written as the scheme's policy says, and the ledger's chain head.
Read-only, a fixed number of queries whatever the village's size. It must never return a
phone number, an ID number, a card code, an address or a household id: only what the
printed notice board already shows, with names masked.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.awards.selectors import notice_claims
from civicpoints.errors import NotFound
from civicpoints.ledger.chain import GENESIS
from civicpoints.ledger.models import AccountKind, ChainLink, Entry, PostingKind
from civicpoints.schemes.models import NoticeNameDisplay, Region, RegionLevel, Scheme

MONTHS = 12
EARNING_KINDS = (PostingKind.AWARD, PostingKind.DEDUCTION, PostingKind.ADJUSTMENT)
SPENDING_KINDS = (
    PostingKind.REDEMPTION,
    PostingKind.CAPTURE,
    PostingKind.PAYMENT,
    PostingKind.REFUND,
)
# Two-character surnames (复姓) that a name starting with them most likely carries.
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "司空",
        "夏侯",
        "令狐",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "澹台",
        "公冶",
        "太史",
        "申屠",
        "万俟",
        "闻人",
        "赫连",
        "钟离",
    ]
)


# --- names ---------------------------------------------------------------------------------


def surname_of(name: str) -> str:
    name = name.strip()
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[:1]


def display_name(name: str, policy: str) -> str:
    """A household head's name as the public page writes it.

    ``full``: 张三明; ``masked``: 张*明, 王*, 欧阳*娜; ``surname``: 张某. Anything unknown
    is treated as the strictest, never as the full name.
    """
    name = name.strip()
    if not name:
        return ""
    if policy == NoticeNameDisplay.FULL:
        return name
    surname = surname_of(name)
    if policy == NoticeNameDisplay.MASKED:
        given = name[len(surname) :]
        if len(given) <= 1:
            return surname + "*"
        return surname + "*" * (len(given) - 1) + given[-1]
    return _("%(surname)s某") % {"surname": surname}


# --- the village ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenVillage:
    village: Region
    scheme: Scheme


def open_village(code: object) -> OpenVillage:
    """The village with this 12-digit code and the scheme it belongs to, or NotFound."""
    if not (isinstance(code, str) and len(code) == 12 and code.isascii() and code.isdigit()):
        raise NotFound("village")
    village = (
        Region.objects.filter(code=code, level=RegionLevel.VILLAGE).select_related("parent").first()
    )
    if village is None:
        raise NotFound("village")
    parts = [p for p in village.path.split("/") if p]
    above = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
    # The most local scheme wins (a community's own scheme inside a county's).
    scheme = (
        Scheme.objects.filter(operator_region__path__in=above)
        .select_related("operator_region")
        .order_by("-operator_region__level", "pk")
        .first()
    )
    if scheme is None:
        raise NotFound("scheme")
    return OpenVillage(village=village, scheme=scheme)


# --- monthly totals ------------------------------------------------------------------------


@dataclass
class CategoryTotal:
    category: str
    awarded: int = 0  # hundredths
    deducted: int = 0


@dataclass
class MonthTotal:
    month: dt.date  # the first day of the month
    awarded: int = 0
    deducted: int = 0
    redeemed: int = 0
    categories: list[CategoryTotal] = field(default_factory=list)


def _month_starts(today: dt.date, months: int) -> list[dt.date]:
    """The first days of the last ``months`` months, newest first (this month included)."""
    year, month = today.year, today.month
    starts = []
    for _i in range(months):
        starts.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts


def monthly_totals(
    *, scheme_id: int, village_id: int, months: int = MONTHS, now: dt.datetime | None = None
) -> list[MonthTotal]:
    """Points awarded, deducted and redeemed by the village's households, month by month.

    One aggregate query over the household legs of the period's postings. A reversal counts
    against the month and category of the posting it reverses' kind, in its own month;
    an award's category is its claim's rule category (other awards: 其他, manual: 人工调整).
    """
    local_now = timezone.localtime(now or timezone.now())
    starts = _month_starts(local_now.date(), months)
    tz = timezone.get_current_timezone()
    since = dt.datetime.combine(starts[-1], dt.time(), tzinfo=tz)
    rows = (
        Entry.objects.filter(
            scheme_id=scheme_id,
            account__kind=AccountKind.HOUSEHOLD,
            account__household__village_id=village_id,
            posting__created_at__gte=since,
        )
        .annotate(
            month=TruncMonth("posting__created_at", tzinfo=tz),
            kind=Coalesce(F("posting__reverses__kind"), F("posting__kind")),
            category=Coalesce(
                F("posting__claim__rule__category"),
                F("posting__reverses__claim__rule__category"),
            ),
            reversal=Coalesce(F("posting__reverses_id"), 0),
        )
        .values("month", "kind", "category")
        .annotate(
            plus=Sum("amount", filter=Q(amount__gt=0, reversal=0)),
            minus=Sum("amount", filter=Q(amount__lt=0, reversal=0)),
            back_plus=Sum("amount", filter=Q(amount__gt=0) & ~Q(reversal=0)),
            back_minus=Sum("amount", filter=Q(amount__lt=0) & ~Q(reversal=0)),
        )
    )
    by_month = {start: MonthTotal(month=start) for start in starts}
    categories: dict[dt.date, dict[str, CategoryTotal]] = defaultdict(dict)
    for row in rows:
        month = row["month"]
        if isinstance(month, dt.datetime):
            month = timezone.localtime(month, tz).date() if timezone.is_aware(month) else month
            month = month.date() if isinstance(month, dt.datetime) else month
        total = by_month.get(month.replace(day=1))
        if total is None:
            continue
        plus, minus = row["plus"] or 0, row["minus"] or 0
        back_plus, back_minus = row["back_plus"] or 0, row["back_minus"] or 0
        if row["kind"] in SPENDING_KINDS:
            total.redeemed -= plus + minus + back_plus + back_minus
            continue
        if row["kind"] not in EARNING_KINDS:
            continue
        if row["category"]:
            name = row["category"]
        elif row["kind"] == PostingKind.ADJUSTMENT:
            name = _("人工调整")
        else:
            name = _("其他")
        line = categories[total.month].setdefault(name, CategoryTotal(category=name))
        # A reversal's legs run the other way: taking back an award lowers "awarded".
        awarded, deducted = plus + back_minus, -(minus + back_plus)
        line.awarded += awarded
        line.deducted += deducted
        total.awarded += awarded
        total.deducted += deducted
    for start, lines in categories.items():
        by_month[start].categories = sorted(
            (c for c in lines.values() if c.awarded or c.deducted),
            key=lambda c: (-c.awarded, c.category),
        )
    return [by_month[start] for start in starts]


# --- claims on notice ----------------------------------------------------------------------


@dataclass(frozen=True)
class PublicNoticeRow:
    name: str
    category: str
    item: str
    quantity: Decimal
    unit: str
    points: int  # hundredths, always positive
    is_deduction: bool
    ends_at: dt.datetime | None


def public_notice(*, village_id: int, policy: str) -> list[PublicNoticeRow]:
    """The village's claims on notice, names written as ``policy`` says, nothing else."""
    return [
        PublicNoticeRow(
            name=display_name(c.household.head_name, policy),
            category=c.rule.category,
            item=c.rule.name,
            quantity=c.quantity,
            unit=c.rule.get_unit_display(),
            points=c.points,
            is_deduction=c.is_deduction,
            ends_at=c.notice_ends_at,
        )
        for c in notice_claims(village_id=village_id)[:500]
    ]


# --- the chain head ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedHead:
    seq: int
    hash: str
    at: dt.datetime | None  # when the newest link was appended; None before the first


def published_head(*, scheme_id: int) -> PublishedHead:
    link = (
        ChainLink.objects.filter(scheme_id=scheme_id)
        .order_by("-seq")
        .values_list("seq", "hash", "created_at")
        .first()
    )
    if link is None:
        return PublishedHead(seq=0, hash=GENESIS, at=None)
    return PublishedHead(seq=link[0], hash=link[1], at=link[2])
