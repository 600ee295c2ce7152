"""The page session engine (schemes/session_store.py): Django's database sessions with their read
prepared on PostgreSQL. What a session becomes must not change: live, expired, unknown,
tampered, signed out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicpoints.schemes.models import Role
from civicpoints.schemes.models import StaffSession as Session
from civicpoints.schemes.session_store import SessionStore
from tests.factories import World, make_staff

pytestmark = pytest.mark.django_db


def _saved(**data: object) -> SessionStore:
    store = SessionStore()
    store.update(data)
    store.create()
    return store


def test_the_engine_is_ours() -> None:
    assert settings.SESSION_ENGINE == "civicpoints.schemes.session_store"


def test_a_live_session_loads_what_was_saved() -> None:
    key = _saved(colour="红", count=3).session_key
    again = SessionStore(session_key=key)
    assert again["colour"] == "红" and again["count"] == 3
    assert again.session_key == key


def test_an_expired_session_is_empty_and_forgets_its_key() -> None:
    key = _saved(colour="红").session_key
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    again = SessionStore(session_key=key)
    assert dict(again.items()) == {}
    assert again.session_key is None
    again["new"] = 1
    again.save()
    assert again.session_key != key  # a new session, never the expired key brought back


def test_an_unknown_key_is_empty() -> None:
    again = SessionStore(session_key="x" * 32)
    assert again.get("colour") is None and again.session_key is None


def test_tampered_data_is_empty() -> None:
    key = _saved(colour="红").session_key
    row = Session.objects.get(pk=key)
    # The signature's last two characters changed (they may have been "AA" already: 1 in 1,024)
    tail = "BB" if row.session_data.endswith("AA") else "AA"
    Session.objects.filter(pk=key).update(session_data=row.session_data[:-2] + tail)
    assert dict(SessionStore(session_key=key).items()) == {}


def test_one_prepared_read_on_postgresql(postgres_only: None) -> None:
    key = _saved(colour="红").session_key
    for _ in range(2):  # prepared on the first use, executed by name after
        with CaptureQueriesContext(connection) as seen:
            assert SessionStore(session_key=key)["colour"] == "红"
        assert len(seen.captured_queries) == 1
        assert "schemes_staffsession" in seen.captured_queries[0]["sql"]
    assert connection.connection.prepare_threshold is None  # the connection's other queries


def test_the_read_brings_the_signed_in_user_and_their_grants(world: World) -> None:
    admin = make_staff("admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    client = Client()
    client.force_login(admin)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.get(pk=key).user_id == admin.pk
    store = SessionStore(session_key=key)
    assert store.get("_auth_user_id") == str(admin.pk)
    assert store.signed_in is not None
    [(user_id, _password, username, active, scheme_id, region_id, path, role)] = store.signed_in
    assert (user_id, username, active) == (admin.pk, "admin", True)
    assert (scheme_id, region_id, path, role) == (
        world.scheme.pk,
        world.county.pk,
        world.county.path,
        Role.COUNTY_ADMIN,
    )
    # A deactivated user comes with no columns: the session's user is then nobody
    type(admin).objects.filter(pk=admin.pk).update(is_active=False)
    again = SessionStore(session_key=key)
    assert again.get("_auth_user_id") == str(admin.pk)  # the session itself is unchanged
    [row] = again.signed_in or []
    assert set(row) == {None}


def test_a_staff_page_session_from_login_to_logout(world: World) -> None:
    admin = make_staff("admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    client = Client()
    client.force_login(admin)
    signed_in = client.get(reverse("backoffice:home"))
    assert signed_in.status_code == 200 and signed_in.wsgi_request.user == admin
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert SessionStore(session_key=key).get("_auth_user_id") == str(admin.pk)
    client.post("/logout/")
    assert SessionStore(session_key=key).get("_auth_user_id") is None
    response = client.get(reverse("backoffice:home"))
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated
