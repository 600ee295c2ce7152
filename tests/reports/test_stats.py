"""Every figure of ``reports.stats`` equals the same figure computed straight from the ledger
(entries, accounts, households), for the county and for a township, on a small county with
every kind of posting, a reversal, and households of each status."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.utils import timezone

from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import AccountKind, Entry, PostingKind
from civicpoints.ledger.services import reverse
from civicpoints.reports.periods import period_parse
from civicpoints.reports.rollups import FLOW_OF, SIGN
from civicpoints.reports.stats import stats
from tests.factories import make_household
from tests.reports.test_flows import _move
from tests.reports.test_rollups import BEIJING, _claim_category, _earn, at

TODAY = dt.date(2026, 12, 4)


def _county(world):
    homes = {
        "王": make_household(world.scheme, world.village_a1, "王"),
        "李": make_household(world.scheme, world.village_a2, "李"),
        "赵": make_household(world.scheme, world.village_b1, "赵", status=HouseholdStatus.AWAY),
        "钱": make_household(world.scheme, world.village_b1, "钱", status=HouseholdStatus.UNABLE),
        "孙": make_household(world.scheme, world.village_a1, "孙"),  # never moves
    }
    moments = [
        dt.datetime(2026, 3, 5, 9, tzinfo=BEIJING),
        dt.datetime(2026, 11, 2, 9, tzinfo=BEIJING),
        dt.datetime(2026, 11, 30, 23, 59, tzinfo=BEIJING),
        dt.datetime(2025, 12, 31, 23, 59, tzinfo=BEIJING),  # last year: not in 2026
    ]
    for n, moment in enumerate(moments):
        with at(moment):
            award = _earn(
                world, homes["王"], 3000 + n, claim=_claim_category(world, homes["王"], "互助")
            )
            _earn(
                world, homes["李"], 2000 + n, claim=_claim_category(world, homes["李"], "环境卫生")
            )
            _earn(world, homes["赵"], 1000 + n)
            _earn(world, homes["王"], -(100 + n), kind=PostingKind.DEDUCTION)
            _move(world, homes["李"], PostingKind.REDEMPTION, -(300 + n), AccountKind.STORE)
            _move(world, homes["赵"], PostingKind.PAYMENT, -(200 + n), AccountKind.MERCHANT_PAYABLE)
            _move(world, homes["赵"], PostingKind.REFUND, 50, AccountKind.MERCHANT_PAYABLE)
            _move(world, homes["李"], PostingKind.EXPIRY, -(10 + n), AccountKind.EXPIRY)
            if n == 1:
                reverse(posting=award)
    chain_follow(scheme_id=world.scheme.pk)
    return homes


def _from_ledger(world, region, first, last):
    """The figures as the ledger has them."""
    tz = timezone.get_default_timezone()
    legs = Entry.objects.filter(
        scheme=world.scheme,
        account__kind=AccountKind.HOUSEHOLD,
        account__household__village__path__startswith=region.path,
    ).select_related("posting__reverses", "account__household")
    flows: dict[str, int] = defaultdict(int)
    taking_part: dict[str, set[int]] = defaultdict(set)
    for e in legs:
        day = e.posting.created_at.astimezone(tz).date()
        if not first <= day <= last:
            continue
        household = e.account.household
        taking_part[household.status].add(household.pk)
        base = e.posting.reverses.kind if e.posting.kind == PostingKind.REVERSAL else e.posting.kind
        if base in FLOW_OF:
            flows[FLOW_OF[base]] += SIGN[base] * e.amount
    balances = sum(e.amount for e in legs)
    return flows, taking_part, balances


def test_county_and_township_figures_equal_the_ledgers(world):
    _county(world)
    for region, kind, value, first, last in (
        (world.county, "year", "2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        (world.township_a, "month", "2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        (world.township_b, "all", "", dt.date(2000, 1, 1), TODAY),
    ):
        period = period_parse(kind, value, TODAY)
        got = stats(scheme=world.scheme, region=region, period=period, today=TODAY)
        flows, taking_part, balances = _from_ledger(world, region, first, last)
        assert {f: v for f, v in got.flows.items() if v} == {f: v for f, v in flows.items() if v}
        assert got.outstanding == balances
        h = got.households
        assert h.active_taking_part == len(taking_part[HouseholdStatus.ACTIVE]), region.name
        assert h.away_taking_part == len(taking_part[HouseholdStatus.AWAY])
        assert h.unable_taking_part == len(taking_part[HouseholdStatus.UNABLE])
        homes = Household.objects.filter(village__path__startswith=region.path)
        assert h.active == homes.filter(status=HouseholdStatus.ACTIVE).count()
        assert sum(t for _c, t in got.categories) == flows.get("awarded", 0)
        for child in got.children:
            child_flows, child_part, _ = _from_ledger(world, child.region, first, last)
            assert (child.awarded, child.redeemed) == (
                child_flows.get("awarded", 0),
                child_flows.get("redeemed", 0),
            )
            assert child.taking_part == sum(len(v) for v in child_part.values())
        # the trend's last month is the period's last month, as the ledger has it
        month, month_flows = got.trend[-1]
        assert month == last.replace(day=1)
        ledger_month, _, _ = _from_ledger(world, region, month, last)
        assert {f: v for f, v in month_flows.items() if v} == {
            f: v for f, v in ledger_month.items() if v
        }


def test_exact_numbers_for_the_county_year(world):
    _county(world)
    got = stats(
        scheme=world.scheme,
        region=world.county,
        period=period_parse("year", "2026", TODAY),
        today=TODAY,
    )
    # 王 3000, 3002 (3001 reversed); 李 2000..2002; 赵 1000..1002
    assert got.flows["awarded"] == 3000 + 3002 + 2000 + 2001 + 2002 + 1000 + 1001 + 1002
    assert got.flows["deducted"] == 100 + 101 + 102
    assert got.flows["refunded"] == 150
    assert got.households.active == 3 and got.households.active_taking_part == 2
    assert (got.households.away, got.households.away_taking_part) == (1, 1)
    assert (got.households.unable, got.households.unable_taking_part) == (1, 0)
    assert [c.region.name for c in got.children] == ["开通镇", "兴隆山镇"]
