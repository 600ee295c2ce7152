"""Who the points reach: top-10 % share and Gini with exact numbers (and against a direct
pairwise formula), households away or unable to work that earned, idle villages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from civicpoints.households import idcard
from civicpoints.households.models import HouseholdStatus, Member
from civicpoints.ledger.chain import chain_follow
from civicpoints.reports.inclusion import gini, inclusion, top_share
from civicpoints.reports.periods import period_parse
from tests.factories import make_household
from tests.reports.test_rollups import BEIJING, _earn, at


def test_gini_and_top_share_exact():
    assert gini([100, 100, 100, 100]) == Decimal("0")
    assert gini([0, 0, 0, 400]) == Decimal("0.75")  # (n-1)/n: one household has it all
    assert gini([]) is None and gini([0, -5]) is None
    assert top_share([400, 0, 0, 0, 0, 0, 0, 0, 0, 100]) == Decimal("0.8")
    assert top_share([50, 50]) == Decimal("0.5")  # at least one household


@settings(deadline=None)  # a loaded CI machine may stall one example past the 200 ms default
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=40))
def test_gini_equals_the_pairwise_formula(values):
    total = sum(values)
    if total == 0:
        assert gini(values) is None
        return
    n = len(values)
    pairwise = Decimal(sum(abs(a - b) for a in values for b in values)) / Decimal(2 * n * total)
    assert abs(gini(values) - pairwise) <= Decimal("0.0001")


def test_a_township_year(world):
    today = dt.date(2026, 12, 4)
    a1 = [make_household(world.scheme, world.village_a1) for _ in range(3)]
    away = make_household(world.scheme, world.village_a1, status=HouseholdStatus.AWAY)
    unable = make_household(world.scheme, world.village_a2, status=HouseholdStatus.UNABLE)
    with at(dt.datetime(2026, 11, 20, 9, tzinfo=BEIJING)):
        _earn(world, a1[0], 30000)
        _earn(world, a1[1], 10000)
        _earn(world, away, 10000)
    with at(dt.datetime(2026, 9, 1, 9, tzinfo=BEIJING)):
        _earn(world, unable, 0 + 1)  # 新华村 last moved 1 September: idle by December
    chain_follow(scheme_id=world.scheme.pk)

    got = inclusion(
        scheme=world.scheme,
        region=world.township_a,
        period=period_parse("year", "2026", today),
        today=today,
    )
    whole = got.whole
    assert (whole.households, whole.earned) == (5, 4)
    assert whole.gini == gini([30000, 10000, 0, 10000, 1])
    assert whole.top_share == Decimal("0.6")  # top 10 % of 5: one household, 300 of 500.01
    assert (whole.away, whole.away_earned, whole.unable, whole.unable_earned) == (1, 1, 1, 1)
    names = {v.region.name: v for v in got.villages}
    assert names["晓光村"].households == 4 and names["晓光村"].last_moved == dt.date(2026, 11, 20)
    assert [v.region.name for v in got.idle_villages(today)] == ["新华村"]


def test_elderly_headed_households_from_the_id_numbers_year(world):
    today = dt.date(2026, 12, 4)
    old = make_household(
        world.scheme, world.village_a1, "老人", id_number=idcard.make("22082219660101123")
    )
    young = make_household(
        world.scheme, world.village_a1, "青年", id_number=idcard.make("22082219670101123")
    )
    make_household(world.scheme, world.village_a1, "无证")  # no ID number: not counted as elderly
    assert Member.objects.get(household=old).birth_year == 1966
    with at(dt.datetime(2026, 11, 20, 9, tzinfo=BEIJING)):
        _earn(world, old, 1000)
        _earn(world, young, 1000)
    chain_follow(scheme_id=world.scheme.pk)
    got = inclusion(
        scheme=world.scheme,
        region=world.village_a1,
        period=period_parse("year", "2026", today),
        today=today,
    ).whole
    # 1966: 60 this year (elderly); 1967: 59
    assert (got.elderly_headed, got.elderly_earned, got.households) == (1, 1, 3)
    assert got.elderly_share == Decimal("0.3333")


def test_the_migration_fills_the_year_of_birth_of_earlier_members(world):
    import importlib

    from django.apps import apps

    home = make_household(
        world.scheme, world.village_a1, "早登记", id_number=idcard.make("22082219450301123")
    )
    Member.objects.filter(household=home).update(birth_year=None)
    backfill = importlib.import_module(
        "civicpoints.households.migrations.0009_member_birth_year"
    ).backfill
    backfill(apps, None)
    assert Member.objects.get(household=home).birth_year == 1945
