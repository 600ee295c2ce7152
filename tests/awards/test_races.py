"""Finalize run by two schedulers at once, and two approvals racing for the last of a quota."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.services import claim_approve, claim_submit, notices_finalize, quota_set
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import Posting
from civicpoints.ledger.selectors import household_balance
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import build_world, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)
TZ = dt.timezone(dt.timedelta(hours=8))


def _setup(households: int):
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    county = actor_for_user(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    homes = [make_household(world.scheme, world.village_a1) for _ in range(households)]
    return world, rules, admin, county, homes


def test_two_finalizers_post_each_claim_once(postgres_only):
    world, rules, admin, _, homes = _setup(20)
    approved_at = dt.datetime.now(TZ) - dt.timedelta(days=5)
    for h in homes:
        claim = claim_submit(actor=admin, household=h, rule_id=rules["B01"].pk, quantity=25)
        claim_approve(actor=admin, claim=claim, at=approved_at)

    outcomes = run_in_threads(2, lambda i: notices_finalize().count)

    assert [o.error for o in outcomes] == [None, None]
    assert sum(o.value for o in outcomes) == 20
    assert Claim.objects.filter(status=ClaimStatus.POSTED).count() == 20
    assert Posting.objects.count() == 20
    assert {household_balance(household_id=h.pk).balance for h in homes} == {2500}
    assert_ledger_ok(world.scheme.pk)


def test_two_approvals_race_for_the_last_of_a_quota(postgres_only):
    world, rules, admin, county, homes = _setup(2)
    today = dt.date.today()
    quota_set(
        actor=county, scheme=world.scheme, village=world.village_a1, year=today.year, points=5000
    )
    claims = [
        claim_submit(actor=admin, household=h, rule_id=rules["B01"].pk, quantity=30) for h in homes
    ]

    outcomes = run_in_threads(2, lambda i: claim_approve(actor=admin, claim=claims[i]))

    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 1
    assert isinstance(errors[0], ApplicationError)
    assert errors[0].code == ErrorCode.QUOTA_EXCEEDED
    assert Claim.objects.filter(status=ClaimStatus.ON_NOTICE).count() == 1
