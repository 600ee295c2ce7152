"""Household creation, PINs and search through the actor's scope."""

from __future__ import annotations

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household, Member
from civicpoints.households.selectors import household_search
from civicpoints.households.services import household_check_pin, household_set_pin
from civicpoints.ledger.models import Account
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff


def test_create_stores_the_id_encrypted_and_opens_an_account(world):
    h = make_household(world.scheme, world.village_a1, "郭淑", id_number="220822194410092800")
    member = Member.objects.get(household=h)
    assert member.id_number_masked == "220822********2800"
    assert "220822194410092800" not in member.id_number_encrypted
    assert Account.objects.get(household=h).balance == 0
    assert AuditEvent.objects.filter(action="household.create", object_id=str(h.pk)).exists()


def test_duplicate_id_refused_and_nothing_written(world):
    make_household(world.scheme, world.village_a1, "郭淑", id_number="220822194410092800")
    before = (Household.objects.count(), Member.objects.count(), Account.objects.count())
    with pytest.raises(ApplicationError) as err:
        make_household(world.scheme, world.village_a2, "郭淑", id_number="220822194410092800")
    assert err.value.code == ErrorCode.DUPLICATE
    assert (Household.objects.count(), Member.objects.count(), Account.objects.count()) == before


def test_village_outside_the_scheme_refused(world):
    with pytest.raises(ApplicationError) as err:
        make_household(world.scheme, world.other_village, "外县户")
    assert err.value.code == ErrorCode.INVALID_INPUT


def test_pin_is_hashed_and_checked(world):
    h = make_household(world.scheme, world.village_a1)
    with pytest.raises(ApplicationError):
        household_set_pin(actor_id=None, household=h, pin="123456")
    household_set_pin(actor_id=None, household=h, pin="258369")
    h.refresh_from_db()
    assert "258369" not in h.pin_hash
    assert household_check_pin(household=h, pin="258369")
    assert not household_check_pin(household=h, pin="258360")
    assert not household_check_pin(household=h, pin=258369)


def test_search_stays_inside_the_actor_scope(world):
    grid = make_staff("grid", Role.GRID_WORKER, world.village_a1, world.scheme)
    mine = make_household(world.scheme, world.village_a1, "曾国涛", phone="13912345678")
    make_household(world.scheme, world.village_a2, "曾国强")
    make_household(world.other_scheme, world.other_village, "曾国富")
    actor = actor_for_user(grid)
    assert list(household_search(actor, "zg")) == [mine]
    assert list(household_search(actor, "曾")) == [mine]
    assert list(household_search(actor, "5678")) == [mine]
    assert list(household_search(actor, mine.card_code.lower())) == [mine]
