"""Kill the server during a redemption, before and after its commit, then retry with the same
Idempotency-Key on a new server: exactly one redemption, one posting, one stock decrement.
(The keyed redemption's one-statement write commits on the database's side even when its
server is gone: the retry then replays it.)

A real gunicorn serves the test database (PostgreSQL). "Before commit": the test holds the
product's row lock, so the server's transaction stops half-way (redemption row written, stock
update waiting); the server is killed with SIGKILL and PostgreSQL rolls the transaction back.
"After commit": the server is killed as soon as the redemption is visible in the database,
before the client has read any answer. Either way the client retries, as a counter would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from civicpoints.ledger.models import Account, Posting
from civicpoints.stores.models import Product, Redemption
from tests.factories import PASSWORD
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, Shop, build_shop

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dsn() -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Server:
    """gunicorn on the test database, in its own process group so SIGKILL takes it all."""

    def __init__(self) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(
            {
                "DATABASE_URL": _dsn().replace("postgresql://", "postgres://", 1),
                "CIVICPOINTS_TESTING": "1",
                "CIVICPOINTS_DB_POOL": "0",
                "IDEMPOTENCY_LEASE_SECONDS": "2",
                "DEBUG": "0",
            }
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "civicpoints.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--timeout",
                "120",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.kill()
        raise AssertionError("gunicorn did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body) if body is not None else None,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
        finally:
            conn.close()


@pytest.fixture
def server_factory(postgres_only: None) -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for s in servers:
        s.kill()


def _token(server: Server, username: str) -> str:
    status, body, _ = server.call(
        "POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD}
    )
    assert status == 200, body
    return str(body["token"])


def _redeem_body(shop: Shop, product: Product | None = None) -> dict[str, Any]:
    return {
        "household": shop.household.pk,
        "items": [{"product": (product or shop.cooker).pk, "quantity": 1}],
        "pin": PIN,
    }


def _wait(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _retry_until_done(
    server: Server, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A counter's retry: again while the dead attempt's lease still holds the key (409)."""
    deadline = time.monotonic() + 30
    while True:
        status, answer, response_headers = server.call("POST", path, body, headers)
        if status != 409 or time.monotonic() > deadline:
            return status, answer, response_headers
        assert answer["error"]["code"] == "idempotency_in_flight", answer
        time.sleep(0.5)


def _assert_one_effect(shop: Shop, before: dict[str, int], product: Product | None = None) -> None:
    product = product or shop.cooker
    assert Redemption.objects.filter(household=shop.household).count() == 1
    assert Posting.objects.filter(kind="redemption").count() == 1
    assert Product.objects.get(pk=product.pk).stock == before["stock"] - 1
    balance = Account.objects.get(household=shop.household).balance
    assert balance == before["balance"] - product.price
    assert_ledger_ok(shop.world.scheme.pk)


def _before(shop: Shop, product: Product | None = None) -> dict[str, int]:
    return {
        "stock": Product.objects.get(pk=(product or shop.cooker).pk).stock,
        "balance": Account.objects.get(household=shop.household).balance,
    }


def test_killed_before_commit_then_retried(world, server_factory) -> None:
    """The general way (a product with a per-household limit): several statements in one
    transaction whose COMMIT the server would send; killed half-way, nothing is kept."""
    shop = build_shop(world)
    product = shop.rice
    before = _before(shop, product)
    first = Server()
    server_factory.append(first)
    headers = {
        "Authorization": f"Bearer {_token(first, shop.clerk.username)}",
        "Idempotency-Key": "counter-7-tap-1",
    }
    path = f"/api/v1/stores/{shop.store.pk}/redemptions"
    # Given the product's row is locked, so the server's transaction stops half-way
    with (
        psycopg.connect(_dsn()) as blocker,
        psycopg.connect(_dsn(), autocommit=True) as watcher,
    ):
        blocker.execute("SELECT 1 FROM stores_product WHERE id = %s FOR UPDATE", [product.pk])
        thread = threading.Thread(
            target=lambda: _swallow(first.call, "POST", path, _redeem_body(shop, product), headers),
            daemon=True,
        )
        thread.start()

        _wait(lambda: _waiting(watcher, "UPDATE%stores_product%"))
        # When the server dies mid-transaction
        first.kill()
        blocker.rollback()
    thread.join(timeout=10)
    connection.close()
    assert Redemption.objects.filter(household=shop.household).count() == 0
    # Then a retry with the same key on a new server makes the one redemption
    second = Server()
    server_factory.append(second)
    status, answer, response_headers = _retry_until_done(
        second, path, _redeem_body(shop, product), headers
    )
    assert status == 201, answer
    assert "Idempotency-Replayed" not in response_headers
    _assert_one_effect(shop, before, product)
    # And a further retry replays it
    status, again, response_headers = second.call(
        "POST", path, _redeem_body(shop, product), headers
    )
    assert status == 201 and again == answer
    assert response_headers.get("Idempotency-Replayed") == "true"
    _assert_one_effect(shop, before, product)


