"""Staff login under concurrency: a try is counted before its password is checked, one check
per account at a time, and a good password never lifts a lock that another try took.

The parallel test fires real requests from threads (each thread its own database connection)
at an account with a deliberately slow password hash; the hook tests run a competing login
between the count and the check, deterministically, on both databases.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.test import Client
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.schemes import services
from civicpoints.schemes.models import Role, User
from tests.factories import PASSWORD, make_staff

TOKEN = "/api/v1/auth/token"


class SlowHasher(PBKDF2PasswordHasher):
    """Slow enough (tens of ms) that parallel requests overlap while one hashes."""

    algorithm = "pbkdf2_slow_test"
    iterations = 60_000


def _post(address: str, username: str, password: str) -> Any:
    return Client(REMOTE_ADDR=address).post(
        TOKEN, {"username": username, "password": password}, content_type="application/json"
    )


def _checks(user: User) -> Counter[str]:
    """How many passwords were checked, by outcome (one audit row per check)."""
    return Counter(
        AuditEvent.objects.filter(
            actor=user, action__in=["staff.login_failed", "staff.login"]
        ).values_list("action", flat=True)
    )


def _failure_runs(user: User) -> list[list[int]]:
    """The failures each wrong password's check counted, in the order checked, split at each
    successful login."""
    runs: list[list[int]] = [[]]
    for action, detail in (
        AuditEvent.objects.filter(actor=user, action__in=["staff.login_failed", "staff.login"])
        .order_by("pk")
        .values_list("action", "detail")
    ):
        if action == "staff.login":
            runs.append([])
        else:
            runs[-1].append(detail["failures"])
    return runs


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_check_no_more_passwords_than_the_limit(world, settings):
    settings.PASSWORD_HASHERS = ["tests.schemes.test_login_races.SlowHasher"]
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    clerk.set_password(PASSWORD)
    clerk.save()
    tries = 24
    passwords = [f"wrong {i}" for i in range(tries - 1)] + [PASSWORD]
    start = threading.Barrier(tries)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        try:
            start.wait()
            # Every try from its own address: the address throttle is not what stops them.
            statuses.append(_post(f"10.9.0.{i + 1}", "clerk", passwords[i]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(tries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    checked = _checks(clerk)
    assert len(statuses) == tries
    assert set(statuses) <= {200, 401, 429}
    # Before the fix 24 parallel tries checked about 11 passwords. Now the checks run one at
    # a time and count 1, 2, ... up to the limit; only the right password, which forgets the
    # failures, starts the count again (so it may come between two runs of wrong ones).
    runs = _failure_runs(clerk)
    assert all(run == list(range(1, len(run) + 1)) for run in runs), runs
    assert all(len(run) <= settings.LOGIN_FAILURE_LIMIT for run in runs), runs
    assert len(runs) == 1 + checked["staff.login"]
    assert statuses.count(200) == checked["staff.login"] <= 1
    assert statuses.count(401) == checked["staff.login_failed"]
    clerk.refresh_from_db()
    if len(runs[-1]) >= settings.LOGIN_FAILURE_LIMIT:  # the limit's failures since a login
        assert clerk.locked_until is not None and clerk.locked_until > timezone.now()
    assert clerk.login_check_until is None  # every hold released


def _hook(monkeypatch: pytest.MonkeyPatch, during_check: Any) -> None:
    """Run ``during_check`` once, between the count and the password check of the next login."""
    real = services.authenticate
    fired = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            during_check()
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "authenticate", hooked)


def test_tries_while_a_password_is_checked_are_refused_and_not_counted(world, monkeypatch):
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    competing: list[int] = []
    _hook(
        monkeypatch,
        lambda: competing.extend(
            _post(f"10.8.0.{i}", "clerk", "wrong").status_code for i in range(1, 9)
        ),
    )

    response = _post("10.8.1.1", "clerk", PASSWORD)

    assert response.status_code == 200
    assert competing == [429] * 8
    assert _checks(clerk) == Counter({"staff.login": 1})
    clerk.refresh_from_db()
    assert (clerk.failed_logins, clerk.locked_until, clerk.login_check_until) == (0, None, None)


def test_a_good_password_does_not_lift_a_lock_taken_while_it_was_checked(world, monkeypatch):
    """The right password last: its check takes long enough (the hold runs out) for four more
    wrong tries to reach the limit and lock the account; its success must leave that lock."""
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)

    def five_wrong_after_the_hold_ran_out() -> None:
        User.objects.filter(pk=clerk.pk).update(
            login_check_until=timezone.now() - timedelta(seconds=1)
        )
        for i in range(1, settings.LOGIN_FAILURE_LIMIT):
            assert _post(f"10.7.0.{i}", "clerk", "wrong").status_code == 401

    _hook(monkeypatch, five_wrong_after_the_hold_ran_out)

    response = _post("10.7.1.1", "clerk", PASSWORD)

    assert response.status_code == 200  # checked under a counted try, before the lock
    clerk.refresh_from_db()
    assert clerk.locked_until is not None and clerk.locked_until > timezone.now()
    assert _post("10.7.2.1", "clerk", PASSWORD).status_code == 429
    actions = list(
        AuditEvent.objects.filter(actor=clerk).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["staff.login_failed"] * 4 + ["staff.locked", "staff.login"]


def test_the_try_that_reaches_the_limit_may_still_succeed(world):
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    for i in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert _post(f"10.6.0.{i + 1}", "clerk", "wrong").status_code == 401

    assert _post("10.6.1.1", "clerk", PASSWORD).status_code == 200

    clerk.refresh_from_db()
    assert (clerk.failed_logins, clerk.locked_until) == (0, None)


def test_failures_older_than_the_window_are_forgotten(world):
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    for i in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert _post(f"10.5.0.{i + 1}", "clerk", "wrong").status_code == 401
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + 1)
    User.objects.filter(pk=clerk.pk).update(login_tried_at=timezone.now() - window)

    assert _post("10.5.1.1", "clerk", "wrong").status_code == 401

    clerk.refresh_from_db()
    assert (clerk.failed_logins, clerk.locked_until) == (1, None)


def test_an_expired_lock_starts_a_fresh_count(world):
    clerk = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        assert _post(f"10.4.0.{i + 1}", "clerk", "wrong").status_code == 401
    assert _post("10.4.1.1", "clerk", PASSWORD).status_code == 429
    User.objects.filter(pk=clerk.pk).update(locked_until=timezone.now() - timedelta(seconds=1))

    assert _post("10.4.2.1", "clerk", "wrong").status_code == 401

    clerk.refresh_from_db()
    assert (clerk.failed_logins, clerk.locked_until) == (1, None)
    assert _post("10.4.3.1", "clerk", PASSWORD).status_code == 200
