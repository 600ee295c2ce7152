"""Issue 9 item 9: while the database is away, requests get 503 with Retry-After (the error
JSON under /api/, a short Chinese page elsewhere), not a 500. The database is made
unreachable for real: PostgreSQL at a closed port, SQLite at a path that cannot be opened."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from civicpoints.ops.unavailable import handler500


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


@pytest.fixture
def database_away(django_db_blocker, tmp_path) -> Iterator[None]:
    saved = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        if connection.vendor == "postgresql":
            connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        else:
            connection.settings_dict["NAME"] = str(tmp_path / "no-such-dir" / "db.sqlite3")
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


def test_api_answers_503_with_the_error_json(database_away):
    response = Client().get("/api/v1/regions", HTTP_AUTHORIZATION="Bearer some-token")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    body = json.loads(response.content)
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["detail"] == {"retry_after": 10}


def test_a_page_answers_503_with_a_short_chinese_page(database_away):
    # As in production: an error in a middleware (the staff session check loads the session)
    # goes to handler500, which the test client would otherwise re-raise.
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a" * 32  # the session is loaded from the database

    for path in ("/", "/m/", "/open/110101001001/"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response["Retry-After"] == "10"
        assert response["Content-Type"].startswith("text/html")
        assert "系统暂时不可用" in response.content.decode()


def test_healthz_answers_503_when_the_database_is_away(database_away):
    response = Client().get("/healthz")

    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "unavailable", "database": {"ok": False}}


def test_a_database_error_raised_outside_a_view_is_503_too_and_others_stay_500():
    request = RequestFactory().get("/households/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = handler500(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "10"

    try:
        raise ValueError("a bug")
    except ValueError:
        response = handler500(request)
    assert response.status_code == 500
