"""Every endpoint x every role x an object of another village and of another scheme (ASVS 8.2.2, 8.4.1).

An object outside the caller's scope is a 404 (never 403, never 200), so ids reveal nothing;
lists never include out-of-scope rows; nothing is written. The in-scope tests at the end are
the control: the same calls on the caller's own village do work, so a 404 above means scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from civicpoints.households.idcard import make as make_id
from civicpoints.households.models import Household
from civicpoints.schemes.models import Region, Role
from tests.api.conftest import ROLE_REGION, assert_error, check_each, region_of, snapshot
from tests.factories import World, fund, make_household

ROLES = list(ROLE_REGION)
VERIFIERS = {Role.COUNTY_ADMIN, Role.AUDITOR}
READERS = set(ROLES) - {Role.MERCHANT_CLERK}
# For each granted region, a village of the same scheme outside it (a county sees them all).
OTHER_VILLAGE = {"county": None, "township_a": "village_b1", "village_a1": "village_a2"}


def _cases() -> list:
    cases = []
    for role in ROLES:
        for target in ("other_village", "other_scheme"):
            if target == "other_village" and OTHER_VILLAGE[ROLE_REGION[role]] is None:
                continue
            cases.append(pytest.param(role, target, id=f"{role}-{target}"))
    return cases


CASES = _cases()


@dataclass
class Foreign:
    """A funded household where the caller must not reach."""

    village: Region
    household: Household
    phone: str
    id_number: str


def foreign_for(world: World, role: str, target: str) -> Foreign:
    if target == "other_scheme":
        scheme, village = world.other_scheme, world.other_village
    else:
        scheme, village = world.scheme, getattr(world, OTHER_VILLAGE[ROLE_REGION[role]])
    phone, id_number = "13987654321", make_id("22082119700101002")
    household = make_household(scheme, village, "仇外户", phone=phone, id_number=id_number)
    fund(household, 5000)
    return Foreign(village, household, phone, id_number)


def own_household(world: World, role: str) -> Household:
    region = region_of(world, role)
    village = region if region.level == 5 else world.village_a1
    household = make_household(world.scheme, village, "曾本村", phone="13812345678")
    fund(household, 2000)
    return household


# --- endpoints that name an object: 404 -----------------------------------------------------

ByIdCall = Callable[[object, Foreign], object]


def _detail(client, f):
    return client.get(f"/api/v1/households/{f.household.pk}")


def _entries(client, f):
    return client.get(f"/api/v1/households/{f.household.pk}/entries")


def _create(client, f):
    return client.post(
        "/api/v1/households",
        {"village": f.village.pk, "head_name": "新户"},
        content_type="application/json",
    )


def _adjust(client, f):
    return client.post(
        "/api/v1/ledger/adjustments",
        {"household": f.household.pk, "points": -1, "reason": "越权调整"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="matrix-key",
    )


BY_ID: dict[str, ByIdCall] = {
    "GET households/{id}": _detail,
    "GET households/{id}/entries": _entries,
    "POST households (village)": _create,
    "POST ledger/adjustments (household)": _adjust,
}


@pytest.mark.parametrize("endpoint", list(BY_ID))
@pytest.mark.parametrize("role,target", CASES)
def test_object_out_of_scope_is_404(world, client_for, role, target, endpoint):
    client = client_for(role)
    foreign = foreign_for(world, role, target)
    before = snapshot()

    response = BY_ID[endpoint](client, foreign)

    error = assert_error(response, 404, "not_found")
    # The same answer as for an id that does not exist: nothing about the object comes back.
    assert error["detail"] in ({"object": "household"}, {"object": "region"})
    assert snapshot() == before


# --- lists: never an out-of-scope row -------------------------------------------------------


@pytest.mark.parametrize("role,target", CASES)
def test_search_never_lists_out_of_scope(world, client_for, role, target):
    client = client_for(role)
    foreign = foreign_for(world, role, target)
    mine = own_household(world, role)
    queries = {
        "仇外户": [],  # name
        "外户": [],
        "qwh": [],  # pinyin initials, both readings of 仇
        "cwh": [],
        "qiuwaihu": [],
        foreign.phone[-4:]: [],
        foreign.phone: [],
        foreign.household.card_code: [],
        foreign.id_number: [],
        "": [mine.pk] if role in READERS else [],  # everything the caller may see
    }
    before = snapshot()

    def check(q: str) -> None:
        response = client.get("/api/v1/households", {"q": q, "limit": 200})
        assert response.status_code == 200
        assert [row["id"] for row in response.json()] == queries[q]

    check_each(list(queries), check)
    assert snapshot() == before


@pytest.mark.parametrize("role,target", CASES)
def test_regions_list_only_the_granted_subtree(world, client_for, role, target):
    client = client_for(role)
    foreign = foreign_for(world, role, target)
    granted = region_of(world, role)
    before = snapshot()

    response = client.get("/api/v1/regions")

    assert response.status_code == 200
    ids = {row["id"] for row in response.json()}
    assert ids == set(
        Region.objects.filter(path__startswith=granted.path).values_list("pk", flat=True)
    )
    assert foreign.village.pk not in ids
    assert snapshot() == before


@pytest.mark.parametrize("role,target", CASES)
def test_verify_reports_only_the_callers_scheme(world, client_for, role, target):
    client = client_for(role)
    foreign_for(world, role, target)
    before = snapshot()

    response = client.get("/api/v1/ledger/verify")

    if role in VERIFIERS:
        assert response.status_code == 200
        assert [report["scheme"] for report in response.json()] == [world.scheme.pk]
    else:
        error = assert_error(response, 403, "permission_denied")
        assert error["detail"] == {"action": "ledger.verify"}
    assert snapshot() == before


# --- the control: the caller's own village works --------------------------------------------


@pytest.mark.parametrize("role", sorted(READERS))
def test_in_scope_reads_work(world, client_for, role):
    client = client_for(role)
    mine = own_household(world, role)

    detail = client.get(f"/api/v1/households/{mine.pk}")
    entries = client.get(f"/api/v1/households/{mine.pk}/entries")
    found = client.get("/api/v1/households", {"q": "zbc"})

    assert (detail.status_code, detail.json()["balance"]) == (200, 20.0)
    assert (entries.status_code, len(entries.json())) == (200, 1)
    assert [row["id"] for row in found.json()] == [mine.pk]


def test_merchant_clerks_cannot_browse_households(world, client_for):
    """Merchants learn who pays from a payment code, not by reading the village's households."""
    client = client_for(Role.MERCHANT_CLERK)
    mine = own_household(world, Role.MERCHANT_CLERK)

    assert_error(client.get(f"/api/v1/households/{mine.pk}"), 404, "not_found")
    assert_error(client.get(f"/api/v1/households/{mine.pk}/entries"), 404, "not_found")
    assert client.get("/api/v1/households", {"q": "zbc"}).json() == []


