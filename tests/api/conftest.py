"""API test helpers: one logged-in client per role, and a snapshot of everything a call may change.

A failure test takes ``snapshot()`` before the call and asserts it is equal afterwards: the
row counts of every table an API call writes, and every account's balance and held points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.households.models import Household, Member
from civicpoints.ledger.models import Account, Entry, IdempotencyRecord, Posting
from civicpoints.schemes.models import ApiToken, Region, Role
from tests.factories import World, api_client, make_staff

Snapshot = dict[str, Any]

# Where each role is granted in the test world, and which village of that scheme lies outside.
ROLE_REGION = {
    Role.COUNTY_ADMIN: "county",
    Role.TOWNSHIP_ADMIN: "township_a",
    Role.VILLAGE_ADMIN: "village_a1",
    Role.GRID_WORKER: "village_a1",
    Role.STORE_CLERK: "village_a1",
    Role.MERCHANT_CLERK: "village_a1",
    Role.AUDITOR: "county",
}


def snapshot() -> Snapshot:
    return {
        "postings": Posting.objects.count(),
        "entries": Entry.objects.count(),
        "households": Household.objects.count(),
        "members": Member.objects.count(),
        "audit": AuditEvent.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
        "tokens": ApiToken.objects.count(),
        "balances": sorted(Account.objects.values_list("pk", "balance", "held")),
    }


def counting_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords hashed from now on (the test settings' MD5 hasher), in order."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    hashed: list[str] = []
    real = MD5PasswordHasher.encode

    def counting(self: Any, password: str, salt: str) -> str:
        hashed.append(password)
        return real(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return hashed


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """A 4xx in the API's one error format; returns the ``error`` object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "detail"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["detail"], dict)
    if code is not None:
        assert error["code"] == code, error
    return error


def region_of(world: World, role: str) -> Region:
    return getattr(world, ROLE_REGION[role])


@pytest.fixture
def client_for(world: World) -> Callable[[str], Client]:
    """``client_for(role)``: a bearer-token client for a staff user with that one grant."""
    made: dict[str, Client] = {}

    def make(role: str) -> Client:
        if role not in made:
            user = make_staff(f"{role}_user", role, region_of(world, role), world.scheme)
            made[role] = api_client(user)
        return made[role]

    return make


@pytest.fixture
def county_admin(client_for: Callable[[str], Client]) -> Client:
    return client_for(Role.COUNTY_ADMIN)


@pytest.fixture
def village_admin(client_for: Callable[[str], Client]) -> Client:
    return client_for(Role.VILLAGE_ADMIN)


def check_each(values: list[Any], check: Callable[[Any], None]) -> None:
    """Run ``check`` on every value and report every value that failed, not just the first."""
    failures = []
    for value in values:
        try:
            check(value)
        except AssertionError as exc:
            shown = repr(value)
            failures.append(f"{shown[:60]}{'...' if len(shown) > 60 else ''}: {exc}")
    assert not failures, f"{len(failures)} of {len(values)} failed:\n" + "\n".join(failures)
