"""The scheme's year-end policy applied (长期有效 / 年底清零 / N个月后过期): when points expire,
what a run would expire (the preview staff see), and the run itself (ledger/expiry.py counts
oldest points first and posts; a household's held points are never expired; a second run at
the same cutoff expires nothing more).

Both policies that expire are scheduled (``year_end_job``) on **expiry days**: 年底清零 on
1 January (points credited before it), N个月后过期 on the 1st of each month (points credited
before the 1st of the month N months earlier, so a point lives between N and N + 1 months).
From 30 days before an expiry day each household that would lose points is texted once; on
or after the day the run expires them, but only if that notice went out at least 30 days
before (else staff decide: the 积分到期 page or ``civicpoints year_end``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import invalid
from civicpoints.honours.models import ExpiryNotice
from civicpoints.ledger.expiry import Expiring, expiry_due, expiry_post
from civicpoints.notifications.events import points_expiring
from civicpoints.schemes.models import Scheme, YearEndPolicy


@dataclass(frozen=True)
class ExpiryDay:
    """On ``day`` the points credited before ``cutoff`` expire."""

    day: dt.date
    cutoff: dt.datetime


def _first_of(year: int, month_index: int) -> dt.date:
    """The 1st of month ``month_index`` (0 = January) counted from January of ``year``."""
    y, m = divmod(year * 12 + month_index, 12)
    return dt.date(y, m + 1, 1)


def _expiry_day(scheme: Scheme, day: dt.date) -> ExpiryDay | None:
    tz = timezone.get_default_timezone()
    if scheme.year_end_policy == YearEndPolicy.YEAR_END:
        return ExpiryDay(day, dt.datetime(day.year, 1, 1, tzinfo=tz))
    if scheme.year_end_policy == YearEndPolicy.AFTER_MONTHS and scheme.expiry_months:
        credited = _first_of(day.year, day.month - 1 - scheme.expiry_months)
        return ExpiryDay(day, dt.datetime.combine(credited, dt.time(), tzinfo=tz))
    return None


def expiry_day_last(scheme: Scheme, today: dt.date) -> ExpiryDay | None:
    """The latest expiry day on or before today (None: the scheme's points never expire)."""
    if scheme.year_end_policy == YearEndPolicy.YEAR_END:
        return _expiry_day(scheme, dt.date(today.year, 1, 1))
    return _expiry_day(scheme, today.replace(day=1))


def expiry_day_next(scheme: Scheme, today: dt.date) -> ExpiryDay | None:
    """The first expiry day after today."""
    if scheme.year_end_policy == YearEndPolicy.YEAR_END:
        return _expiry_day(scheme, dt.date(today.year + 1, 1, 1))
    return _expiry_day(scheme, _first_of(today.year, today.month))


def expiry_cutoff(scheme: Scheme, today: dt.date) -> dt.datetime | None:
    """Points credited before this moment expire now (None: the scheme's never do)."""
    last = expiry_day_last(scheme, today)
    return last.cutoff if last is not None else None


@dataclass(frozen=True)
class ExpiryPreview:
    cutoff: dt.datetime | None
    due: list[Expiring]

    @property
    def points(self) -> int:
        return sum(d.points for d in self.due)


def year_end_preview(*, scheme: Scheme, today: dt.date | None = None) -> ExpiryPreview:
    """What a run today would expire, household by household (nothing is written)."""
    cutoff = expiry_cutoff(scheme, today or timezone.localdate())
    if cutoff is None:
        return ExpiryPreview(None, [])
    return ExpiryPreview(cutoff, expiry_due(scheme_id=scheme.pk, cutoff=cutoff))


def year_end_run(
    *, scheme: Scheme, actor_id: int | None, today: dt.date | None = None
) -> tuple[int, int]:
    """Expire what the policy says is due today; returns (households, points)."""
    preview = year_end_preview(scheme=scheme, today=today)
    if preview.cutoff is None:
        raise invalid(_("这个方案的积分长期有效，不会过期"), field="policy")
    return expiry_post(
        scheme_id=scheme.pk, cutoff=preview.cutoff, due=preview.due, actor_id=actor_id
    )


NOTICE_DAYS = 30


def year_end_notice(*, scheme: Scheme, today: dt.date | None = None) -> int:
    """From 30 days before an expiry day: text each household what it would lose (what it
    has now, oldest points first, nothing held), once per expiry day; returns texts recorded."""
    today = today or timezone.localdate()
    coming = expiry_day_next(scheme, today)
    if coming is None or (coming.day - today).days > NOTICE_DAYS:
        return 0
    due = expiry_due(scheme_id=scheme.pk, cutoff=coming.cutoff)
    sent = points_expiring(
        scheme_id=scheme.pk,
        due=[(d.household_id, d.points) for d in due],
        last_day=coming.day - dt.timedelta(days=1),
        year_end=scheme.year_end_policy == YearEndPolicy.YEAR_END,
    )
    ExpiryNotice.objects.get_or_create(
        scheme=scheme, cutoff=coming.cutoff, defaults={"households": len(due)}
    )
    return sent


def year_end_job(today: dt.date | None = None) -> int:
    """The scheduler's: notices, then each year end's run once its notice is 30 days old;
    returns households whose points expired now."""
    today = today or timezone.localdate()
    expired = 0
    expiring = [YearEndPolicy.YEAR_END, YearEndPolicy.AFTER_MONTHS]
    for scheme in Scheme.objects.filter(year_end_policy__in=expiring).order_by("pk"):
        year_end_notice(scheme=scheme, today=today)
        last = expiry_day_last(scheme, today)
        if last is None:
            continue
        notice = ExpiryNotice.objects.filter(scheme=scheme, cutoff=last.cutoff).first()
        told = notice is not None and (
            last.day - timezone.localtime(notice.sent_at).date()
        ) >= dt.timedelta(days=NOTICE_DAYS)
        if notice is None or notice.ran_at is not None or not told:
            continue  # ran already, or residents were not told in time: staff decide
        households, _points = year_end_run(scheme=scheme, actor_id=None, today=today)
        notice.ran_at = timezone.now()
        notice.save(update_fields=["ran_at"])
        expired += households
    return expired
