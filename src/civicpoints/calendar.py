"""Business days: a day runs from 00:00 to 24:00 local time (Asia/Shanghai, ``TIME_ZONE``).

The one place that turns a date into the instants that bound it: settlement (T+1), a shop's
day of payments, the notices ending today, the audit log's date filter. Domain-neutral: it
knows no model and must never query the database.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def day_start(day: dt.date) -> dt.datetime:
    """00:00 local time on ``day`` (an aware datetime)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def day_bounds(day: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[00:00, 24:00) of a business day (today when not given), in local time."""
    day = day or timezone.localdate()
    return day_start(day), day_start(day + dt.timedelta(days=1))


def day_over(day: dt.date, *, now: dt.datetime | None = None) -> bool:
    """Whether business day ``day`` has ended (settlement may run for it)."""
    return (now or timezone.now()) >= day_bounds(day)[1]


def last_day_over(*, now: dt.datetime | None = None) -> dt.date:
    """The latest business day that has ended: yesterday, local time (what T+1 settles)."""
    return timezone.localdate(now) - dt.timedelta(days=1)