@pytest.mark.parametrize("role", sorted(READERS))
def test_in_scope_writes_follow_the_role(world, client_for, role):
    client = client_for(role)
    mine = own_household(world, role)
    village = mine.village

    created = client.post(
        "/api/v1/households",
        {"village": village.pk, "head_name": "新户"},
        content_type="application/json",
    )
    adjusted = client.post(
        "/api/v1/ledger/adjustments",
        {"household": mine.pk, "points": 1, "reason": "补录"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="control",
    )

    admins = {Role.COUNTY_ADMIN, Role.TOWNSHIP_ADMIN, Role.VILLAGE_ADMIN}
    if role in admins:
        assert created.status_code == 201
    else:
        assert_error(created, 403, "permission_denied")
    if role == Role.COUNTY_ADMIN:
        assert adjusted.status_code == 202  # filed; a second county admin posts it
    else:
        assert_error(adjusted, 403, "permission_denied")


# --- edges of scope ---------------------------------------------------------------------------


def test_out_of_scope_looks_exactly_like_missing(world, client_for):
    client = client_for(Role.VILLAGE_ADMIN)
    foreign = foreign_for(world, Role.VILLAGE_ADMIN, "other_village")
    missing = Household.objects.order_by("-pk").first().pk + 1000

    for path in ("/api/v1/households/{}", "/api/v1/households/{}/entries"):
        seen = client.get(path.format(foreign.household.pk))
        absent = client.get(path.format(missing))
        assert (seen.status_code, seen.json()) == (absent.status_code, absent.json())


def test_township_auditor_cannot_verify_the_whole_scheme(world):
    from tests.factories import api_client, make_staff

    client = api_client(make_staff("twp_auditor", Role.AUDITOR, world.township_a, world.scheme))

    response = client.get("/api/v1/ledger/verify")

    assert_error(response, 403, "permission_denied")


def test_overlapping_schemes_create_in_the_scheme_the_role_allows(world):
    from civicpoints.schemes.services import role_grant, scheme_create
    from tests.factories import api_client, make_staff

    community = scheme_create(name="开通镇社区积分", operator_region=world.township_a)
    user = make_staff("two_hats", Role.STORE_CLERK, world.village_a1, world.scheme)
    role_grant(user=user, scheme=community, region=world.village_a1, role=Role.VILLAGE_ADMIN)
    client = api_client(user)

    response = client.post(
        "/api/v1/households",
        {"village": world.village_a1.pk, "head_name": "新户"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    assert Household.objects.get(pk=response.json()["id"]).scheme_id == community.pk
