"""The schemes an actor governs (a grant over the scheme's whole region) and the schemes it
has a grant in at all: the one query behind merchants, settlement, budgets, risk, audit and
imports."""

from __future__ import annotations

from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.selectors import governs, schemes_governed, schemes_granted
from civicpoints.schemes.services import role_grant
from tests.factories import World, make_staff

ADMINS = (Role.COUNTY_ADMIN,)


def test_a_county_grant_governs_its_scheme_a_township_grant_does_not(world: World):
    county = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    township = make_staff("township", Role.COUNTY_ADMIN, world.township_a, world.scheme)

    governing = actor_for_user(county)
    partial = actor_for_user(township)

    assert schemes_governed(governing, ADMINS) == [world.scheme]
    assert governs(governing, world.scheme, ADMINS) is True
    assert schemes_governed(partial, ADMINS) == []
    assert governs(partial, world.scheme, ADMINS) is False
    # A grant anywhere in the scheme is enough for the imports (rows are checked one by one).
    assert schemes_granted(partial, ADMINS) == [world.scheme]


def test_only_the_named_roles_count_and_schemes_come_in_id_order(world: World):
    user = make_staff("both", Role.AUDITOR, world.other_county, world.other_scheme)
    role_grant(user=user, scheme=world.scheme, region=world.county, role=Role.COUNTY_ADMIN)
    actor = actor_for_user(user)

    assert schemes_governed(actor, (Role.COUNTY_ADMIN, Role.AUDITOR)) == [
        world.scheme,
        world.other_scheme,
    ]
    assert schemes_governed(actor, ADMINS) == [world.scheme]
    assert schemes_governed(actor, (Role.AUDITOR,)) == [world.other_scheme]
    assert schemes_governed(actor, (Role.VILLAGE_ADMIN,)) == []
    assert schemes_granted(actor, (Role.VILLAGE_ADMIN,)) == []


def test_the_governed_schemes_carry_their_operator_region(world: World, django_assert_num_queries):
    actor = actor_for_user(make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme))

    with django_assert_num_queries(1):
        [scheme] = schemes_governed(actor, ADMINS)
        assert scheme.operator_region.path == world.county.path