def _waiting(watcher: psycopg.Connection, query: str) -> bool:
    # Its own autocommit connection: pg_stat_activity is a snapshot per transaction.
    row = watcher.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s"
        " AND datname = current_database()",  # not another test run's server on the same cluster
        [query],
    ).fetchone()
    return bool(row and row[0])


def test_killed_during_the_one_statement_write_then_retried(world, server_factory) -> None:
    """The one-statement write (stores/services/counter_keyed.py) is its own transaction: the
    database commits it when the statement ends, whether or not the server that sent it is
    still there. A server killed while its write waits still makes the one redemption, with
    its stored answer; the retry on a new server gets that answer again."""
    shop = build_shop(world)
    before = _before(shop)
    first = Server()
    server_factory.append(first)
    headers = {
        "Authorization": f"Bearer {_token(first, shop.clerk.username)}",
        "Idempotency-Key": "counter-7-tap-3",
    }
    path = f"/api/v1/stores/{shop.store.pk}/redemptions"
    # Given the product's row is locked, so the write waits on its stock update
    with (
        psycopg.connect(_dsn()) as blocker,
        psycopg.connect(_dsn(), autocommit=True) as watcher,
    ):
        blocker.execute("SELECT 1 FROM stores_product WHERE id = %s FOR UPDATE", [shop.cooker.pk])
        thread = threading.Thread(
            target=lambda: _swallow(first.call, "POST", path, _redeem_body(shop), headers),
            daemon=True,
        )
        thread.start()
        _wait(lambda: _waiting(watcher, "SELECT stores_counter_redeem(%"))
        # When the server dies while its write waits
        first.kill()
        blocker.rollback()
    thread.join(timeout=10)
    connection.close()
    # Then the statement finishes on its own: one redemption, committed with its answer
    _wait(lambda: Redemption.objects.filter(household=shop.household).exists())
    second = Server()
    server_factory.append(second)
    status, answer, response_headers = _retry_until_done(second, path, _redeem_body(shop), headers)
    assert status == 201, answer
    assert response_headers.get("Idempotency-Replayed") == "true"
    assert answer["balance_after"] == (before["balance"] - shop.cooker.price) / 100
    _assert_one_effect(shop, before)


def test_killed_after_commit_then_retried(world, server_factory) -> None:
    shop = build_shop(world)
    before = _before(shop)
    first = Server()
    server_factory.append(first)
    headers = {
        "Authorization": f"Bearer {_token(first, shop.clerk.username)}",
        "Idempotency-Key": "counter-7-tap-2",
    }
    path = f"/api/v1/stores/{shop.store.pk}/redemptions"
    thread = threading.Thread(
        target=lambda: _swallow(first.call, "POST", path, _redeem_body(shop), headers),
        daemon=True,
    )
    thread.start()
    # When the redemption has committed, the server dies before the client reads an answer
    with psycopg.connect(_dsn(), autocommit=True) as watcher:

        def committed() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM stores_redemption WHERE household_id = %s",
                [shop.household.pk],
            ).fetchone()
            return bool(row and row[0])

        _wait(committed)
    first.kill()
    thread.join(timeout=10)
    connection.close()
    # Then the retry on a new server replays the first answer: still one redemption
    second = Server()
    server_factory.append(second)
    status, answer, response_headers = _retry_until_done(second, path, _redeem_body(shop), headers)
    assert status == 201, answer
    assert response_headers.get("Idempotency-Replayed") == "true"
    _assert_one_effect(shop, before)


def _swallow(call: Any, *args: Any) -> None:
    """The first attempt's client sees its connection die; that is the point."""
    with contextlib.suppress(OSError, http.client.HTTPException, json.JSONDecodeError):
        call(*args)
