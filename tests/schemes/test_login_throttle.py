"""Per-address throttling of staff logins (django-axes, schemes/throttle.py) and answers that
do not tell a known account from an unknown one."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from civicpoints.schemes.models import Role, User
from civicpoints.schemes.services import staff_unlock
from tests.api.conftest import assert_error, counting_hashes, snapshot
from tests.factories import PASSWORD, make_staff

TOKEN = "/api/v1/auth/token"
PAIR_LIMIT, ADDRESS_LIMIT = settings.LOGIN_THROTTLE_LIMITS


def login(username: str, password: str, address: str, **extra: Any) -> Any:
    return Client(REMOTE_ADDR=address, **extra).post(
        TOKEN, {"username": username, "password": password}, content_type="application/json"
    )


@pytest.fixture
def clerk(world) -> User:
    return make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)


def test_one_address_cannot_keep_an_account_locked(clerk):
    """Guessing from one address stops at the address's limit, well before the account's:
    the account stays open to its owner elsewhere, however long the guessing goes on."""
    statuses = [login("clerk", f"guess {i}", "203.0.113.9").status_code for i in range(12)]

    assert statuses == [401] * PAIR_LIMIT + [429] * (12 - PAIR_LIMIT)
    clerk.refresh_from_db()
    assert clerk.failed_logins == PAIR_LIMIT < settings.LOGIN_FAILURE_LIMIT
    assert clerk.locked_until is None
    # The owner, from the office: in.
    assert login("clerk", PASSWORD, "198.51.100.7").status_code == 200
    # The guessing address, even with the right password: still throttled.
    assert_error(login("clerk", PASSWORD, "203.0.113.9"), 429, "locked_out")


def test_one_address_cannot_try_many_accounts(world, clerk):
    make_staff("clerk2", Role.STORE_CLERK, world.village_a1, world.scheme)
    names = [f"user{i}" for i in range(ADDRESS_LIMIT)]  # unknown ones count too
    statuses = [login(name, "guess", "203.0.113.10").status_code for name in names]
    assert statuses == [401] * ADDRESS_LIMIT

    # A name this address never tried, with its right password: the address is throttled.
    assert_error(login("clerk2", PASSWORD, "203.0.113.10"), 429, "locked_out")
    assert login("clerk2", PASSWORD, "198.51.100.7").status_code == 200


def test_a_good_login_forgets_only_its_own_failures(world, clerk):
    for _ in range(PAIR_LIMIT - 1):
        assert login("clerk", "typo", "198.51.100.7").status_code == 401
    assert login("clerk", PASSWORD, "198.51.100.7").status_code == 200

    # The slate for (address, clerk) is clean again.
    for _ in range(PAIR_LIMIT - 1):
        assert login("clerk", "typo", "198.51.100.7").status_code == 401
    assert login("clerk", PASSWORD, "198.51.100.7").status_code == 200


def test_unlock_also_clears_the_address_throttle(clerk):
    for i in range(PAIR_LIMIT):
        login("clerk", f"guess {i}", "203.0.113.9")
    assert login("clerk", PASSWORD, "203.0.113.9").status_code == 429

    staff_unlock(actor_id=None, user=clerk)

    assert login("clerk", PASSWORD, "203.0.113.9").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(clerk):
    statuses = [
        login("clerk", "guess", "203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code
        for i in range(PAIR_LIMIT + 2)
    ]

    assert statuses == [401] * PAIR_LIMIT + [429, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_the_address(clerk, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    def via_proxy(client: str, forged: str = "") -> int:
        chain = f"{forged}, {client}" if forged else client
        return login("clerk", "guess", "10.0.0.2", HTTP_X_FORWARDED_FOR=chain).status_code

    assert [via_proxy("203.0.113.9", forged=f"192.0.2.{i}") for i in range(4)] == [401] * 3 + [429]
    # Another client behind the same proxy is not throttled by the first one's guesses.
    assert via_proxy("198.51.100.7") == 401


def test_unknown_username_answers_exactly_as_a_known_one(clerk):
    before = snapshot()

    known = login("clerk", "wrong password", "198.51.100.7")
    unknown = login("nobody", "wrong password", "198.51.100.8")

    assert known.status_code == unknown.status_code == 401
    assert known.content == unknown.content
    assert_error(unknown, 401, "login_failed")
    # The known one's failure is an audit row; nothing else was written by either.
    assert snapshot() == {**before, "audit": before["audit"] + 1}


def test_unknown_username_is_hashed_like_a_known_one(clerk, monkeypatch):
    """Same time: a password hash runs for an unknown user too (ModelBackend's dummy hash)."""
    hashed = counting_hashes(monkeypatch)

    login("clerk", "wrong password", "198.51.100.7")
    known = len(hashed)
    login("nobody", "wrong password", "198.51.100.8")

    assert known >= 1
    assert len(hashed) - known == known
