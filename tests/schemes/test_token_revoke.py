"""API tokens end: on logout, on logout everywhere, when the password changes by any path, when
the user is deactivated, and from the admin's token list."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.households.models import ResidentToken
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import ApiToken, Role, User
from tests.api.conftest import assert_error
from tests.factories import PASSWORD, make_household, make_staff

TOKEN = "/api/v1/auth/token"


def issue(username: str = "clerk", password: str = PASSWORD) -> str:
    response = Client().post(
        TOKEN, {"username": username, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def works(token: str) -> bool:
    status = bearer(token).get("/api/v1/regions").status_code
    assert status in (200, 401), status
    return status == 200


@pytest.fixture
def clerk(world) -> User:
    return make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)


def test_logout_ends_the_presented_token_only(clerk):
    phone, laptop = issue(), issue()

    response = bearer(phone).post("/api/v1/auth/logout")

    assert response.status_code == 200
    assert response.json() == {"revoked": 1}
    assert not works(phone)
    assert works(laptop)
    assert_error(bearer(phone).post("/api/v1/auth/logout"), 401, "not_authenticated")
    assert AuditEvent.objects.filter(actor=clerk, action="staff.logout").count() == 1


def test_logout_all_ends_every_token_of_the_user(world, clerk):
    other = make_staff("other", Role.STORE_CLERK, world.village_a1, world.scheme)
    mine = [issue() for _ in range(3)]
    theirs = issue("other")

    response = bearer(mine[0]).post("/api/v1/auth/logout-all")

    assert response.json() == {"revoked": 3}
    assert [works(t) for t in mine] == [False, False, False]
    assert works(theirs)
    assert ApiToken.objects.filter(user=other).count() == 1


def test_a_password_change_ends_the_users_tokens(clerk):
    token = issue()

    clerk.set_password("a new long password 1")
    clerk.save()

    assert not works(token)
    assert ApiToken.objects.filter(user=clerk).count() == 0
    event = AuditEvent.objects.get(action="staff.tokens_revoked")
    assert event.detail == {"user": clerk.pk, "count": 1, "reason": "password"}
    assert works(issue(password="a new long password 1"))


def test_a_password_changed_behind_the_orms_back_still_ends_the_tokens(clerk):
    """No signal runs for a queryset update: the token's password mark refuses it anyway."""
    token = issue()

    User.objects.filter(pk=clerk.pk).update(password=make_password("a new long password 1"))

    assert not works(token)


def test_saving_the_user_without_a_password_change_keeps_the_tokens(clerk):
    token = issue()

    clerk.display_name = "张三"
    clerk.save()
    clerk.last_login = None
    clerk.save(update_fields=["last_login"])

    assert works(token)


def test_deactivation_ends_the_users_tokens(clerk):
    token = issue()

    clerk.is_active = False
    clerk.save()

    assert ApiToken.objects.filter(user=clerk).count() == 0
    assert not works(token)


@pytest.fixture
def superuser_client(world) -> Client:
    admin = User.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(admin)
    return client


def _admin_action(client: Client, url: str, action: str, ids: list[int]) -> Any:
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids]})


def test_the_admin_password_form_ends_the_users_tokens(clerk, superuser_client):
    token = issue()

    response = superuser_client.post(
        f"/admin/schemes/user/{clerk.pk}/password/",
        {"password1": "a new long password 1", "password2": "a new long password 1"},
    )

    assert response.status_code == 302, response.content[:300]
    assert not works(token)


def test_the_admin_lists_tokens_and_revokes_them(clerk, superuser_client):
    keep, drop = issue(), issue()
    drop_row = ApiToken.objects.order_by("-pk").first()
    assert drop_row is not None

    listing = superuser_client.get("/admin/schemes/apitoken/")
    assert listing.status_code == 200
    assert listing.content.decode().count('name="_selected_action"') == 2

    done = _admin_action(superuser_client, "/admin/schemes/apitoken/", "revoke", [drop_row.pk])

    assert done.status_code == 302
    assert not works(drop)
    assert works(keep)
    assert AuditEvent.objects.filter(action="staff.tokens_revoked").count() == 1


def test_the_admin_revokes_every_token_of_a_user(clerk, superuser_client):
    tokens = [issue(), issue()]

    done = _admin_action(superuser_client, "/admin/schemes/user/", "revoke_tokens", [clerk.pk])

    assert done.status_code == 302
    assert [works(t) for t in tokens] == [False, False]


def test_a_resident_logs_out_and_a_new_pin_ends_the_tokens(world):
    household = make_household(world.scheme, world.village_a1)
    household_set_pin(actor_id=None, household=household, pin="258036")

    def resident_token() -> str:
        response = Client().post(
            "/api/v1/auth/resident-token",
            {"card": household.card_code, "pin": "258036"},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()["token"]

    def resident_works(token: str) -> bool:
        return bearer(token).get("/api/v1/orders").status_code == 200

    first, second = resident_token(), resident_token()
    assert bearer(first).post("/api/v1/auth/logout").json() == {"revoked": 1}
    assert not resident_works(first)
    assert resident_works(second)

    household_set_pin(actor_id=None, household=household, pin="369147")

    assert not resident_works(second)
    assert ResidentToken.objects.filter(household=household).count() == 0
