"""Bearer authentication costs one query a request (the token, its user and the user's grants
together) and caches nothing, so every way a token ends answers 401 on the very next request.

The trivial operation ``GET /api/v1/bench/auth`` (api/bench.py, served with BENCH_FLOOR on)
authenticates and answers how many grants the actor holds, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from civicpoints.households.models import Household, HouseholdStatus, ResidentToken
from civicpoints.households.services import (
    RESIDENT_TOKEN_PREFIX,
    household_set_pin,
    resident_token_create,
)
from civicpoints.schemes.models import ApiToken, Role, RoleGrant, User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.selectors import regions_visible
from civicpoints.schemes.services import (
    TOKEN_USE_RECORD_SECONDS,
    api_token_authenticate,
    api_token_issue,
    api_tokens_revoke,
    role_grant,
)
from tests.api.conftest import assert_error
from tests.factories import PASSWORD, make_household, make_staff

AUTH = "/api/v1/bench/auth"
PIN = "258036"


@pytest.fixture(autouse=True)
def _bench_operations(settings: Any) -> None:
    settings.BENCH_FLOOR = True


@pytest.fixture
def clerk(world) -> User:
    """A member of staff with three grants, in both schemes."""
    user = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    role_grant(user=user, scheme=world.scheme, region=world.township_a, role=Role.VILLAGE_ADMIN)
    role_grant(user=user, scheme=world.other_scheme, region=world.other_county, role=Role.AUDITOR)
    return user


def issue(username: str = "clerk", password: str = PASSWORD) -> str:
    response = Client().post(
        "/api/v1/auth/token",
        {"username": username, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def grants_seen(token: str) -> int:
    """How many grants the request's actor holds; fails unless the answer is 200."""
    response = bearer(token).get(AUTH)
    assert response.status_code == 200, response.content
    return int(response.json()["grants"])


def refused(token: str) -> None:
    assert_error(bearer(token).get(AUTH), 401, "not_authenticated")


def warm() -> None:
    """Run the token statement once on this connection (on PostgreSQL the first run on a
    connection also prepares it), so that the counts below are those of every later request."""
    assert api_token_authenticate(token="x" * 43) is None


# --- one query ------------------------------------------------------------------------------


def test_a_staff_request_is_authenticated_in_one_query(clerk, django_assert_num_queries):
    token = issue()
    assert grants_seen(token) == 3  # the first use records "last used" (a second query)

    with django_assert_num_queries(1) as captured:
        response = bearer(token).get(AUTH)

    assert response.status_code == 200
    assert response.json() == {"grants": 3}
    sql = captured.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert sql.startswith("SELECT t.id, t.password_mark")  # prepared: see the tests below
    else:
        assert "schemes_apitoken" in sql and "schemes_rolegrant" in sql


def test_a_staff_request_to_a_real_endpoint_adds_only_its_own_queries(
    clerk, django_assert_num_queries
):
    token = issue()
    client = bearer(token)
    assert client.get("/api/v1/regions").status_code == 200

    # The token with the grants, then the regions in scope.
    with django_assert_num_queries(2):
        response = client.get("/api/v1/regions")

    assert response.status_code == 200
    in_scope = regions_visible(actor_for_user(clerk))
    assert sorted(r["id"] for r in response.json()) == sorted(r.pk for r in in_scope)


def test_last_used_is_written_on_first_use_then_at_most_every_five_minutes(
    clerk, django_assert_num_queries
):
    assert TOKEN_USE_RECORD_SECONDS == 300
    token = issue()
    row = ApiToken.objects.get(user=clerk)
    assert row.last_used_at is None
    warm()

    with django_assert_num_queries(2):  # the token, then the guarded UPDATE
        assert grants_seen(token) == 3
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None and timezone.now() - first < dt.timedelta(seconds=60)

    with django_assert_num_queries(1):
        assert grants_seen(token) == 3
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - dt.timedelta(seconds=299))
    with django_assert_num_queries(1):
        assert grants_seen(token) == 3
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - dt.timedelta(seconds=301))
    with django_assert_num_queries(2):
        assert grants_seen(token) == 3
    row.refresh_from_db()
    assert row.last_used_at is not None and row.last_used_at >= first


def test_the_actor_holds_exactly_the_users_grants(world, clerk):
    raw, _row = api_token_issue(user=clerk)

    found = api_token_authenticate(token=raw)

    assert found is not None
    user, actor = found
    expected = actor_for_user(clerk)
    assert (actor.user_id, actor.username) == (clerk.pk, "clerk")
    assert sorted(actor.grants, key=repr) == sorted(expected.grants, key=repr)
    assert len(actor.grants) == 3
    assert actor.covers(
        roles=[Role.VILLAGE_ADMIN], scheme_id=world.scheme.pk, region_path=world.village_a2.path
    )
    assert not actor.covers(
        roles=[Role.VILLAGE_ADMIN], scheme_id=world.scheme.pk, region_path=world.village_b1.path
    )
    # The user read with the token: what was read is there, the rest loads when touched.
    assert (user.pk, user.username, user.is_active, user.is_authenticated) == (
        clerk.pk,
        "clerk",
        True,
        True,
    )
    assert user.display_name == clerk.display_name


