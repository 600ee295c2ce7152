"""Each risk rule raised by a worked example, and not raised by its near miss."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicpoints.audit.services import audit_record
from civicpoints.risk.models import EvidenceKind, RiskRule
from civicpoints.risk.services import risk_settings_update
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.services import Item, redeem, stock_count
from tests.factories import World, fund, make_household, make_staff
from tests.merchants.conftest import build_till
from tests.merchants.helpers import pay, refund
from tests.risk.conftest import (
    approved_claim,
    code_guessing_row,
    make_rule,
    quiet_day,
    scan,
)
from tests.stores.conftest import PIN, build_shop

pytestmark = pytest.mark.django_db


def evidence(flag, kind: str) -> list[int]:
    return sorted(flag.evidence.filter(kind=kind).values_list("object_id", flat=True))


class Village:
    def __init__(self, world: World) -> None:
        self.world = world
        self.admin = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
        self.grid = make_staff("grid", Role.GRID_WORKER, world.village_a1, world.scheme)
        self.county = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
        self.admin_actor = actor_for_user(self.admin)
        self.grid_actor = actor_for_user(self.grid)
        self.county_actor = actor_for_user(self.county)


# --- 1. own household or same address ------------------------------------------------------


def test_staff_approving_their_own_household_is_flagged(world: World) -> None:
    v = Village(world)
    home = make_household(world.scheme, world.village_a1, "李村长家", address="晓光村3组12号")
    neighbour = make_household(world.scheme, world.village_a1, "李二", address="晓光村3组12号")
    v.admin.household = home
    v.admin.save(update_fields=["household"])
    rule = make_rule(world.scheme, "A1", 500)
    own = approved_claim(proposer=v.grid_actor, approver=v.admin_actor, household=home, rule=rule)
    same = approved_claim(
        proposer=v.grid_actor, approver=v.admin_actor, household=neighbour, rule=rule
    )

    flags = scan(world.scheme)

    assert [(f.rule, f.subject) for f in flags] == [
        (RiskRule.OWN_HOUSEHOLD, f"staff:{v.admin.pk}/household:{home.pk}"),
        (RiskRule.OWN_HOUSEHOLD, f"staff:{v.admin.pk}/household:{neighbour.pk}"),
    ]
    assert flags[0].detail["how"] == "own" and flags[1].detail["how"] == "address"
    assert evidence(flags[0], EvidenceKind.CLAIM) == [own.pk]
    assert evidence(flags[1], EvidenceKind.CLAIM) == [same.pk]
    assert flags[0].region_id == world.village_a1.pk


def test_near_miss_other_household_other_address(world: World) -> None:
    v = Village(world)
    home = make_household(world.scheme, world.village_a1, "李村长家", address="晓光村3组12号")
    other = make_household(world.scheme, world.village_a1, "王五", address="晓光村3组14号")
    nowhere = make_household(world.scheme, world.village_a1, "赵六", address="")
    v.admin.household = home
    v.admin.save(update_fields=["household"])
    rule = make_rule(world.scheme, "A1", 500)
    approved_claim(proposer=v.grid_actor, approver=v.admin_actor, household=other, rule=rule)
    approved_claim(proposer=v.grid_actor, approver=v.admin_actor, household=nowhere, rule=rule)
    # Proposed for the own household by the admin, but approved by somebody else.
    other_admin = make_staff("cun2", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    approved_claim(
        proposer=v.grid_actor, approver=actor_for_user(other_admin), household=home, rule=rule
    )

    assert scan(world.scheme) == []


# --- 2. claims split under the township's threshold ----------------------------------------


def _last_week() -> dt.date:
    today = timezone.localdate()
    return today - dt.timedelta(days=today.weekday() + 7)


def test_claims_split_under_the_township_threshold_are_flagged(world: World) -> None:
    v = Village(world)
    household = make_household(world.scheme, world.village_a1)
    # Above 100 points the township must approve too; 3 x 40 = 120 in one week never went there.
    rule = make_rule(world.scheme, "B1", 4000, approval_level="township", township_threshold=10000)
    monday = _last_week()
    claims = [
        approved_claim(
            proposer=v.grid_actor,
            approver=v.admin_actor,
            household=household,
            rule=rule,
            day=monday + dt.timedelta(days=i),
        )
        for i in range(3)
    ]
    assert not any(c.needs_township for c in claims)

    [flag] = scan(world.scheme)

    assert flag.rule == RiskRule.SPLIT_CLAIMS
    assert flag.detail["points"] == 12000 and flag.detail["threshold"] == 10000
    assert flag.period == f"{monday.isocalendar()[0]}-W{monday.isocalendar()[1]:02d}"
    assert evidence(flag, EvidenceKind.CLAIM) == sorted(c.pk for c in claims)


def test_near_miss_split_total_within_threshold(world: World) -> None:
    v = Village(world)
    household = make_household(world.scheme, world.village_a1)
    rule = make_rule(world.scheme, "B1", 3000, approval_level="township", township_threshold=10000)
    monday = _last_week()
    for i in range(3):  # 3 x 30 = 90 points: under the threshold even together
        approved_claim(
            proposer=v.grid_actor,
            approver=v.admin_actor,
            household=household,
            rule=rule,
            day=monday + dt.timedelta(days=i),
        )
    assert scan(world.scheme) == []


# --- 3. one approver's awards bunched at caps -------------------------------------------------


def test_approver_awards_bunched_at_the_cap_are_flagged(world: World) -> None:
    v = Village(world)
    risk_settings_update(
        actor=v.county_actor, scheme=world.scheme, values={"bunching_min_claims": 5}
    )
    rule = make_rule(world.scheme, "C1", 1000, unit="bottle", cap_day=3000)
    claims = [
        approved_claim(
            proposer=v.grid_actor,
            approver=v.admin_actor,
            household=make_household(world.scheme, world.village_a1),
            rule=rule,
            quantity=3 if i < 4 else 1,  # 4 of 5 at the daily cap of 30 points
            day=quiet_day(),
        )
        for i in range(5)
    ]

    [flag] = scan(world.scheme)

    assert flag.rule == RiskRule.APPROVER_BUNCHING
    assert flag.subject == f"staff:{v.admin.pk}"
    assert (flag.detail["claims"], flag.detail["at_cap"], flag.detail["cap_hit"]) == (5, 4, True)
    assert evidence(flag, EvidenceKind.CLAIM) == sorted(c.pk for c in claims[:4])


def test_near_miss_few_awards_at_the_cap(world: World) -> None:
    v = Village(world)
    risk_settings_update(
        actor=v.county_actor, scheme=world.scheme, values={"bunching_min_claims": 5}
    )
    rule = make_rule(world.scheme, "C1", 1000, unit="bottle", cap_day=3000)
    for i in range(5):  # 2 of 5 at the cap: 40 % < 60 %
        approved_claim(
            proposer=v.grid_actor,
            approver=v.admin_actor,
            household=make_household(world.scheme, world.village_a1),
            rule=rule,
            quantity=3 if i < 2 else 1,
            day=quiet_day(),
        )
    assert scan(world.scheme) == []


def test_approver_awards_bunched_at_month_end_are_flagged(world: World) -> None:
    v = Village(world)
    risk_settings_update(
        actor=v.county_actor, scheme=world.scheme, values={"bunching_min_claims": 5}
    )
    rule = make_rule(world.scheme, "C2", 1000)
    month_end = timezone.localdate().replace(day=1) - dt.timedelta(days=1)  # last month's end
    for i in range(5):
        approved_claim(
            proposer=v.grid_actor,
            approver=v.admin_actor,
            household=make_household(world.scheme, world.village_a1),
            rule=rule,
            day=month_end - dt.timedelta(days=i % 3) if i < 3 else quiet_day(),
        )
    # Last month has 3 claims, all at its end, but under the minimum of 5 claims a month.
    assert scan(world.scheme) == []
    risk_settings_update(
        actor=v.county_actor, scheme=world.scheme, values={"bunching_min_claims": 3}
    )
    [flag] = scan(world.scheme)
    assert (flag.period, flag.detail["at_end"], flag.detail["end_hit"]) == (
        f"{month_end:%Y-%m}",
        3,
        True,
    )


# --- 4. assisted redemptions without PIN ---------------------------------------------------


def _redemptions(world: World, assisted: int) -> object:
    shop = build_shop(world)
    for i in range(10):
        redeem(
            actor=shop.clerk_actor,
            store=shop.store,
            household=shop.household,
            items=[Item(shop.cooker.pk, 1)],
            pin=None if i < assisted else PIN,
            assisted_reason="老人忘记密码，本人在场" if i < assisted else "",
        )
    return shop


def test_clerk_with_many_assisted_redemptions_is_flagged(world: World) -> None:
    shop = _redemptions(world, assisted=4)  # 4 of 10 without PIN: 40 % > 30 %

    [flag] = scan(world.scheme)

    assert flag.rule == RiskRule.ASSISTED_SHARE
    assert flag.subject == f"staff:{shop.clerk.pk}"
    assert (flag.detail["redemptions"], flag.detail["assisted"]) == (10, 4)
    assert len(evidence(flag, EvidenceKind.REDEMPTION)) == 4
    assert flag.region_id == world.township_a.pk


def test_near_miss_assisted_share_at_the_limit(world: World) -> None:
    _redemptions(world, assisted=3)  # 30 %: not above the share
    assert scan(world.scheme) == []


# --- 5. merchant cash-out patterns ---------------------------------------------------------


def _payers(world: World, n: int) -> list:
    households = []
    for _i in range(n):
        h = make_household(world.scheme, world.village_a1)
        fund(h, 100_000)
        households.append(h)
    return households


def test_many_households_paying_round_amounts_just_under_the_limit(world: World) -> None:
    till = build_till(world)
    now = timezone.now()
    payments = [
        pay(till, 19_000 + 1000 * (i % 2), now - dt.timedelta(minutes=i), household=h)
        for i, h in enumerate(_payers(world, 5))  # 190 or 200 points; the limit is 200
    ]

    [flag] = scan(world.scheme)

    assert flag.rule == RiskRule.ROUND_PAYMENTS
    assert flag.detail["households"] == 5
    assert evidence(flag, EvidenceKind.PAYMENT) == sorted(p.pk for p in payments)


def test_near_miss_amounts_not_round_or_not_near(world: World) -> None:
    till = build_till(world)
    now = timezone.now()
    amounts = [19_050, 15_000, 20_100, 19_000, 20_000]  # only two round and near
    for i, h in enumerate(_payers(world, 5)):
        pay(till, amounts[i], now - dt.timedelta(minutes=i), household=h)
    assert scan(world.scheme) == []


def test_payment_then_refund_to_another_household(world: World) -> None:
    till = build_till(world)
    giver, taker = _payers(world, 2)
    now = timezone.now()
    earlier = pay(till, 5_000, now - dt.timedelta(days=2), household=taker)
    cashed = pay(till, 5_000, now - dt.timedelta(minutes=30), household=giver)
    back = refund(till, earlier, 5_000, now - dt.timedelta(minutes=10))

    [flag] = scan(world.scheme)

    assert flag.rule == RiskRule.REFUND_TRANSFER
    assert (flag.detail["paid_by"], flag.detail["refunded_to"]) == (giver.pk, taker.pk)
    assert evidence(flag, EvidenceKind.PAYMENT) == sorted([earlier.pk, cashed.pk])
    assert evidence(flag, EvidenceKind.REFUND) == [back.pk]


def test_near_miss_refund_to_the_payer_or_later(world: World) -> None:
    till = build_till(world)
    giver, taker = _payers(world, 2)
    now = timezone.now()
    mine = pay(till, 5_000, now - dt.timedelta(minutes=40), household=taker)
    refund(till, mine, 5_000, now - dt.timedelta(minutes=35))  # own payment, nobody else paid
    # Another household paid the same, but three hours before the refund (window: 2 hours).
    earlier = pay(till, 3_000, now - dt.timedelta(days=1), household=taker)
    pay(till, 3_000, now - dt.timedelta(hours=3), household=giver)
    refund(till, earlier, 3_000, now - dt.timedelta(minutes=1))
    assert scan(world.scheme) == []


def _merchants(world: World, till: object, n: int) -> list:
    from civicpoints.merchants.services import merchant_create

    made = []
    for i in range(n):
        made.append(
            merchant_create(
                actor=till.admin_actor,
                scheme_id=world.scheme.pk,
                legal_name=f"同行商店{i}",
                shop_name=f"同行商店{i}",
                bank_name="中国农业银行通榆支行",
                account_name=f"同行商店{i}",
                bank_account="6228 4801 2345 6789 012",
                regions=[world.township_a],
                clerk_ids=[till.cashier.pk],
            )
        )
    return made


@pytest.mark.parametrize("big, flagged", [(700_000, True), (290_000, False)])
def test_takings_far_above_peers(world: World, big: int, flagged: bool) -> None:
    till = build_till(world, balance=0)
    peers = _merchants(world, till, 2)
    payers = _payers(world, 3)
    for h in payers:
        fund(h, 1_000_000)
    now = timezone.now()
    pay(till, big, now - dt.timedelta(minutes=5), household=payers[0])
    for i, m in enumerate(peers):
        pay(till, 100_000, now - dt.timedelta(minutes=i + 1), household=payers[i + 1], merchant=m)

    flags = scan(world.scheme)

    if flagged:  # 7,000 points against peers' median of 1,000: more than 3 times
        [flag] = flags
        assert flag.rule == RiskRule.MERCHANT_OUTLIER
        assert (flag.detail["points"], flag.detail["peer_median"]) == (700_000, 100_000)
        assert evidence(flag, EvidenceKind.MERCHANT) == [till.merchant.pk]
    else:  # 2,900 points: under 3 times the median (and under the 5,000-point minimum)
        assert flags == []


# --- 6. stock written off without a reason -------------------------------------------------


def test_stock_written_off_without_a_reason(world: World) -> None:
    shop = build_shop(world)
    move = stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=7, reason="无")

    [flag] = scan(world.scheme)

    assert flag.rule == RiskRule.WRITEOFF_NO_REASON
    assert (flag.detail["quantity"], flag.detail["points"]) == (3, 60_000)
    assert evidence(flag, EvidenceKind.STOCK_MOVE) == [move.pk]
    assert evidence(flag, EvidenceKind.STAFF) == [shop.clerk.pk]


def test_near_miss_write_off_with_a_reason_or_stock_found(world: World) -> None:
    shop = build_shop(world)
    stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=7, reason="受潮损坏3个")
    stock_count(actor=shop.clerk_actor, product=shop.rice, counted=55, reason="无")  # more found
    assert scan(world.scheme) == []


# --- 7. payment-code guessing ----------------------------------------------------------------


def test_a_code_guessing_burst_raises_one_flag_per_audit_row(world: World) -> None:
    till = build_till(world)
    rows = [
        code_guessing_row(
            scheme_id=world.scheme.pk,
            merchant_id=till.merchant.pk,
            cashier_id=till.cashier.pk,
            count=n,
        )
        for n in (12, 30)
    ]

    flags = scan(world.scheme)

    assert [(f.rule, f.subject, f.detail["count"]) for f in flags] == [
        (RiskRule.CODE_GUESSING, f"audit:{rows[0].pk}", 12),
        (RiskRule.CODE_GUESSING, f"audit:{rows[1].pk}", 30),
    ]
    assert evidence(flags[0], EvidenceKind.STAFF) == [till.cashier.pk]
    assert evidence(flags[0], EvidenceKind.MERCHANT) == [till.merchant.pk]


def test_near_miss_ordinary_invalid_code_is_not_a_burst(world: World) -> None:
    till = build_till(world)
    audit_record(
        actor_id=till.cashier.pk,
        scheme_id=world.scheme.pk,
        action="merchant.payment",
        obj=till.merchant,
        detail={"merchant": till.merchant.pk},
    )
    # A burst in another scheme is that scheme's business.
    code_guessing_row(
        scheme_id=world.other_scheme.pk,
        merchant_id=till.merchant.pk,
        cashier_id=till.cashier.pk,
        count=50,
    )
    assert scan(world.scheme) == []
