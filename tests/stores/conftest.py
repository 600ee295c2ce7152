"""A village store with a clerk, a county admin, and a household with points."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import Actor, actor_for_user
from civicpoints.stores.models import Product, Store
from civicpoints.stores.services import product_create, stock_receive, store_create
from tests.factories import World, fund, make_household, make_staff

PIN = "246813"


@dataclass
class Shop:
    world: World
    store: Store
    clerk: User
    clerk_actor: Actor
    admin: User
    admin_actor: Actor
    household: Household
    freezer: Product
    cooker: Product
    rice: Product


def build_shop(world: World, *, balance: int = 1_270_000) -> Shop:
    admin = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    admin_actor = actor_for_user(admin)
    store = store_create(
        actor=admin_actor,
        scheme_id=world.scheme.pk,
        region=world.township_a,
        name="开通镇爱心超市",
        clerk_ids=[clerk.pk],
    )
    clerk_actor = actor_for_user(clerk)

    def product(name: str, price: int, stock: int, **kw: object) -> Product:
        p = product_create(actor=admin_actor, store=store, name=name, price=price, **kw)  # type: ignore[arg-type]
        if stock:
            stock_receive(actor=clerk_actor, product=p, quantity=stock, value_fen=price * stock)
        p.refresh_from_db()
        return p

    household = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    if balance:
        fund(household, balance)
    return Shop(
        world=world,
        store=store,
        clerk=clerk,
        clerk_actor=clerk_actor,
        admin=admin,
        admin_actor=admin_actor,
        household=household,
        freezer=product("海尔冰柜", 220_000, 3, unit="台", large_item=True),
        cooker=product("美的电饭煲", 20_000, 10, unit="个"),
        rice=product("大米 10斤", 3_000, 50, unit="袋", limit_quantity=2, limit_period="month"),
    )


@pytest.fixture
def shop(world: World) -> Shop:
    return build_shop(world)