def test_a_user_without_grants_is_authenticated_with_no_grant(world, django_assert_num_queries):
    User.objects.create_user(username="nobody", password=PASSWORD)
    token = issue("nobody")
    assert grants_seen(token) == 0

    with django_assert_num_queries(1):
        assert grants_seen(token) == 0


def test_a_grant_taken_away_is_gone_on_the_very_next_request(world, clerk):
    token = issue()
    assert grants_seen(token) == 3

    RoleGrant.objects.filter(user=clerk, role=Role.AUDITOR).delete()

    assert grants_seen(token) == 2
    role_grant(user=clerk, scheme=world.scheme, region=world.county, role=Role.COUNTY_ADMIN)
    assert grants_seen(token) == 3


# --- every way a staff token ends: 401 on the very next request ------------------------------


def _logout(clerk: User, token: str) -> None:
    assert bearer(token).post("/api/v1/auth/logout").json() == {"revoked": 1}


def _logout_everywhere_from_another_token(clerk: User, token: str) -> None:
    assert bearer(issue()).post("/api/v1/auth/logout-all").json() == {"revoked": 2}


def _password_saved(clerk: User, token: str) -> None:
    clerk.set_password("a new long password 1")
    clerk.save()


def _password_updated_behind_the_orms_back(clerk: User, token: str) -> None:
    User.objects.filter(pk=clerk.pk).update(password=make_password("a new long password 1"))


def _deactivated(clerk: User, token: str) -> None:
    clerk.is_active = False
    clerk.save()


def _deactivated_behind_the_orms_back(clerk: User, token: str) -> None:
    User.objects.filter(pk=clerk.pk).update(is_active=False)


def _expired(clerk: User, token: str) -> None:
    ApiToken.objects.filter(user=clerk).update(expires_at=timezone.now())


def _revoked_in_the_admin(clerk: User, token: str) -> None:
    assert api_tokens_revoke(actor_id=None, tokens=ApiToken.objects.filter(user=clerk)) == 1


STAFF_ENDINGS: list[Callable[[User, str], None]] = [
    _logout,
    _logout_everywhere_from_another_token,
    _password_saved,
    _password_updated_behind_the_orms_back,
    _deactivated,
    _deactivated_behind_the_orms_back,
    _expired,
    _revoked_in_the_admin,
]


@pytest.mark.parametrize("end", STAFF_ENDINGS, ids=lambda f: f.__name__.strip("_"))
def test_a_staff_token_that_ended_is_refused_on_the_very_next_request(clerk, end):
    token = issue()
    assert grants_seen(token) == 3
    assert grants_seen(token) == 3

    end(clerk, token)

    refused(token)
    assert api_token_authenticate(token=token) is None


def test_a_token_issued_under_an_older_password_stays_refused(clerk):
    """The hook deletes the rows; a row kept (restored from a backup) still carries the old mark."""
    token = issue()
    row = ApiToken.objects.get(user=clerk)
    _password_saved(clerk, token)
    ApiToken.objects.create(
        user=clerk,
        key_hash=row.key_hash,
        password_mark=row.password_mark,
        expires_at=row.expires_at,
    )

    refused(token)


# --- resident tokens: one query too ---------------------------------------------------------


@pytest.fixture
def household(world) -> Household:
    household = make_household(world.scheme, world.village_a1)
    household_set_pin(actor_id=None, household=household, pin=PIN)
    return household


