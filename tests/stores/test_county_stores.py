"""County-level stores: a store of the whole county, or of chosen townships only. One rule
(``stores.selectors.served_paths``) decides who a store serves, and the counter search,
redemption, app orders, ceremonies and the resident's list of stores all follow it."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.errors import ErrorCode, PermissionDenied
from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Ceremony, Product, Redemption, Store
from civicpoints.stores.selectors import (
    counter_search,
    households_served,
    served_paths,
    serves,
    store_for,
    stores_for_household,
    stores_visible,
)
from civicpoints.stores.services import (
    CeremonyRow,
    Item,
    ceremony_check,
    ceremony_redeem,
    order_place,
    product_create,
    redeem,
    stock_receive,
    store_create,
)
from tests.factories import World, fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.helpers import balance, refused, stock, store_total

PIN = "246813"
pytestmark = pytest.mark.django_db


def household(world: World, village, name: str, points: int = 100_000) -> Household:
    h = make_household(world.scheme, village, name)
    household_set_pin(actor_id=None, household=h, pin=PIN)
    h.refresh_from_db()
    if points:
        fund(h, points)
    return h


@pytest.fixture
def county(world: World):
    admin = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    clerk = make_staff("clerk", Role.STORE_CLERK, world.county, world.scheme)
    return actor_for_user(admin), clerk


def county_store(world: World, actor, clerk, townships=()) -> tuple[Store, Product]:
    store = store_create(
        actor=actor,
        scheme_id=world.scheme.pk,
        region=world.county,
        name="通榆县积分超市",
        clerk_ids=[clerk.pk],
        served_townships=list(townships),
    )
    rice = product_create(actor=actor, store=store, name="大米 10斤", price=3_000)
    stock_receive(actor=actor, product=rice, quantity=20)
    rice.refresh_from_db()
    return store_for(actor, store.pk), rice


def test_a_county_store_serves_every_village_of_the_county(world, county):
    actor, clerk = county
    store, _rice = county_store(world, actor, clerk)
    a1 = household(world, world.village_a1, "王秀英")
    b1 = household(world, world.village_b1, "李淑珍")
    foreign = make_household(world.other_scheme, world.other_village, "王外县")

    assert served_paths(store) == [world.county.path]
    assert serves(store, a1) and serves(store, b1) and not serves(store, foreign)
    assert set(households_served(store)) == {a1, b1}
    assert [h.pk for h in counter_search(store, "王")] == [a1.pk]
    assert list(stores_for_household(a1)) == [store]
    assert list(stores_for_household(b1)) == [store]


def test_a_county_store_with_chosen_townships_serves_only_those(world, county):
    actor, clerk = county
    store, rice = county_store(world, actor, clerk, townships=[world.township_b])
    inside = household(world, world.village_b1, "李淑珍")
    outside = household(world, world.village_a1, "王秀英")
    clerk_actor = actor_for_user(clerk)

    assert served_paths(store) == [world.township_b.path]
    assert list(households_served(store)) == [inside]
    assert counter_search(store, "王秀英").count() == 0
    assert list(stores_for_household(inside)) == [store]
    assert list(stores_for_household(outside)) == []
    # Served: redeemed exactly. Not served: refused at the counter, for an order, in a
    # ceremony; nothing written.
    made = redeem(
        actor=clerk_actor, store=store, household=inside, items=[Item(rice.pk, 2)], pin=PIN
    )
    assert made.points == 6_000
    assert balance(inside) == 100_000 - 6_000
    assert store_total(store) == 6_000
    refused(
        ErrorCode.NOT_SERVED,
        world.scheme.pk,
        lambda: redeem(
            actor=clerk_actor, store=store, household=outside, items=[Item(rice.pk, 1)], pin=PIN
        ),
    )
    refused(
        ErrorCode.NOT_SERVED,
        world.scheme.pk,
        lambda: order_place(household=outside, store=store, items=[Item(rice.pk, 1)]),
    )
    check = ceremony_check(
        actor=actor, store=store, rows=[CeremonyRow(outside.pk, (Item(rice.pk, 1),))]
    )
    assert [(p["row"], p["code"]) for p in check.problems] == [(1, "household_not_served")]
    assert_ledger_ok(world.scheme.pk)


def test_a_village_store_and_a_township_store_still_serve_as_before(world, county):
    actor, clerk = county
    village_store = store_create(
        actor=actor, scheme_id=world.scheme.pk, region=world.village_a1, name="晓光村爱心超市"
    )
    township_store = store_create(
        actor=actor, scheme_id=world.scheme.pk, region=world.township_a, name="开通镇积分超市"
    )
    county_wide, _rice = county_store(world, actor, clerk)
    a1 = household(world, world.village_a1, "王秀英")
    a2 = household(world, world.village_a2, "赵德明")

    # Nearest first: the village's store, the township's, the county's.
    assert list(stores_for_household(a1)) == [village_store, township_store, county_wide]
    assert list(stores_for_household(a2)) == [township_store, county_wide]


def test_a_county_ceremony_for_households_of_two_townships(world, county):
    actor, clerk = county
    store, rice = county_store(world, actor, clerk, [world.township_a, world.township_b])
    rows_of = [
        household(world, world.village_a1, "王秀英", 50_000),
        household(world, world.village_a2, "赵德明", 10_000),
        household(world, world.village_b1, "李淑珍", 7_000),
    ]

    ceremony = ceremony_redeem(
        actor=actor,
        store=store,
        title="2026年度全县文明家庭表彰",
        held_on=dt.date(2026, 12, 3),
        rows=[CeremonyRow(h.pk, (Item(rice.pk, 2),)) for h in rows_of],
    )

    assert Ceremony.objects.get() == ceremony
    assert Redemption.objects.filter(ceremony=ceremony).count() == 3
    assert [balance(h) for h in rows_of] == [44_000, 4_000, 1_000]
    assert stock(rice) == 14
    assert store_total(store) == 18_000
    assert_ledger_ok(world.scheme.pk)


def test_only_a_county_admin_opens_a_county_store(world):
    township = make_staff("township", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme)
    actor = actor_for_user(township)

    with pytest.raises(PermissionDenied):
        store_create(actor=actor, scheme_id=world.scheme.pk, region=world.county, name="县超市")
    assert Store.objects.count() == 0


def test_township_admins_neither_see_nor_manage_a_county_store(world, county):
    actor, clerk = county
    store, _rice = county_store(world, actor, clerk, [world.township_a])
    township = actor_for_user(
        make_staff("township", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme)
    )
    auditor = actor_for_user(make_staff("auditor", Role.AUDITOR, world.county, world.scheme))

    assert list(stores_visible(township)) == []
    assert list(stores_visible(auditor)) == [store]
    assert list(stores_visible(actor_for_user(clerk))) == [store]


@pytest.mark.parametrize(
    ("region", "townships", "field"),
    [
        ("township_a", ["township_b"], "served_townships"),  # only county stores choose
        ("county", ["village_a1"], "served_townships"),  # a village is not a township
        ("county", ["other_county"], "served_townships"),  # not under this county
    ],
)
def test_served_townships_must_be_townships_of_the_county(world, county, region, townships, field):
    actor, _clerk = county
    before = Store.objects.count()

    error = refused(
        ErrorCode.INVALID_INPUT,
        world.scheme.pk,
        lambda: store_create(
            actor=actor,
            scheme_id=world.scheme.pk,
            region=getattr(world, region),
            name="县超市",
            served_townships=[getattr(world, t) for t in townships],
        ),
    )

    assert error.detail["field"] == field
    assert Store.objects.count() == before


def test_clerks_must_be_store_clerks_in_scope(world, county):
    actor, _clerk = county
    grid = make_staff("grid", Role.GRID_WORKER, world.village_a1, world.scheme)
    foreign = make_staff("foreign", Role.STORE_CLERK, world.other_village, world.other_scheme)

    for user in (grid, foreign):
        error = refused(
            ErrorCode.INVALID_INPUT,
            world.scheme.pk,
            lambda user=user: store_create(
                actor=actor,
                scheme_id=world.scheme.pk,
                region=world.county,
                name="县超市",
                clerk_ids=[user.pk],
            ),
        )
        assert error.detail == {"field": "clerks", "unknown": [user.pk]}
    assert Store.objects.count() == 0
