"""A signed merchant with a cashier, a county admin, and a household with points."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.merchants.models import Merchant
from civicpoints.merchants.services import merchant_create
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import Actor, actor_for_user
from tests.factories import World, fund, make_household, make_staff

PIN = "246813"


@dataclass
class Till:
    world: World
    merchant: Merchant
    cashier: User
    cashier_actor: Actor
    admin: User
    admin_actor: Actor
    household: Household


def build_till(world: World, *, balance: int = 100_000) -> Till:
    admin = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    cashier = make_staff("cashier", Role.MERCHANT_CLERK, world.township_a, world.scheme)
    admin_actor = actor_for_user(admin)
    merchant = merchant_create(
        actor=admin_actor,
        scheme_id=world.scheme.pk,
        legal_name="通榆县开通镇惠民超市有限公司",
        shop_name="惠民超市",
        bank_name="中国农业银行通榆支行",
        account_name="通榆县开通镇惠民超市有限公司",
        bank_account="6228 4801 2345 6789 012",
        regions=[world.township_a],
        clerk_ids=[cashier.pk],
    )
    household = make_household(world.scheme, world.village_a1, "张桂兰", phone="13812345678")
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    if balance:
        fund(household, balance)
    return Till(
        world=world,
        merchant=merchant,
        cashier=cashier,
        cashier_actor=actor_for_user(cashier),
        admin=admin,
        admin_actor=admin_actor,
        household=household,
    )


@pytest.fixture
def till(world: World) -> Till:
    return build_till(world)
