"""Caps, duplicates, quotas, disqualification, approvals: each refusal has its own code and
changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus, VillageQuota
from civicpoints.awards.services import (
    claim_approve,
    claim_reject,
    claim_submit,
    quota_set,
)
from civicpoints.awards.services.claims import NewClaim, claim_create
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.standing import household_disqualify
from civicpoints.rules.services import rule_change
from tests.awards.conftest import with_photo
from tests.factories import make_household

NOV2 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda value=None: dt.date(2026, 11, 2))


def submit(earning, household, code, quantity, day=dt.date(2026, 11, 1), **kw):
    kw.setdefault("note", "说明")
    kw.setdefault("witness", "证明人")
    return claim_submit(
        actor=earning.village_admin,
        household=household,
        rule_id=earning.rules[code].pk,
        quantity=quantity,
        occurred_on=day,
        **kw,
    )


def state(claim: Claim) -> tuple:
    claim.refresh_from_db()
    return claim.status, claim.notice_ends_at, ClaimEvent.objects.filter(claim=claim).count()


def refused(earning, claim, code: ErrorCode, actor=None) -> ApplicationError:
    before = state(claim)
    with pytest.raises(ApplicationError) as err:
        claim_approve(actor=actor or earning.village_admin, claim=claim, at=NOV2)
    assert err.value.code == code, err.value.message
    assert state(claim) == before
    return err.value


def test_daily_cap(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    first = submit(earning, h, "P01", 6)  # 抢险救灾 20/h, cap 160/day: 120
    claim_approve(actor=earning.village_admin, claim=first, at=NOV2)
    # the same rule on another day is fine; on the same day 3 more hours would make 180
    second = submit(earning, h, "P01", 3, day=dt.date(2026, 10, 31))
    claim_approve(actor=earning.village_admin, claim=second, at=NOV2)
    third = with_photo(submit(earning, h, "V01", 9))  # 志愿服务 10/h, cap 80/day: 90 alone is over
    error = refused(earning, third, ErrorCode.CAP_EXCEEDED)
    assert error.detail == {"period": "day", "cap": 80.0, "used": 0.0, "requested": 90.0}
    assert "每日上限 80 分" in error.message


def test_yearly_cap_counts_claims_on_notice_and_posted(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    first = submit(earning, h, "F01", 1, day=dt.date(2026, 3, 8))  # 好媳妇 100, cap 100/year
    claim_approve(actor=earning.village_admin, claim=first, at=NOV2)
    again = submit(earning, h, "F01", 1, day=dt.date(2026, 9, 9))
    error = refused(earning, again, ErrorCode.CAP_EXCEEDED)
    assert error.detail["period"] == "year"
    # a rejected claim no longer counts
    claim_reject(actor=earning.village_admin, claim=first, reason="重复评选")
    claim_approve(actor=earning.village_admin, claim=again, at=NOV2)
    assert state(again)[0] == ClaimStatus.ON_NOTICE


def test_duplicate_same_rule_household_and_day(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    first = submit(earning, h, "B01", 30)
    claim_approve(actor=earning.village_admin, claim=first, at=NOV2)
    second = submit(earning, h, "B01", 20)
    error = refused(earning, second, ErrorCode.DUPLICATE_CLAIM)
    assert error.detail["claim"] == first.pk


def test_village_quota(earning):
    quota_set(
        actor=earning.county_admin,
        scheme=earning.scheme,
        village=earning.world.village_a1,
        year=2026,
        points=5000,
    )
    a = make_household(earning.scheme, earning.world.village_a1)
    b = make_household(earning.scheme, earning.world.village_a1)
    claim_approve(actor=earning.village_admin, claim=submit(earning, a, "B01", 40), at=NOV2)
    over = submit(earning, b, "B01", 11)
    error = refused(earning, over, ErrorCode.QUOTA_EXCEEDED)
    assert error.detail == {"quota": 50.0, "used": 40.0, "requested": 11.0}
    # deductions never count against the quota
    deduction = with_photo(submit(earning, b, "D02", 1))
    claim_approve(actor=earning.village_admin, claim=deduction, at=NOV2)
    assert VillageQuota.objects.get().points == 5000


def test_disqualified_household_cannot_earn(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    household_disqualify(
        actor=earning.village_admin,
        household=h,
        reason="违规建房拒不整改",
        starts_on=dt.date(2026, 10, 1),
        ends_on=dt.date(2026, 12, 31),
    )
    claim = submit(earning, h, "B01", 10)
    error = refused(earning, claim, ErrorCode.DISQUALIFIED)
    assert error.detail == {"until": "2026-12-31", "reason": "违规建房拒不整改"}
    before_ban = submit(earning, h, "B01", 10, day=dt.date(2026, 9, 30))
    claim_approve(actor=earning.village_admin, claim=before_ban, at=NOV2)


def test_township_review_needs_another_person(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    claim = submit(earning, h, "F02", 1)  # 最美家庭 200 > 150: township too
    claim_approve(actor=earning.county_admin, claim=claim, at=NOV2)
    assert state(claim)[0] == ClaimStatus.APPROVED
    refused(earning, claim, ErrorCode.PERMISSION_DENIED, actor=earning.village_admin)
    refused(earning, claim, ErrorCode.SAME_APPROVER, actor=earning.county_admin)
    claim_approve(actor=earning.township_admin, claim=claim, at=NOV2)
    assert state(claim)[0] == ClaimStatus.ON_NOTICE


def test_photo_required_before_approval(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    claim = submit(earning, h, "E02", 1)
    refused(earning, claim, ErrorCode.EVIDENCE_REQUIRED)


def test_rule_change_applies_to_claims_made_after_it(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    before = submit(earning, h, "B01", 100)
    new_version = rule_change(actor_id=None, rule=earning.rules["B01"], points_per_unit=50)
    after = submit(earning, h, "B01", 100, day=dt.date(2026, 10, 30))
    assert (before.rule_id, before.points) == (earning.rules["B01"].pk, 10000)
    assert (after.rule_id, after.points) == (new_version.pk, 5000)


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (0, "数量必须大于0"),
        (Decimal("-1"), "数量必须大于0"),
        (Decimal("1.5"), "该细则按整数计数"),
        (Decimal("0.001"), "数量最多两位小数"),
        (Decimal("NaN"), "数量必须大于0"),
    ],
)
def test_bad_quantities(earning, quantity, message):
    h = make_household(earning.scheme, earning.world.village_a1)
    with pytest.raises(ApplicationError) as err:
        submit(earning, h, "B01", quantity)
    assert err.value.message == message
    assert Claim.objects.count() == 0


def test_grid_worker_cannot_claim_outside_the_grid(earning):
    other = make_household(earning.scheme, earning.world.village_a2)
    with pytest.raises(ApplicationError) as err:
        claim_submit(
            actor=earning.grid_worker,
            household=other,
            rule_id=earning.rules["B01"].pk,
            quantity=1,
        )
    assert err.value.code == ErrorCode.PERMISSION_DENIED
    assert Claim.objects.count() == 0


def test_an_imported_claim_duplicates_a_typed_one(earning):
    h = make_household(earning.scheme, earning.world.village_a1)
    typed = submit(earning, h, "B01", 10)
    claim_approve(actor=earning.village_admin, claim=typed, at=NOV2)
    imported = claim_create(
        NewClaim(
            household=h,
            rule=earning.rules["B01"],
            quantity=Decimal(10),
            occurred_on=dt.date(2026, 11, 1),
            source="import",
            origin_ref="import:abc",
        )
    )
    refused(earning, imported, ErrorCode.DUPLICATE_CLAIM)
