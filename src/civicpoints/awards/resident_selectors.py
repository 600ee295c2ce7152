"""Reads for a household's own view of its claims (the resident's phone pages and SMS replies).

Every query filters by ``household_id`` first (the ``(household, rule, occurred_on)`` index),
so the cost is the household's own few claims whatever the size of the county.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus

# Claims still on their way: what "my claims" lists (posted ones are in the history).
OPEN_STATUSES = (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED, ClaimStatus.ON_NOTICE)
RECENT_DAYS = 60


@dataclass(frozen=True)
class NoticeLine:
    claim_id: int
    rule: str
    points: int
    is_deduction: bool
    ends_at: dt.datetime


@dataclass
class OnNotice:
    lines: list[NoticeLine] = field(default_factory=list)

    @property
    def award(self) -> int:
        return sum(line.points for line in self.lines if not line.is_deduction)

    @property
    def deduction(self) -> int:
        return sum(line.points for line in self.lines if line.is_deduction)

    @property
    def by_day(self) -> list[NoticeDay]:
        """Sums per local end date, soonest first: "+165 分 公示中，12月7日截止"."""
        days: dict[dt.date, NoticeDay] = {}
        for line in self.lines:
            day = timezone.localtime(line.ends_at).date()
            found = days.setdefault(day, NoticeDay(day=day))
            if line.is_deduction:
                found.deduction += line.points
            else:
                found.award += line.points
        return [days[d] for d in sorted(days)]


@dataclass
class NoticeDay:
    day: dt.date
    award: int = 0
    deduction: int = 0


def household_on_notice(*, household_id: int) -> OnNotice:
    """The household's claims on public notice, soonest end first (one query)."""
    rows = (
        Claim.objects.filter(household_id=household_id, status=ClaimStatus.ON_NOTICE)
        .order_by("notice_ends_at", "pk")
        .values_list("pk", "rule__name", "points", "is_deduction", "notice_ends_at")
    )
    return OnNotice(
        [
            NoticeLine(pk, rule, points, is_deduction, ends_at)
            for pk, rule, points, is_deduction, ends_at in rows
            if ends_at is not None  # on notice always has an end; the type does not know it
        ]
    )


@dataclass(frozen=True)
class ClaimLine:
    claim_id: int
    rule: str
    points: int
    is_deduction: bool
    status: str
    status_label: str
    source_label: str
    occurred_on: dt.date
    notice_ends_at: dt.datetime | None
    rejected_reason: str
    objected: bool
    objection_reason: str


def household_claims(*, household_id: int, today: dt.date, limit: int = 10) -> list[ClaimLine]:
    """The household's claims and self-reports still on their way, and those rejected or
    withdrawn lately, newest first, with the reason of a rejection and whether someone
    objected (two queries)."""
    since = today - dt.timedelta(days=RECENT_DAYS)
    claims = list(
        Claim.objects.filter(household_id=household_id)
        .filter(status__in=[*OPEN_STATUSES, ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN])
        .filter(occurred_on__gte=since)
        .select_related("rule")
        .order_by("-pk")[:limit]
    )
    reasons: dict[tuple[int, str], str] = {}
    if claims:
        events = (
            ClaimEvent.objects.filter(
                claim_id__in=[c.pk for c in claims], action__in=("reject", "object")
            )
            .order_by("pk")
            .values_list("claim_id", "action", "reason")
        )
        for claim_id, action, reason in events:
            reasons[(claim_id, action)] = reason  # the latest of each wins
    return [
        ClaimLine(
            claim_id=c.pk,
            rule=c.rule.name,
            points=c.points,
            is_deduction=c.is_deduction,
            status=c.status,
            status_label=str(c.get_status_display()),  # type: ignore[attr-defined]
            source_label=str(c.get_source_display()),  # type: ignore[attr-defined]
            occurred_on=c.occurred_on,
            notice_ends_at=c.notice_ends_at,
            rejected_reason=reasons.get((c.pk, "reject"), "")
            if c.status == ClaimStatus.REJECTED
            else "",
            objected=(c.pk, "object") in reasons,
            objection_reason=reasons.get((c.pk, "object"), ""),
        )
        for c in claims
    ]
