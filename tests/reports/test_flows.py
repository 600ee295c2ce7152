"""The county's flows (RegionDay) and who took part (Participation), kept by the journal
follower: one day of every kind of posting with exact numbers, a reversal taking its posting
back, and the rebuild from the ledger agreeing row for row."""

from __future__ import annotations

import datetime as dt

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import AccountKind, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, reverse, system_account
from civicpoints.reports.models import Participation, RegionDay
from civicpoints.reports.rollups import rollups_differences, rollups_rebuild
from tests.factories import make_household
from tests.reports.test_rollups import BEIJING, _claim_category, _earn, at

DAY = dt.datetime(2026, 11, 30, 10, 0, tzinfo=BEIJING)


def _move(world, household, kind, hundredths, other_kind):
    """A household leg of ``hundredths`` (negative: out) against a system account."""
    other = system_account(scheme_id=world.scheme.pk, kind=other_kind, owner_ref="x")
    return post(
        scheme_id=world.scheme.pk,
        kind=kind,
        legs=[Leg(household_account(household=household), hundredths), Leg(other, -hundredths)],
    )


def _rows(world):
    return {
        (r.village.name, r.category, r.flow): (r.amount, r.postings)
        for r in RegionDay.objects.filter(scheme=world.scheme).select_related("village")
    }


def test_a_day_of_every_flow_with_exact_numbers(world):
    wang = make_household(world.scheme, world.village_a1, "王秀英")
    li = make_household(world.scheme, world.village_a2, "李桂兰")
    zhao = make_household(world.scheme, world.village_a1, "赵没动")  # nothing: not taking part
    with at(DAY):
        award = _earn(world, wang, 1500, claim=_claim_category(world, wang, "互助"))
        reverse(posting=award)  # the award taken back the same day
        _earn(world, wang, 2000)
        _earn(world, li, 4000)
        _earn(world, wang, -500, kind=PostingKind.DEDUCTION)
        _earn(world, li, -100, kind=PostingKind.ADJUSTMENT)
        _move(world, wang, PostingKind.REDEMPTION, -300, AccountKind.STORE)
        _move(world, li, PostingKind.PAYMENT, -200, AccountKind.MERCHANT_PAYABLE)
        _move(world, li, PostingKind.REFUND, 50, AccountKind.MERCHANT_PAYABLE)
        _move(world, li, PostingKind.EXPIRY, -400, AccountKind.EXPIRY)
    chain_follow(scheme_id=world.scheme.pk)

    assert _rows(world) == {
        ("晓光村", "互助", "awarded"): (0, 0),  # 15 awarded, then reversed
        ("晓光村", "", "awarded"): (2000, 1),
        ("晓光村", "", "deducted"): (500, 1),
        ("晓光村", "", "redeemed"): (300, 1),
        ("新华村", "", "awarded"): (4000, 1),
        ("新华村", "", "adjusted"): (-100, 1),
        ("新华村", "", "paid"): (200, 1),
        ("新华村", "", "refunded"): (50, 1),
        ("新华村", "", "expired"): (400, 1),
    }
    took_part = set(
        Participation.objects.filter(kind="month").values_list("household__head_name", "start")
    )
    assert took_part == {("王秀英", dt.date(2026, 11, 1)), ("李桂兰", dt.date(2026, 11, 1))}
    assert not Participation.objects.filter(household=zhao).exists()
    assert Participation.objects.filter(household=wang).count() == 4  # month, quarter, year, all
    assert rollups_differences(scheme_id=world.scheme.pk) == []
    before = _rows(world)
    rollups_rebuild(scheme_id=world.scheme.pk)
    assert _rows(world) == before
    assert Participation.objects.count() == 8
