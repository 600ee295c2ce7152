"""A resident's card login answers a card that does not exist exactly as a wrong PIN."""

from __future__ import annotations

from typing import Any

from django.test import Client

from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from tests.api.conftest import assert_error
from tests.factories import make_household

TOKEN = "/api/v1/auth/resident-token"
PIN = "258036"


def login(card: str, pin: str) -> Any:
    return Client().post(TOKEN, {"card": card, "pin": pin}, content_type="application/json")


def test_unknown_card_answers_exactly_as_a_wrong_pin(world):
    household = make_household(world.scheme, world.village_a1)
    household_set_pin(actor_id=None, household=household, pin=PIN)

    wrong_pin = login(household.card_code, "999999")
    unknown = login("ZZZZZZZZZZ", "999999")

    assert wrong_pin.status_code == unknown.status_code == 401
    assert wrong_pin.content == unknown.content
    assert assert_error(unknown, 401, "login_failed")["detail"] == {}
    assert Household.objects.get(pk=household.pk).pin_failures == 1  # still counted
