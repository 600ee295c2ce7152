"""Rollups kept by the journal follower: a worked example with exact numbers, the day in
Beijing time, exactly once per posting, and ``rollup --rebuild`` agreeing exactly with what
the follower kept after a random mix of postings and reversals (Hypothesis)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicpoints.households.models import Member
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import AccountKind, Posting, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, reverse, system_account
from civicpoints.reports.models import HouseholdDay, Standing
from civicpoints.reports.rollups import rollups_differences, rollups_rebuild
from tests.factories import build_world, make_household

BEIJING = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 30)


@contextmanager
def at(moment: dt.datetime) -> Iterator[None]:
    """Postings made inside are dated ``moment`` (post() reads timezone.now())."""
    real = timezone.now
    timezone.now = lambda: moment  # type: ignore[assignment]
    try:
        yield
    finally:
        timezone.now = real  # type: ignore[assignment]


def _claim_category(world, household, category: str) -> int:
    """A claim on a rule of ``category``: what an award's ref names."""
    from civicpoints.awards.models import Claim
    from tests.risk.conftest import make_rule

    rule = make_rule(world.scheme, f"R{Claim.objects.count() + 1}", 1500, category=category)
    claim = Claim.objects.create(
        scheme=world.scheme,
        household=household,
        village_id=household.village_id,
        rule=rule,
        quantity=1,
        points=1500,
        occurred_on=DAY,
        source="staff",
    )
    return int(claim.pk)


def _earn(world, household, hundredths, *, kind=PostingKind.AWARD, claim=None, member=None):
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    return post(
        scheme_id=world.scheme.pk,
        kind=kind,
        legs=[
            Leg(issuance, -hundredths),
            Leg(household_account(household=household), hundredths, member),
        ],
        ref=("claim", claim) if claim else ("", ""),
    )


def _rows(scheme_id: int) -> set[tuple]:
    return {
        (r.day, r.household_id, r.category, r.member_id, r.points, r.postings, r.village_id)
        for r in HouseholdDay.objects.filter(scheme_id=scheme_id)
    }


def test_a_day_of_earning_rolled_up_with_exact_numbers(world):
    wang = make_household(world.scheme, world.village_a1, "王秀英")
    li = make_household(world.scheme, world.village_b1, "李桂兰")
    daughter = Member.objects.create(scheme=world.scheme, household=wang, name="王小红")
    harvest = _claim_category(world, wang, "互助")
    courtyard = _claim_category(world, wang, "环境卫生")
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")

    # 23:30 on the 30th and 00:30 on the 1st, Beijing time: two days, though both are the
    # same UTC day (the 30th)
    with at(dt.datetime(2026, 11, 1, 9, 0, tzinfo=BEIJING)):
        _earn(world, li, 500)  # earlier in the month: 5 points
    late = dt.datetime(2026, 11, 30, 23, 30, tzinfo=BEIJING)
    with at(late):
        _earn(world, wang, 4500, claim=harvest, member=daughter.pk)  # 3 hours: 45 points
        wrong = _earn(world, wang, 1000, claim=courtyard)
        _earn(world, li, -300, kind=PostingKind.DEDUCTION, claim=None)  # a deduction: -3
        post(  # spending is not earning
            scheme_id=world.scheme.pk,
            kind=PostingKind.REDEMPTION,
            legs=[Leg(household_account(household=wang), -2000), Leg(store, 2000)],
        )
    with at(late + dt.timedelta(hours=1)):
        reverse(posting=wrong)  # the courtyard award undone the next morning
        _earn(world, li, 1500, kind=PostingKind.ADJUSTMENT)  # a make-up entry: +15

    assert chain_follow(scheme_id=world.scheme.pk) == 7
    next_day = dt.date(2026, 12, 1)
    a1, b1 = world.village_a1.pk, world.village_b1.pk
    assert _rows(world.scheme.pk) == {
        (dt.date(2026, 11, 1), li.pk, "", 0, 500, 1, b1),
        (DAY, wang.pk, "互助", daughter.pk, 4500, 1, a1),
        (DAY, wang.pk, "环境卫生", 0, 1000, 1, a1),
        (DAY, li.pk, "", 0, -300, 1, b1),
        (next_day, wang.pk, "环境卫生", 0, -1000, -1, a1),
        (next_day, li.pk, "", 0, 1500, 1, b1),
    }

    # the periods' totals: November, December, the quarter and the year, household and member
    standing = {
        (r.kind, r.start, r.household_id, r.member_id): r.points
        for r in Standing.objects.filter(scheme=world.scheme)
    }
    nov, dec, q4, y26 = (
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 1),
        dt.date(2026, 10, 1),
        dt.date(2026, 1, 1),
    )
    assert standing[("month", nov, wang.pk, 0)] == 5500
    assert standing[("month", dec, wang.pk, 0)] == -1000
    assert standing[("quarter", q4, wang.pk, 0)] == 4500
    assert standing[("year", y26, wang.pk, daughter.pk)] == 4500
    assert standing[("month", nov, li.pk, 0)] == 200
    assert standing[("all", dt.date(2000, 1, 1), li.pk, 0)] == 1700
    assert ("year", y26, li.pk, daughter.pk) not in standing

    # following again adds nothing; the ledger agrees; a rebuild writes the same rows
    assert chain_follow(scheme_id=world.scheme.pk) == 0
    kept = _rows(world.scheme.pk)
    assert rollups_differences(scheme_id=world.scheme.pk) == []
    assert rollups_rebuild(scheme_id=world.scheme.pk) == 6
    assert _rows(world.scheme.pk) == kept
    assert {
        (r.kind, r.start, r.household_id, r.member_id): r.points
        for r in Standing.objects.filter(scheme=world.scheme)
    } == standing


