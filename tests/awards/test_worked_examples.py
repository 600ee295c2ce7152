"""Worked examples of earning, with exact numbers and the ledger's invariants at the end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicpoints.awards.models import ClaimEvent, ClaimStatus, OwedDeduction
from civicpoints.awards.selectors import notice_claims, owed_total
from civicpoints.awards.services import (
    claim_approve,
    claim_object,
    claim_submit,
    notices_finalize,
)
from civicpoints.awards.services.claims import NewClaim, claim_create
from civicpoints.households.sms import MemoryBackend
from civicpoints.ledger.selectors import household_balance
from tests.awards.conftest import MONDAY, with_photo
from tests.factories import fund, make_household
from tests.ledger.helpers import assert_ledger_ok


def _at(days: float) -> dt.datetime:
    return MONDAY + dt.timedelta(days=days)


def submit(earning, household, code, quantity, *, note="", witness="", actor=None):
    return claim_submit(
        actor=actor or earning.grid_worker,
        household=household,
        rule_id=earning.rules[code].pk,
        quantity=quantity,
        occurred_on=dt.date(2026, 11, 1),
        note=note,
        witness=witness,
    )


@pytest.fixture(autouse=True)
def _frozen_today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda value=None: dt.date(2026, 11, 2))


def test_bottles_and_a_beautiful_courtyard_make_12700_only_after_notice(
    earning, django_capture_on_commit_callbacks
):
    MemoryBackend.outbox.clear()
    # Given a volunteer who collected 12,000 pesticide bottles (1 point each)
    volunteer = make_household(
        earning.scheme, earning.world.village_a1, "曾国涛", phone="13912345678"
    )
    bottles = submit(earning, volunteer, "B01", 12000)
    # and whose courtyard was rated 美丽庭院 (700 points, above the township threshold)
    courtyard = with_photo(submit(earning, volunteer, "E01", 1))
    assert (bottles.points, courtyard.points) == (1200000, 70000)
    assert (bottles.needs_township, courtyard.needs_township) == (False, True)

    # When the village admin approves both and the township reviews the courtyard
    claim_approve(actor=earning.village_admin, claim=bottles, at=_at(0))
    claim_approve(actor=earning.village_admin, claim=courtyard, at=_at(0))
    courtyard.refresh_from_db()
    assert courtyard.status == ClaimStatus.APPROVED
    claim_approve(actor=earning.township_admin, claim=courtyard, at=_at(0.5))

    # Then both are on the village's notice board and nothing is posted yet
    assert [c.pk for c in notice_claims(village_id=earning.world.village_a1.pk)] == [
        bottles.pk,
        courtyard.pk,
    ]
    assert notices_finalize(at=_at(2.9)).count == 0
    assert household_balance(household_id=volunteer.pk).balance == 0

    # When notice ends (3 days) the finalizer posts them, and a second run posts nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_finalize(at=_at(3)).count == 1  # bottles: approved at day 0
        assert notices_finalize(at=_at(3.5)).count == 1  # courtyard: on notice from day 0.5
        assert notices_finalize(at=_at(10)).count == 0
    assert household_balance(household_id=volunteer.pk).balance == 1270000
    assert [phone for phone, _ in MemoryBackend.outbox] == ["13912345678", "13912345678"]
    assert "12000 分已公示期满入账" in MemoryBackend.outbox[0][1]
    assert_ledger_ok(earning.scheme.pk)


def test_an_objection_sends_the_claim_back_and_it_posts_after_a_second_approval(earning):
    household = make_household(earning.scheme, earning.world.village_a1)
    neighbour = make_household(earning.scheme, earning.world.village_a1, "邻居")
    claim = submit(earning, household, "P02", 1, note="调解了东西两家的地界纠纷")
    claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))

    # A resident of the same village objects during notice
    claim_object(claim=claim, objector=neighbour, reason="调解的不是他家，是村委会", at=_at(1))
    claim.refresh_from_db()
    assert (claim.status, claim.notice_ends_at) == (ClaimStatus.SUBMITTED, None)
    event = ClaimEvent.objects.filter(claim=claim).last()
    assert (event.action, event.actor_household_id, event.reason) == (
        "object",
        neighbour.pk,
        "调解的不是他家，是村委会",
    )
    assert notices_finalize(at=_at(5)).count == 0
    assert household_balance(household_id=household.pk).balance == 0

    # A second approval starts a new notice; only its end posts the points
    claim_approve(actor=earning.village_admin, claim=claim, at=_at(5))
    assert notices_finalize(at=_at(7.9)).count == 0
    assert notices_finalize(at=_at(8)).count == 1
    assert household_balance(household_id=household.pk).balance == 2000
    assert [e.action for e in claim.events.all()] == [
        "submit",
        "approve",
        "object",
        "approve",
        "post",
    ]
    assert_ledger_ok(earning.scheme.pk)


def test_ten_hours_of_mutual_help_at_15_an_hour_is_150(earning):
    helper = make_household(earning.scheme, earning.world.village_a1, "帮工户")
    claim = submit(earning, helper, "H01", Decimal("10"), witness="受助户 王秀英")
    claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))
    notices_finalize(at=_at(3))
    assert household_balance(household_id=helper.pk).balance == 15000
    assert_ledger_ok(earning.scheme.pk)


def test_a_deduction_larger_than_the_balance_leaves_zero_and_the_rest_owed(earning):
    household = make_household(earning.scheme, earning.world.village_a1)
    fund(household, 3000)  # 30 points
    claim = submit(earning, household, "D03", 1, note="办了三天流水席")  # 50 points
    claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))
    result = notices_finalize(at=_at(3))
    assert (result.count, result.owed) == (1, 2000)
    assert household_balance(household_id=household.pk).balance == 0
    assert owed_total(household_id=household.pk) == 2000

    # The next award pays off the 20 owed first: 10 points of 干净人家 ... then 20 more
    award = with_photo(submit(earning, household, "E02", 1))
    claim_approve(actor=earning.village_admin, claim=award, at=_at(3))
    notices_finalize(at=_at(6))
    assert household_balance(household_id=household.pk).balance == 0
    assert OwedDeduction.objects.get(claim=claim).remaining == 0
    award2 = submit(earning, household, "V02", 1)
    claim_approve(actor=earning.village_admin, claim=award2, at=_at(6))
    notices_finalize(at=_at(9))
    assert household_balance(household_id=household.pk).balance == 1000
    assert_ledger_ok(earning.scheme.pk)


def test_finalize_command_runs_as_of_a_given_time(earning, capsys):
    household = make_household(earning.scheme, earning.world.village_a1)
    claim = claim_create(
        NewClaim(
            household=household,
            rule=earning.rules["V02"],
            quantity=Decimal(1),
            occurred_on=dt.date(2026, 11, 1),
            source="staff",
        )
    )
    claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))
    call_command("finalize", "--at", "2026-11-05T08:59:00+08:00")
    assert household_balance(household_id=household.pk).balance == 0
    call_command("finalize", "--at", "2026-11-05T09:00:00+08:00")
    call_command("finalize", "--at", "2026-11-06T09:00:00+08:00")
    out = capsys.readouterr().out
    assert out.count("入账 1 条申报") == 1 and out.count("入账 0 条申报") == 2
    assert household_balance(household_id=household.pk).balance == 1000


@pytest.mark.parametrize("deduction_first", [True, False])
def test_a_deduction_and_an_award_due_together_see_each_other(earning, deduction_first):
    household = make_household(earning.scheme, earning.world.village_a1)
    deduction = submit(earning, household, "D03", 1, note="大操大办")  # -50
    award = submit(earning, household, "B01", 100)  # +100 (100 bottles)
    first, second = (deduction, award) if deduction_first else (award, deduction)
    claim_approve(actor=earning.village_admin, claim=first, at=_at(0))
    claim_approve(actor=earning.village_admin, claim=second, at=_at(0))
    assert notices_finalize(at=_at(3)).count == 2
    assert household_balance(household_id=household.pk).balance == 5000
    assert owed_total(household_id=household.pk) == 0
    assert_ledger_ok(earning.scheme.pk)


def test_finalize_refuses_a_time_ahead_of_now(earning):
    """Issue 9, item 7: `--at` in the future posted claims whose notice had not ended."""
    household = make_household(earning.scheme, earning.world.village_a1)
    claim = claim_create(
        NewClaim(
            household=household,
            rule=earning.rules["V02"],
            quantity=Decimal(1),
            occurred_on=timezone.localdate(),
            source="staff",
        )
    )
    claim_approve(actor=earning.village_admin, claim=claim)
    ahead = (timezone.now() + dt.timedelta(days=30)).isoformat()
    with pytest.raises(CommandError, match="不能晚于现在"):
        call_command("finalize", "--at", ahead)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ON_NOTICE
    assert household_balance(household_id=household.pk).balance == 0
