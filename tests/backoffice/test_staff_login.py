"""The staff login page: throttled per address, a Chinese message when locked, the admin's own
login form replaced by it, and staff sessions that end after 12 hours or 30 idle minutes
while residents' phone sessions keep their longer life."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.test import Client

from civicpoints.backoffice.sessions import LOGIN_AT, SEEN_AT
from civicpoints.households.services import household_set_pin
from civicpoints.portal.views import SESSION_KEY
from civicpoints.schemes.models import Role, User
from tests.factories import PASSWORD, make_household, make_staff

LOCKED_TEXT = "登录失败次数过多，请稍后再试或联系管理员解锁"


@pytest.fixture
def clerk(world) -> User:
    return make_staff("clerk", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)


def page_login(client: Client, password: str) -> object:
    return client.post("/login/", {"username": "clerk", "password": password})


def test_the_login_page_throttles_an_address_and_says_so_in_chinese(clerk):
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    limit = settings.LOGIN_THROTTLE_LIMITS[0]
    for _ in range(limit):
        response = page_login(guesser, "wrong")
        assert response.status_code == 200
        assert "用户名或密码错误" in response.content.decode()

    locked = page_login(guesser, PASSWORD)

    assert locked.status_code == 429
    assert LOCKED_TEXT in locked.content.decode()
    assert "_auth_user_id" not in guesser.session
    clerk.refresh_from_db()
    assert clerk.locked_until is None  # the account itself is not locked
    office = Client(REMOTE_ADDR="198.51.100.7")
    assert page_login(office, PASSWORD).status_code == 302


def test_the_admin_login_form_leads_to_the_staff_login(clerk):
    response = Client().get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"


def logged_in(clerk: User) -> Client:
    client = Client()
    assert page_login(client, PASSWORD).status_code == 302
    return client


def set_times(client: Client, login_ago: int, seen_ago: int) -> None:
    session = client.session
    now = int(time.time())
    session[LOGIN_AT] = now - login_ago
    session[SEEN_AT] = now - seen_ago
    session.save()


def test_a_staff_session_ends_after_30_idle_minutes(clerk):
    client = logged_in(clerk)
    set_times(client, login_ago=3600, seen_ago=settings.STAFF_SESSION_IDLE_SECONDS + 5)

    response = client.get("/households/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session
    assert "登录已超时，请重新登录" in client.get(response["Location"]).content.decode()


def test_a_staff_session_ends_12_hours_after_login_however_busy(clerk):
    client = logged_in(clerk)
    set_times(client, login_ago=settings.STAFF_SESSION_MAX_SECONDS + 5, seen_ago=10)

    response = client.get("/households/")

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_an_active_staff_session_lives_and_is_written_at_most_once_a_minute(clerk):
    client = logged_in(clerk)
    set_times(client, login_ago=11 * 3600, seen_ago=29 * 60)

    assert client.get("/households/").status_code == 200
    seen = client.session[SEEN_AT]
    assert int(time.time()) - seen < 5  # refreshed: the idle clock starts again

    set_times(client, login_ago=11 * 3600, seen_ago=30)
    before = client.session[SEEN_AT]
    assert client.get("/households/").status_code == 200
    assert client.session[SEEN_AT] == before  # within the minute: not written


def test_a_residents_phone_session_is_left_alone(world):
    household = make_household(world.scheme, world.village_a1)
    household_set_pin(actor_id=None, household=household, pin="258036")
    phone = Client()
    response = phone.post("/m/login/", {"card": household.card_code, "pin": "258036"})
    assert response.status_code == 302

    assert phone.get("/m/").status_code == 200

    assert phone.session[SESSION_KEY] == household.pk
    assert LOGIN_AT not in phone.session and SEEN_AT not in phone.session
    assert phone.session.get_expiry_age() == settings.SESSION_COOKIE_AGE >= 7 * 24 * 3600


@pytest.mark.parametrize("debug,secure", [("1", "False"), ("0", "True")])
def test_cookies_are_secure_whenever_debug_is_off(debug, secure):
    env = {k: v for k, v in os.environ.items() if k not in {"COOKIES_SECURE", "DEBUG"}}
    env.update(DEBUG=debug, DJANGO_SETTINGS_MODULE="civicpoints.settings")
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()

    assert out == [secure, secure, "True"]
