"""Business days (``civicpoints.calendar``): 00:00 to 24:00 local time, whatever the server's
clock zone, and the last day that is over is what T+1 settles."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone

from civicpoints.calendar import day_bounds, day_over, day_start, last_day_over

UTC = dt.UTC
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_a_business_day_runs_from_local_midnight_to_local_midnight():
    start, end = day_bounds(dt.date(2026, 12, 1))

    assert start == dt.datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)
    assert end == dt.datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI)
    # Beijing is UTC+8: the day opens at 16:00 UTC the evening before.
    assert start.astimezone(UTC) == dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert day_start(dt.date(2026, 12, 1)) == start


def test_without_a_date_the_bounds_are_of_today_local_time():
    start, end = day_bounds()

    today = timezone.localdate()
    assert timezone.localtime(start) == dt.datetime.combine(today, dt.time(), tzinfo=SHANGHAI)
    assert end - start == dt.timedelta(days=1)
    assert start <= timezone.now() < end


def test_a_day_is_over_only_at_the_next_local_midnight():
    day = dt.date(2026, 12, 1)
    midnight = dt.datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI)

    assert day_over(day, now=midnight - dt.timedelta(microseconds=1)) is False
    assert day_over(day, now=midnight) is True
    # 23:30 UTC on 1 December is already 07:30 on the 2nd in Beijing.
    assert day_over(day, now=dt.datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) is True


def test_the_last_day_over_is_yesterday_in_local_time():
    just_after_midnight = dt.datetime(2026, 12, 2, 0, 0, 1, tzinfo=SHANGHAI)
    just_before = dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=SHANGHAI)

    assert last_day_over(now=just_after_midnight) == dt.date(2026, 12, 1)
    assert last_day_over(now=just_before) == dt.date(2026, 11, 30)
    # The same instant, seen from UTC (still 1 December there): Beijing's calendar decides.
    assert last_day_over(now=just_after_midnight.astimezone(UTC)) == dt.date(2026, 12, 1)
    assert day_over(last_day_over(now=just_after_midnight), now=just_after_midnight) is True


def test_a_day_with_a_clock_change_is_bounded_by_its_midnights_not_by_24_hours():
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        start, end = day_bounds(dt.date(2026, 3, 29))  # clocks go forward at 02:00

    assert start.astimezone(UTC) == dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == dt.datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
