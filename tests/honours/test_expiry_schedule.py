"""N个月后过期 on its schedule: each 1st of the month the points credited before the 1st N
months earlier expire, oldest first; residents are told 30 days ahead, once; the run waits
for that notice and runs once."""

from __future__ import annotations

import datetime as dt

from civicpoints.honours.models import ExpiryNotice
from civicpoints.honours.year_end import (
    expiry_day_last,
    expiry_day_next,
    year_end_job,
    year_end_notice,
)
from civicpoints.ledger.models import Posting, PostingKind
from civicpoints.ledger.selectors import household_balance
from civicpoints.notifications.models import Notification
from civicpoints.schemes.models import YearEndPolicy
from tests.factories import make_household
from tests.reports.test_rollups import BEIJING, _earn, at


def _six_months(world):
    world.scheme.year_end_policy = YearEndPolicy.AFTER_MONTHS
    world.scheme.expiry_months = 6
    world.scheme.save()
    home = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    with at(dt.datetime(2025, 5, 20, 9, 0, tzinfo=BEIJING)):
        _earn(world, home, 10000)
    with at(dt.datetime(2025, 6, 10, 9, 0, tzinfo=BEIJING)):
        _earn(world, home, 5000)
    return home


def test_the_expiry_days_of_a_six_month_scheme(world):
    world.scheme.year_end_policy = YearEndPolicy.AFTER_MONTHS
    world.scheme.expiry_months = 6
    coming = expiry_day_next(world.scheme, dt.date(2025, 11, 1))
    assert (coming.day, coming.cutoff) == (
        dt.date(2025, 12, 1),
        dt.datetime(2025, 6, 1, tzinfo=BEIJING),
    )
    last = expiry_day_last(world.scheme, dt.date(2026, 1, 31))
    assert (last.day, last.cutoff) == (dt.date(2026, 1, 1), dt.datetime(2025, 7, 1, tzinfo=BEIJING))
    world.scheme.year_end_policy = YearEndPolicy.NONE
    assert expiry_day_next(world.scheme, dt.date(2025, 11, 1)) is None


def test_told_30_days_ahead_then_expired_oldest_first_once(world):
    home = _six_months(world)
    # On 31 October the coming expiry day is 1 November: nothing credited before 1 May.
    assert year_end_notice(scheme=world.scheme, today=dt.date(2025, 10, 31)) == 0
    assert year_end_notice(scheme=world.scheme, today=dt.date(2025, 11, 1)) == 1
    assert year_end_notice(scheme=world.scheme, today=dt.date(2025, 11, 2)) == 0  # once
    (text,) = Notification.objects.filter(household=home).values_list("text", flat=True)
    assert "100 分积分已满期限，将于 11月30日 后过期" in text
    notice = ExpiryNotice.objects.get(cutoff=dt.datetime(2025, 6, 1, tzinfo=BEIJING))
    notice.sent_at = dt.datetime(2025, 11, 1, 9, 0, tzinfo=BEIJING)
    notice.save()

    assert year_end_job(today=dt.date(2025, 11, 30)) == 0  # not yet
    assert year_end_job(today=dt.date(2025, 12, 1)) == 1
    assert year_end_job(today=dt.date(2025, 12, 1)) == 0  # once
    assert household_balance(household_id=home.pk).balance == 5000  # June's 50 stay
    assert Posting.objects.filter(kind=PostingKind.EXPIRY).count() == 1

    # January: June's points are past six months; told on 2 December (30 days ahead).
    assert year_end_notice(scheme=world.scheme, today=dt.date(2025, 12, 2)) == 1
    ExpiryNotice.objects.filter(cutoff=dt.datetime(2025, 7, 1, tzinfo=BEIJING)).update(
        sent_at=dt.datetime(2025, 12, 2, 9, 0, tzinfo=BEIJING)
    )
    assert year_end_job(today=dt.date(2026, 1, 1)) == 1
    assert household_balance(household_id=home.pk).balance == 0


def test_a_late_notice_leaves_the_monthly_run_to_staff(world):
    home = _six_months(world)
    year_end_notice(scheme=world.scheme, today=dt.date(2025, 11, 20))
    ExpiryNotice.objects.filter(cutoff=dt.datetime(2025, 6, 1, tzinfo=BEIJING)).update(
        sent_at=dt.datetime(2025, 11, 20, 9, 0, tzinfo=BEIJING)
    )
    assert year_end_job(today=dt.date(2025, 12, 1)) == 0
    assert household_balance(household_id=home.pk).balance == 15000
