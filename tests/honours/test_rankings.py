"""Rankings from the follower's period totals: exact numbers, ties, regions, members, and a
closed month that no later posting or reversal changes."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.errors import ApplicationError
from civicpoints.honours.models import PeriodClose
from civicpoints.honours.rankings import (
    BY_MEMBER,
    period_for,
    period_parse,
    periods_close,
    rank_of,
    ranking,
)
from civicpoints.households.models import Member
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import PostingKind
from civicpoints.ledger.services import reverse
from tests.factories import make_household
from tests.reports.test_rollups import BEIJING, _earn, at

NOV = dt.datetime(2026, 11, 10, 10, 0, tzinfo=BEIJING)
TODAY = dt.date(2026, 12, 4)


def _table(r):
    return [(x.rank, x.household_id, x.points) for x in r.rows]


@pytest.fixture
def county(world):
    """Four households in two townships' villages, November's points: 45, 30, 30, -5."""
    world.wang = make_household(world.scheme, world.village_a1, "王秀英")
    world.zhang = make_household(world.scheme, world.village_a1, "张桂芝")
    world.li = make_household(world.scheme, world.village_b1, "李桂兰")
    world.zhao = make_household(world.scheme, world.village_b1, "赵淑珍")
    world.daughter = Member.objects.create(scheme=world.scheme, household=world.wang, name="王小红")
    with at(dt.datetime(2026, 10, 1, 9, 0, tzinfo=BEIJING)):
        _earn(world, world.zhao, 1000)  # October: 10, so a deduction can come in November
    with at(NOV):
        world.big = _earn(world, world.wang, 4500, member=world.daughter.pk)
        _earn(world, world.zhang, 3000)
        _earn(world, world.li, 3000)
        _earn(world, world.zhao, -500, kind=PostingKind.DEDUCTION)
    chain_follow(scheme_id=world.scheme.pk)
    return world


def test_a_month_ranked_by_county_township_and_village_with_shared_ranks(county):
    w = county
    november = period_for("month", dt.date(2026, 11, 1))

    whole = ranking(scheme_id=w.scheme.pk, region=w.county, period=november, today=TODAY)
    # 30 and 30 share rank 2, listed by household id; the next is 4th
    assert _table(whole) == [
        (1, w.wang.pk, 4500),
        (2, w.zhang.pk, 3000),
        (2, w.li.pk, 3000),
        (4, w.zhao.pk, -500),
    ]
    assert (whole.total, whole.closed) == (4, True)  # November has ended: frozen
    village = ranking(scheme_id=w.scheme.pk, region=w.village_b1, period=november, today=TODAY)
    assert _table(village) == [(1, w.li.pk, 3000), (2, w.zhao.pk, -500)]
    # a page from the middle keeps the shared rank
    page = ranking(
        scheme_id=w.scheme.pk, region=w.county, period=november, offset=2, limit=2, today=TODAY
    )
    assert _table(page) == [(2, w.li.pk, 3000), (4, w.zhao.pk, -500)]
    members = ranking(
        scheme_id=w.scheme.pk, region=w.county, period=november, by=BY_MEMBER, today=TODAY
    )
    assert [(x.rank, x.member_id, x.points) for x in members.rows] == [(1, w.daughter.pk, 4500)]
    assert rank_of(
        scheme_id=w.scheme.pk,
        region=w.township_b,
        period=november,
        household_id=w.zhao.pk,
        today=TODAY,
    ) == (2, -500, 2)
    # the year so far adds October's 10 to 赵淑珍
    year = ranking(
        scheme_id=w.scheme.pk, region=w.county, period=period_for("year", TODAY), today=TODAY
    )
    assert _table(year)[-1] == (4, w.zhao.pk, 500)
    assert year.closed is False


def test_a_closed_month_stays_as_published_after_a_reversal_and_a_late_posting(county):
    w = county
    november = period_for("month", dt.date(2026, 11, 1))
    before = _table(ranking(scheme_id=w.scheme.pk, region=w.county, period=november, today=TODAY))

    # in December the big award is reversed; a posting dated 30 November is chained only now
    with at(dt.datetime(2026, 12, 2, 9, 0, tzinfo=BEIJING)):
        reverse(posting=w.big)
    with at(dt.datetime(2026, 11, 30, 23, 59, tzinfo=BEIJING)):
        _earn(w, w.zhang, 9900)
    chain_follow(scheme_id=w.scheme.pk)

    after = ranking(scheme_id=w.scheme.pk, region=w.county, period=november, today=TODAY)
    assert _table(after) == before
    # the open year sees both
    year = ranking(
        scheme_id=w.scheme.pk, region=w.county, period=period_for("year", TODAY), today=TODAY
    )
    assert _table(year)[0] == (1, w.zhang.pk, 12900)
    assert (w.wang.pk, 0) in [(x.household_id, x.points) for x in year.rows]


def test_the_scheduler_closes_each_ended_period_once(county):
    w = county
    assert periods_close(today=TODAY) == 6  # November, the third quarter, 2025; two schemes
    assert periods_close(today=TODAY) == 0
    closed = set(PeriodClose.objects.filter(scheme=w.scheme).values_list("kind", "start"))
    assert closed == {
        ("month", dt.date(2026, 11, 1)),
        ("quarter", dt.date(2026, 7, 1)),
        ("year", dt.date(2025, 1, 1)),
    }


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("week", "", "月、季度、年"),
        ("month", "2026/11", "2026-11"),
        ("month", "2026-13", "2026-11"),
        ("quarter", "2026-Q5", "2026-Q4"),
        ("year", "二〇二六", "2026"),
        ("month", "2027-01", "还没有开始"),
    ],
)
def test_a_bad_period_is_refused_with_its_message(kind, value, message):
    with pytest.raises(ApplicationError) as err:
        period_parse(kind, value, TODAY)
    assert message in str(err.value.message)


def test_periods_are_read_as_written():
    assert period_parse("quarter", "2026-q4", TODAY) == period_for("quarter", dt.date(2026, 10, 5))
    assert period_parse("month", "", TODAY).start == dt.date(2026, 12, 1)
    assert period_parse("year", "2025", TODAY).end == dt.date(2026, 1, 1)
    assert period_for("all", TODAY).end is None


def test_a_county_ranking_reads_its_index_in_rank_order_without_statistics(county, postgres_only):
    """This machine's PostgreSQL never analyses a table on its own: the plan may not depend on
    statistics. The county's top and a village's top read their rank-order indexes."""
    from civicpoints.honours.rankings import BY_HOUSEHOLD, _standings
    from civicpoints.reports.models import Standing

    w = county
    year = period_for("year", TODAY)
    assert Standing.objects.filter(scheme=w.scheme).exists()
    for region, index in ((w.county, "standing_rank"), (w.village_a1, "standing_village_rank")):
        rows, closed = _standings(w.scheme.pk, region, year, BY_HOUSEHOLD, TODAY)
        plan = rows.order_by("-points", "household_id", "member_id")[:100].explain()
        assert not closed and index in plan and "Sort" not in plan, plan
