"""A username with no account is counted and locked exactly as an account is, so that a locked
name answers the same whether or not it exists (status, body, ``Retry-After``, no password
hash); every login 429 says when to try again in ``Retry-After``.

Each try comes from its own client address unless a test is about one address (the address
throttle would otherwise answer first).
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from civicpoints.schemes import services
from civicpoints.schemes.models import Role, UnknownLogin, User
from tests.api.conftest import assert_error, counting_hashes
from tests.factories import PASSWORD, make_staff
from tests.ledger.helpers import run_in_threads

TOKEN = "/api/v1/auth/token"
LIMIT = settings.LOGIN_FAILURE_LIMIT
LOCKOUT = settings.LOGIN_LOCKOUT_SECONDS
_addresses = itertools.count(1)


WRONG = "wrong password"


def login(username: str, password: str = WRONG, address: str | None = None) -> Any:
    address = address or f"10.6.{next(_addresses) // 250}.{next(_addresses) % 250 + 1}"
    return Client(REMOTE_ADDR=address).post(
        TOKEN, {"username": username, "password": password}, content_type="application/json"
    )


def page_login(username: str, password: str = WRONG) -> Any:
    address = f"10.7.{next(_addresses) // 250}.{next(_addresses) % 250 + 1}"
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


@pytest.fixture
def clerk(world) -> User:
    return make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)


def test_a_locked_unknown_name_answers_as_a_locked_account(clerk, monkeypatch):
    hashed = counting_hashes(monkeypatch)
    answers: dict[str, list[Any]] = {}
    hashes: dict[str, list[int]] = {}
    for name in ("clerk", "nobody"):
        answers[name], hashes[name] = [], []
        for _ in range(LIMIT + 3):
            before = len(hashed)
            answers[name].append(login(name))
            hashes[name].append(len(hashed) - before)

    for name in ("clerk", "nobody"):
        # Five failures from five addresses lock the name, known or not
        assert [r.status_code for r in answers[name]] == [401] * LIMIT + [429] * 3
        # The same work: a hash for each counted try, none while locked
        assert hashes[name] == [hashes["clerk"][0]] * LIMIT + [0] * 3
        assert hashes[name][0] >= 1
        for r in answers[name][:LIMIT]:
            assert_error(r, 401, "login_failed")
            assert not r.has_header("Retry-After")
        for r in answers[name][LIMIT:]:
            assert_error(r, 429, "locked_out")
            assert LOCKOUT - 60 < int(r["Retry-After"]) <= LOCKOUT
    for known, unknown in zip(answers["clerk"], answers["nobody"], strict=True):
        assert known.content == unknown.content
    clerk.refresh_from_db()
    row = UnknownLogin.objects.get()
    assert (row.failed_logins, clerk.failed_logins) == (LIMIT, LIMIT)
    assert row.locked_until is not None and clerk.locked_until is not None
    assert row.login_check_until is None and clerk.login_check_until is None
    assert "nobody" not in row.name_hash  # an HMAC of the name, never the name typed


def test_the_login_page_answers_a_locked_unknown_name_as_a_locked_account(clerk):
    answers = {name: [page_login(name) for _ in range(LIMIT + 1)] for name in ("clerk", "nobody")}

    def shown(response: Any) -> str:
        # The page less its CSRF tokens (new for every client)
        return re.sub(r"[A-Za-z0-9]{64}", "", response.content.decode())

    for name in ("clerk", "nobody"):
        assert [r.status_code for r in answers[name]] == [200] * LIMIT + [429]
        assert "登录失败次数过多，请稍后再试或联系管理员解锁" in shown(answers[name][-1])
        assert LOCKOUT - 60 < int(answers[name][-1]["Retry-After"]) <= LOCKOUT
    assert shown(answers["clerk"][-1]) == shown(answers["nobody"][-1])
    assert shown(answers["clerk"][0]) == shown(answers["nobody"][0])


def test_an_unknown_name_lock_runs_out_as_an_account_lock_does(clerk):
    for name in ("clerk", "nobody"):
        for _ in range(LIMIT):
            login(name)
    past = timezone.now() - timedelta(seconds=1)
    User.objects.filter(pk=clerk.pk).update(locked_until=past)
    UnknownLogin.objects.update(locked_until=past)

    # After the lock: a try is counted again, from one
    assert_error(login("clerk"), 401, "login_failed")
    assert_error(login("nobody"), 401, "login_failed")
    clerk.refresh_from_db()
    row = UnknownLogin.objects.get()
    assert (clerk.failed_logins, clerk.locked_until) == (1, None)
    assert (row.failed_logins, row.locked_until) == (1, None)


def test_tries_at_an_unknown_name_wait_while_one_is_checked_as_at_an_account(db, monkeypatch):
    competing: list[Any] = []
    real = services.authenticate
    fired: list[bool] = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            competing.extend(login("nobody") for _ in range(4))
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "authenticate", hooked)

    assert_error(login("nobody"), 401, "login_failed")

    assert [r.status_code for r in competing] == [429] * 4
    # The wait is the rest of the 10-second hold of the try being checked
    assert all(0 < int(r["Retry-After"]) <= services.LOGIN_CHECK_LEASE_SECONDS for r in competing)
    row = UnknownLogin.objects.get()
    assert (row.failed_logins, row.login_check_until) == (1, None)


def test_rows_of_names_no_try_would_count_are_deleted_as_new_names_come(db):
    old = timezone.now() - timedelta(
        seconds=max(settings.LOGIN_FAILURE_WINDOW_SECONDS, LOCKOUT)
        + services.LOGIN_CHECK_LEASE_SECONDS
        + 1
    )
    login("stale")
    login("recent")
    UnknownLogin.objects.filter(name_hash=services._name_hash("stale")).update(
        login_tried_at=old, locked_until=old
    )

    login("newcomer")

    assert sorted(UnknownLogin.objects.values_list("name_hash", flat=True)) == sorted(
        [services._name_hash("recent"), services._name_hash("newcomer")]
    )


def test_a_throttled_address_is_told_when_to_try_again(clerk):
    pair_limit = settings.LOGIN_THROTTLE_LIMITS[0]
    for _ in range(pair_limit):
        login("clerk", address="203.0.113.9")

    throttled = login("clerk", PASSWORD, address="203.0.113.9")

    error = assert_error(throttled, 429, "locked_out")
    assert error["detail"] == {}
    cool_off = settings.AXES_COOLOFF_TIME.total_seconds()
    assert cool_off - 60 < int(throttled["Retry-After"]) <= cool_off
    # The same for a name with no account
    for _ in range(pair_limit):
        login("nobody", address="203.0.113.10")
    assert throttled.content == login("nobody", address="203.0.113.10").content


@pytest.mark.django_db(transaction=True)
def test_parallel_first_tries_at_an_unknown_name_check_no_more_than_the_limit(settings):
    """Many first tries at once at a name never seen: one makes its row, the others meet it
    (on PostgreSQL some meet it as a unique violation) and are counted or refused as at an
    account."""
    settings.PASSWORD_HASHERS = ["tests.schemes.test_login_races.SlowHasher"]
    tries = 12
    outcomes = run_in_threads(
        tries, lambda i: login("nobody", address=f"10.5.0.{i + 1}").status_code
    )
    assert [o.error for o in outcomes] == [None] * tries
    statuses = [o.value for o in outcomes]

    assert len(statuses) == tries
    assert set(statuses) <= {401, 429}
    assert 1 <= statuses.count(401) <= LIMIT
    row = UnknownLogin.objects.get()
    assert row.failed_logins == statuses.count(401)
    assert row.login_check_until is None  # every hold released
