"""The scheme's year-end policy applied (长期有效 / 年底清零 / N个月后过期): when points expire,
what a run would expire (the preview staff see), and the run itself (ledger/expiry.py counts
oldest points first and posts; a household's held points are never expired; a second run at
the same cutoff expires nothing more).

Scheduled for 年底清零 (``year_end_job``): from 30 days before the year end each household
that would lose points is texted once; on or after 1 January the run expires them, but only
if that notice went out at least 30 days before (else staff decide: ``civicpoints
year_end``). A scheme that expires after N months is run by staff only, for now.
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


def expiry_cutoff(scheme: Scheme, today: dt.date) -> dt.datetime | None:
    """Points credited before this moment expire now (None: the scheme's never do)."""
    tz = timezone.get_default_timezone()
    if scheme.year_end_policy == YearEndPolicy.YEAR_END:
        return dt.datetime(today.year, 1, 1, tzinfo=tz)
    if scheme.year_end_policy == YearEndPolicy.AFTER_MONTHS and scheme.expiry_months:
        index = today.year * 12 + today.month - 1 - scheme.expiry_months
        year, month = divmod(index, 12)
        day = min(today.day, 28)  # a month's end is never skipped twice
        return dt.datetime(year, month + 1, day, tzinfo=tz)
    return None


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
    """From 30 days before a 年底清零 year end: text each household what it would lose (what it
    has now, oldest points first, nothing held), once per year end; returns texts recorded."""
    today = today or timezone.localdate()
    if scheme.year_end_policy != YearEndPolicy.YEAR_END:
        return 0
    tz = timezone.get_default_timezone()
    cutoff = dt.datetime(today.year + 1, 1, 1, tzinfo=tz)
    if (cutoff.date() - today).days > NOTICE_DAYS:
        return 0
    due = expiry_due(scheme_id=scheme.pk, cutoff=cutoff)
    sent = points_expiring(
        scheme_id=scheme.pk,
        due=[(d.household_id, d.points) for d in due],
        last_day=cutoff.date() - dt.timedelta(days=1),
    )
    ExpiryNotice.objects.get_or_create(
        scheme=scheme, cutoff=cutoff, defaults={"households": len(due)}
    )
    return sent


def year_end_job(today: dt.date | None = None) -> int:
    """The scheduler's: notices, then each year end's run once its notice is 30 days old;
    returns households whose points expired now."""
    today = today or timezone.localdate()
    tz = timezone.get_default_timezone()
    expired = 0
    for scheme in Scheme.objects.filter(year_end_policy=YearEndPolicy.YEAR_END).order_by("pk"):
        year_end_notice(scheme=scheme, today=today)
        cutoff = dt.datetime(today.year, 1, 1, tzinfo=tz)
        notice = ExpiryNotice.objects.filter(scheme=scheme, cutoff=cutoff).first()
        told = notice is not None and (
            cutoff.date() - timezone.localtime(notice.sent_at).date()
        ) >= dt.timedelta(days=NOTICE_DAYS)
        if notice is None or notice.ran_at is not None or not told:
            continue  # ran already, or residents were not told in time: staff decide
        households, _points = year_end_run(scheme=scheme, actor_id=None, today=today)
        notice.ran_at = timezone.now()
        notice.save(update_fields=["ran_at"])
        expired += households
    return expired
