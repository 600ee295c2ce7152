"""The year end: oldest points first, held points never expired, run twice with one effect."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from civicpoints.errors import ApplicationError
from civicpoints.honours.year_end import expiry_cutoff, year_end_preview, year_end_run
from civicpoints.ledger.models import AccountKind, Posting, PostingKind
from civicpoints.ledger.selectors import account_total, household_balance
from civicpoints.ledger.services import Leg, hold, household_account, post, system_account
from civicpoints.schemes.models import YearEndPolicy
from tests.factories import make_household
from tests.ledger.helpers import assert_ledger_ok
from tests.reports.test_rollups import BEIJING, _earn, at

TODAY = dt.date(2026, 1, 3)


def _spend(world, household, hundredths):
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")
    return post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.REDEMPTION,
        legs=[Leg(household_account(household=household), -hundredths), Leg(store, hundredths)],
    )


@pytest.fixture
def cleared(world):
    """年底清零; 王 earned 100 + 50 in 2025, spent 120, then 30 in 2026 and holds 10;
    李 earned 100 in 2025 and holds 80 of it for an order."""
    world.scheme.year_end_policy = YearEndPolicy.YEAR_END
    world.scheme.save()
    wang = make_household(world.scheme, world.village_a1, "王秀英")
    li = make_household(world.scheme, world.village_a1, "李桂兰")
    with at(dt.datetime(2025, 3, 1, 9, 0, tzinfo=BEIJING)):
        _earn(world, wang, 10000)
        _earn(world, li, 10000)
    with at(dt.datetime(2025, 11, 1, 9, 0, tzinfo=BEIJING)):
        _earn(world, wang, 5000)
    with at(dt.datetime(2025, 12, 31, 23, 59, tzinfo=BEIJING)):
        _spend(world, wang, 12000)
    with at(dt.datetime(2026, 1, 1, 0, 1, tzinfo=BEIJING)):
        _earn(world, wang, 3000)  # a minute into the new year: stays
    hold(account=household_account(household=wang), amount=1000)
    hold(account=household_account(household=li), amount=8000)
    world.wang, world.li = wang, li
    return world


def test_the_oldest_points_go_first_and_held_points_stay(cleared):
    w = cleared
    preview = year_end_preview(scheme=w.scheme, today=TODAY)
    assert preview.cutoff == dt.datetime(2026, 1, 1, tzinfo=BEIJING)
    # 王: 150 earned before the year, 120 spent: 30 of the old points left (the new 30 stay);
    # 李: 100 old points, 80 held for an order: only 20 can go
    assert [(d.household_id, d.points) for d in preview.due] == [(w.wang.pk, 3000), (w.li.pk, 2000)]

    assert year_end_run(scheme=w.scheme, actor_id=None, today=TODAY) == (2, 5000)

    assert household_balance(household_id=w.wang.pk).balance == 3000
    assert household_balance(household_id=w.li.pk).balance == 8000
    assert household_balance(household_id=w.li.pk).held == 8000
    expiry = system_account(scheme_id=w.scheme.pk, kind=AccountKind.EXPIRY)
    assert account_total(account_id=expiry.pk) == 5000
    assert_ledger_ok(w.scheme.pk)


def test_running_it_twice_expires_once(cleared):
    w = cleared
    year_end_run(scheme=w.scheme, actor_id=None, today=TODAY)
    assert year_end_preview(scheme=w.scheme, today=TODAY).due == []
    assert year_end_run(scheme=w.scheme, actor_id=None, today=TODAY) == (0, 0)
    assert Posting.objects.filter(kind=PostingKind.EXPIRY).count() == 2


def test_after_n_months_and_never(cleared):
    w = cleared
    w.scheme.year_end_policy = YearEndPolicy.AFTER_MONTHS
    w.scheme.expiry_months = 6
    # Monthly expiry days: on the 1st, what was credited before the 1st six months earlier.
    assert expiry_cutoff(w.scheme, dt.date(2026, 1, 3)) == dt.datetime(2025, 7, 1, tzinfo=BEIJING)
    assert expiry_cutoff(w.scheme, dt.date(2026, 3, 31)) == dt.datetime(2025, 9, 1, tzinfo=BEIJING)
    w.scheme.year_end_policy = YearEndPolicy.NONE
    assert year_end_preview(scheme=w.scheme, today=TODAY).due == []
    with pytest.raises(ApplicationError):
        year_end_run(scheme=w.scheme, actor_id=None, today=TODAY)


def test_the_command_previews_without_writing_then_runs(cleared):
    w = cleared
    out = StringIO()
    call_command("year_end", "--scheme", str(w.scheme.pk), stdout=out)
    assert "户" in out.getvalue()
    assert not Posting.objects.filter(kind=PostingKind.EXPIRY).exists()
    call_command("year_end", "--scheme", str(w.scheme.pk), "--run", stdout=out)
    assert "已过期" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("year_end", "--scheme", "999", stdout=StringIO())


def test_residents_are_told_once_from_30_days_ahead_and_the_run_waits_for_it(world):
    from civicpoints.honours.models import ExpiryNotice
    from civicpoints.honours.year_end import year_end_job, year_end_notice
    from civicpoints.notifications.models import Notification

    world.scheme.year_end_policy = YearEndPolicy.YEAR_END
    world.scheme.save()
    wang = make_household(world.scheme, world.village_a1, "王秀英", phone="13800000001")
    with at(dt.datetime(2026, 3, 1, 9, 0, tzinfo=BEIJING)):
        _earn(world, wang, 12345)

    assert year_end_notice(scheme=world.scheme, today=dt.date(2026, 12, 1)) == 0  # 31 days
    assert year_end_notice(scheme=world.scheme, today=dt.date(2026, 12, 2)) == 1
    assert year_end_notice(scheme=world.scheme, today=dt.date(2026, 12, 3)) == 0  # once
    text = Notification.objects.get(household=wang).text
    assert "123.45 分积分将于 12月31日 后清零" in text
    notice = ExpiryNotice.objects.get(scheme=world.scheme)
    assert notice.households == 1

    # told on 2 December: the run on 1 January goes ahead, once
    notice.sent_at = dt.datetime(2026, 12, 2, 9, 0, tzinfo=BEIJING)
    notice.save()
    assert year_end_job(today=dt.date(2027, 1, 1)) == 1
    assert household_balance(household_id=wang.pk).balance == 0
    assert year_end_job(today=dt.date(2027, 1, 2)) == 0


def test_a_notice_sent_too_late_leaves_the_points_to_staff(world):
    from civicpoints.honours.models import ExpiryNotice
    from civicpoints.honours.year_end import year_end_job

    world.scheme.year_end_policy = YearEndPolicy.YEAR_END
    world.scheme.save()
    wang = make_household(world.scheme, world.village_a1, "王秀英", phone="13800000001")
    with at(dt.datetime(2026, 3, 1, 9, 0, tzinfo=BEIJING)):
        _earn(world, wang, 5000)
    ExpiryNotice.objects.create(
        scheme=world.scheme,
        cutoff=dt.datetime(2027, 1, 1, tzinfo=BEIJING),
        sent_at=dt.datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING),
    )

    assert year_end_job(today=dt.date(2027, 1, 1)) == 0
    assert household_balance(household_id=wang.pk).balance == 5000