def resident_token(household: Household) -> str:
    response = Client().post(
        "/api/v1/auth/resident-token",
        {"card": household.card_code, "pin": PIN},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def test_a_resident_request_is_authenticated_in_one_query(household, django_assert_num_queries):
    token = resident_token(household)
    assert token.startswith(RESIDENT_TOKEN_PREFIX)
    assert grants_seen(token) == 0

    with django_assert_num_queries(1):
        response = bearer(token).get(AUTH)

    assert response.json() == {"grants": 0}


def test_a_resident_token_from_before_the_prefix_still_works(household, django_assert_num_queries):
    raw = "legacy" + "A" * 37  # what token_urlsafe(32) gave: no prefix
    ResidentToken.objects.create(
        scheme_id=household.scheme_id,
        household=household,
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    warm()

    with django_assert_num_queries(2):  # no staff token of that name, then the resident's
        assert grants_seen(raw) == 0


def _resident_logout(household: Household, token: str) -> None:
    assert bearer(token).post("/api/v1/auth/logout").json() == {"revoked": 1}


def _resident_logout_everywhere(household: Household, token: str) -> None:
    other, _row = resident_token_create(household=household)
    assert bearer(other).post("/api/v1/auth/logout-all").json() == {"revoked": 2}


def _new_pin(household: Household, token: str) -> None:
    household_set_pin(actor_id=None, household=household, pin="369147")


def _household_closed(household: Household, token: str) -> None:
    Household.objects.filter(pk=household.pk).update(status=HouseholdStatus.CLOSED)


def _resident_token_expired(household: Household, token: str) -> None:
    ResidentToken.objects.filter(household=household).update(expires_at=timezone.now())


RESIDENT_ENDINGS: list[Callable[[Household, str], None]] = [
    _resident_logout,
    _resident_logout_everywhere,
    _new_pin,
    _household_closed,
    _resident_token_expired,
]


@pytest.mark.parametrize("end", RESIDENT_ENDINGS, ids=lambda f: f.__name__.strip("_"))
def test_a_resident_token_that_ended_is_refused_on_the_very_next_request(household, end):
    token = resident_token(household)
    assert grants_seen(token) == 0

    end(household, token)

    refused(token)


# --- PostgreSQL: the statement is prepared once per connection -------------------------------


def _prepared_statements() -> list[str]:
    """The statements prepared on this session, by their text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements ORDER BY name")
        return [statement for (statement,) in cursor.fetchall()]


def _token_statements() -> int:
    return sum(1 for s in _prepared_statements() if f"FROM {ApiToken._meta.db_table} t" in s)


def test_the_token_statement_is_prepared_once_per_connection(
    postgres_only, clerk, django_assert_num_queries
):
    token = issue()
    assert grants_seen(token) == 3

    assert _token_statements() == 1
    with django_assert_num_queries(1) as captured:
        assert grants_seen(token) == 3
    assert captured.captured_queries[0]["sql"].startswith("SELECT t.id, t.password_mark")
    assert _token_statements() == 1  # the same statement ran again, not a second one


@pytest.mark.django_db(transaction=True)
def test_a_statement_the_session_forgot_is_prepared_again(postgres_only):
    """DISCARD ALL (a pooler resetting the session) or DEALLOCATE: the next request still
    authenticates (outside a transaction, as every request's authentication runs)."""
    user = User.objects.create_user(username="clerk", password=PASSWORD)
    raw, _row = api_token_issue(user=user)
    assert api_token_authenticate(token=raw) is not None
    assert _token_statements() == 1

    try:
        for forget in ("DEALLOCATE ALL", "DISCARD ALL"):
            with connection.cursor() as cursor:
                cursor.execute(forget)
            assert _token_statements() == 0

            found = api_token_authenticate(token=raw)

            assert found is not None and found[0].pk == user.pk
            assert _token_statements() == 1
    finally:
        connection.close()  # DISCARD ALL also reset the session's time zone: a fresh one


@pytest.mark.django_db(transaction=True)
def test_a_rollback_between_two_requests_costs_nothing(postgres_only):
    """psycopg deallocates its statements when the connection rolls back; the next request's
    statement is prepared again, inside a transaction too (a test's, a service's)."""
    user = User.objects.create_user(username="clerk", password=PASSWORD)
    raw, _row = api_token_issue(user=user)
    try:
        assert api_token_authenticate(token=raw) is not None
        connection.set_autocommit(False)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # a transaction to roll back
        connection.rollback()  # psycopg deallocates its statements itself
        connection.set_autocommit(True)
        assert _token_statements() == 0

        with transaction.atomic():
            found = api_token_authenticate(token=raw)

        assert found is not None and found[0].pk == user.pk
        assert _token_statements() == 1
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_statement_whose_columns_a_migration_changed_is_prepared_again(postgres_only):
    """A deploy's migration changes a column the statement returns while pooled connections
    keep it prepared: PostgreSQL refuses the old plan once; the statement is prepared anew."""
    user = User.objects.create_user(username="clerk", password=PASSWORD)
    raw, _row = api_token_issue(user=user)
    assert api_token_authenticate(token=raw) is not None
    table = User._meta.db_table
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN username TYPE varchar(151)")

        found = api_token_authenticate(token=raw)

        assert found is not None and found[0].username == "clerk"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN username TYPE varchar(150)")
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_where_no_prepared_statement_lasts_the_connection_runs_the_plain_sql(
    postgres_only, monkeypatch
):
    """A pooler in transaction mode may send each statement to another server connection: a
    statement prepared by one is unknown to the next. Simulated: the server answers every
    prepared execution "prepared statement does not exist" (26000). Authentication still
    works, and that connection stops preparing."""
    connection.close()  # a fresh connection: nothing prepared on it yet
    user = User.objects.create_user(username="clerk", password=PASSWORD)
    raw, _row = api_token_issue(user=user)
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def forgetful_server(cursor: Any, query: Any, params: Any = None, **options: Any) -> Any:
        sent.append("prepared" if options.get("prepare") else str(query).split(" ", 1)[0])
        if options.get("prepare"):
            raise psycopg.errors.InvalidSqlStatementName("prepared statement does not exist")
        return execute(cursor, query, params, **options)

    try:
        monkeypatch.setattr(psycopg.Cursor, "execute", forgetful_server)
        first = api_token_authenticate(token=raw)
        after_first = list(sent)
        second = api_token_authenticate(token=raw)

        assert first is not None and second is not None
        assert first[0].pk == second[0].pk == user.pk
        assert after_first == ["prepared", "DEALLOCATE", "prepared", "SELECT", "UPDATE"]
        assert sent[len(after_first) :] == ["SELECT"]
    finally:
        monkeypatch.undo()
        connection.close()