def test_the_command_finds_a_difference_and_a_rebuild_mends_it(world):
    h = make_household(world.scheme, world.village_a1, "赵淑珍")
    _earn(world, h, 1500)
    out = StringIO()
    call_command("rollup", stdout=out)
    assert "汇总与账本一致" in out.getvalue()

    HouseholdDay.objects.filter(household=h).update(points=99)
    with pytest.raises(CommandError, match="rollup --rebuild"):
        call_command("rollup", stdout=StringIO())

    out = StringIO()
    call_command("rollup", "--rebuild", stdout=out)
    assert "已从账本重建汇总 1 行" in out.getvalue()
    assert HouseholdDay.objects.get(household=h).points == 1500
    with pytest.raises(CommandError, match="999"):
        call_command("rollup", "--scheme", "999", stdout=StringIO())


# --- rebuild equals the follower's rollups after any mix ------------------------------------

HOUSEHOLDS = 3
step = st.one_of(
    st.tuples(
        st.just("earn"),
        st.integers(0, HOUSEHOLDS - 1),
        st.integers(1, 5000),
        st.integers(0, 47),  # hours after the first day's start, Beijing time
        st.sampled_from([PostingKind.AWARD, PostingKind.DEDUCTION, PostingKind.ADJUSTMENT]),
        st.booleans(),  # names a claim
    ),
    st.tuples(st.just("spend"), st.integers(0, HOUSEHOLDS - 1), st.integers(1, 500)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.integers(0, 47)),
    st.tuples(st.just("follow"), st.integers(1, 3)),
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_a_rebuild_equals_the_follower_after_any_mix(steps):
    with transaction.atomic():
        world = build_world()
        households = [make_household(world.scheme, world.village_a1) for _ in range(HOUSEHOLDS)]
        for h in households:
            with at(dt.datetime(2026, 11, 1, tzinfo=BEIJING)):
                _earn(world, h, 1_000_000)  # enough to spend and be deducted
        claims = [_claim_category(world, h, f"类{i}") for i, h in enumerate(households)]
        store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s")
        start = dt.datetime(2026, 11, 29, tzinfo=BEIJING)
        expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        made: list[tuple[Posting, tuple | None]] = []
        for s in steps:
            if s[0] == "earn":
                _, i, amount, hour, kind, with_claim = s
                amount = -amount if kind == PostingKind.DEDUCTION else amount
                moment = start + dt.timedelta(hours=hour)
                with at(moment):
                    p = _earn(
                        world,
                        households[i],
                        amount,
                        kind=kind,
                        claim=claims[i] if with_claim else None,
                    )
                key = (moment.date(), households[i].pk, f"类{i}" if with_claim else "", 0)
                expected[key][0] += amount
                expected[key][1] += 1
                made.append((p, key))
            elif s[0] == "spend":
                spent = post(
                    scheme_id=world.scheme.pk,
                    kind=PostingKind.REDEMPTION,
                    legs=[
                        Leg(household_account(household=households[s[1]]), -s[2]),
                        Leg(store, s[2]),
                    ],
                )
                made.append((spent, None))  # flows only: nothing earned
            elif s[0] == "reverse" and made:
                p, key = made[s[1] % len(made)]
                if Posting.objects.filter(reverses=p).exists():
                    continue
                moment = start + dt.timedelta(hours=s[2])
                with at(moment):
                    reverse(posting=p)
                if key is None:
                    continue
                back = (moment.date(), *key[1:])
                expected[back][0] -= _household_leg(p)
                expected[back][1] -= 1
            elif s[0] == "follow":
                chain_follow(scheme_id=world.scheme.pk, batch=s[1], max_batches=1)
        chain_follow(scheme_id=world.scheme.pk)

        funding = dt.date(2026, 11, 1)
        kept = {
            (r.day, r.household_id, r.category, r.member_id): [r.points, r.postings]
            for r in HouseholdDay.objects.filter(scheme_id=world.scheme.pk)
            if r.day != funding
        }
        assert kept == {k: v for k, v in expected.items()}
        assert rollups_differences(scheme_id=world.scheme.pk) == []
        before = _rows(world.scheme.pk)
        rollups_rebuild(scheme_id=world.scheme.pk)
        assert _rows(world.scheme.pk) == before
        transaction.set_rollback(True)


def _household_leg(posting: Posting) -> int:
    return int(
        posting.entries.filter(account__kind=AccountKind.HOUSEHOLD).values_list(
            "amount", flat=True
        )[0]
    )
