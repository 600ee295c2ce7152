"""POST /api/v1/auth/token and bearer authentication: tokens, grants, lockout and unlock.

Each try comes from its own client address unless a test is about one address: the address
throttle (three failures per account per address) is tested in tests/schemes/test_login_throttle.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.services import staff_unlock
from tests.api.conftest import assert_error, check_each, snapshot
from tests.factories import PASSWORD, make_staff

TOKEN = "/api/v1/auth/token"


_addresses = itertools.count(1)


def login(username: str, password: str, address: str | None = None) -> Any:
    """A token request from ``address`` (a fresh one each time unless given)."""
    address = address or f"10.0.{next(_addresses) // 250}.{next(_addresses) % 250 + 1}"
    return Client(REMOTE_ADDR=address).post(
        TOKEN, {"username": username, "password": password}, content_type="application/json"
    )


@pytest.fixture
def clerk(world) -> User:
    return make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)


def test_token_returns_token_and_grants(world, clerk):
    response = login("clerk", PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at", "username", "grants"}
    assert len(body["token"]) >= 40
    assert body["username"] == "clerk"
    assert body["grants"] == [
        {
            "scheme": world.scheme.pk,
            "region": world.village_a1.pk,
            "region_name": "晓光村",
            "role": "store_clerk",
        }
    ]
    regions = Client(HTTP_AUTHORIZATION=f"Bearer {body['token']}").get("/api/v1/regions")
    assert regions.status_code == 200
    assert [r["name"] for r in regions.json()] == ["晓光村"]


def test_wrong_password_is_401_and_issues_nothing(clerk):
    before = snapshot()

    response = login("clerk", "wrong password")

    assert_error(response, 401, "login_failed")
    # Only the failure's audit row is written; nothing else.
    assert snapshot() == {**before, "audit": before["audit"] + 1}
    assert AuditEvent.objects.latest("pk").action == "staff.login_failed"
    clerk.refresh_from_db()
    assert clerk.failed_logins == 1


def test_unknown_user_looks_like_a_wrong_password(clerk):
    before = snapshot()

    response = login("nobody", PASSWORD)

    assert_error(response, 401, "login_failed")
    assert snapshot() == before


def test_five_failures_lock_the_account_until_unlocked(clerk):
    assert settings.LOGIN_FAILURE_LIMIT == 5
    for _ in range(5):
        assert_error(login("clerk", "wrong password"), 401, "login_failed")
    before = snapshot()

    locked = login("clerk", PASSWORD)

    error = assert_error(locked, 429, "locked_out")
    assert error["detail"] == {}
    assert snapshot() == before
    clerk.refresh_from_db()
    assert clerk.locked_until is not None

    staff_unlock(actor_id=None, user=clerk)

    response = login("clerk", PASSWORD)
    assert response.status_code == 200
    assert response.json()["username"] == "clerk"
    clerk.refresh_from_db()
    assert (clerk.failed_logins, clerk.locked_until) == (0, None)
    actions = list(
        AuditEvent.objects.filter(actor=clerk).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["staff.login_failed"] * 5 + ["staff.locked", "staff.login"]
    assert AuditEvent.objects.filter(action="staff.unlock", detail__user=clerk.pk).count() == 1


def test_a_success_resets_the_failure_count(clerk):
    for _ in range(4):
        assert_error(login("clerk", "wrong password"), 401, "login_failed")

    assert login("clerk", PASSWORD).status_code == 200
    assert_error(login("clerk", "wrong password"), 401, "login_failed")

    assert login("clerk", PASSWORD).status_code == 200


def test_inactive_user_cannot_log_in(clerk):
    User.objects.filter(pk=clerk.pk).update(is_active=False)

    assert_error(login("clerk", PASSWORD), 401, "login_failed")


BAD_HEADERS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer not-a-token",
    "Bearer " + "x" * 10_000,
    "Basic Y2xlcms6cGFzc3dvcmQ=",
    "Token abc",
    "bearer  x y",
]


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/regions"),
        ("get", "/api/v1/households?q=a"),
        ("get", "/api/v1/households/1"),
        ("get", "/api/v1/households/1/entries"),
        ("post", "/api/v1/households"),
        ("post", "/api/v1/ledger/adjustments"),
        ("get", "/api/v1/ledger/verify"),
    ],
)
def test_missing_or_invalid_bearer_is_401(clerk, method, path):
    before = snapshot()

    def check(header: str | None) -> None:
        client = Client() if header is None else Client(HTTP_AUTHORIZATION=header)
        if method == "get":
            response = client.get(path)
        else:
            response = client.post(
                path, {"household": 1}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
            )
        assert_error(response, 401, "not_authenticated")

    check_each(BAD_HEADERS, check)
    assert snapshot() == before


def test_expired_token_is_401(clerk):
    from civicpoints.schemes.models import ApiToken

    response = login("clerk", PASSWORD)
    token = response.json()["token"]
    ApiToken.objects.filter(user=clerk).update(expires_at="2000-01-01T00:00:00Z")

    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/regions")

    assert_error(response, 401, "not_authenticated")


def test_token_of_deactivated_user_is_401(clerk):
    token = login("clerk", PASSWORD).json()["token"]
    User.objects.filter(pk=clerk.pk).update(is_active=False)

    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/regions")

    assert_error(response, 401, "not_authenticated")


def test_password_with_control_characters_is_only_a_wrong_password(clerk):
    before = snapshot()

    response = login("clerk", "correct horse\x00")

    assert_error(response, 401, "login_failed")
    # Only the failure's audit row is written; nothing else.
    assert snapshot() == {**before, "audit": before["audit"] + 1}
    assert AuditEvent.objects.latest("pk").action == "staff.login_failed"
