"""Fault test: a stream of keyed money calls survives a SIGKILLed worker and a PostgreSQL
restart with 0 lost, 0 doubled, and ``verify`` ok.

The test starts its OWN PostgreSQL cluster (initdb into a temporary folder, on a free port,
as the ``postgres`` user when run as root) so that restarting it disturbs no one, copies the
test database into it, and serves it with a real gunicorn. A client sends store redemptions,
merchant payments (card + PIN) and partial refunds, each with its own Idempotency-Key, and
retries a call on a dropped connection, a 5xx or a 409 exactly as a counter would. Every
``DROP_EVERY``-th call's first success is thrown away (as if the answer were lost after the
commit): the retry with the same key must be a replay of the same answer, not a second posting.
Mid-stream the gunicorn process group is SIGKILLed (and started again) and PostgreSQL is
restarted in ``immediate`` mode (no shutdown checkpoint: crash recovery). Manual adjustments
are not in the stream: they wait for a second admin's approval (four eyes), so they post
nothing directly.
The counts are printed in the test run's summary (``run_summary``, tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from civicpoints.merchants.services import merchant_create
from civicpoints.ops.backup import pg_tool
from civicpoints.schemes.models import Role
from civicpoints.stores.services import product_create, stock_receive
from tests.factories import PASSWORD, World, make_staff
from tests.stores.conftest import PIN, build_shop

pytestmark = pytest.mark.django_db(transaction=True)

OPERATIONS = 60  # 20 each of redemption, payment, refund
KILL_AT, RESTART_AT = 15, 35  # accepted calls before each fault
DROP_EVERY = 4  # not 3: the stream cycles redeem/pay/refund, so 4 hits every kind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throw-away PostgreSQL cluster; as root, run as the ``postgres`` user (initdb refuses root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="civicpoints-faults-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            pg_tool("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self._ctl(
            "start",
            "-w",
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
        )
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/civicpoints"
        with psycopg.connect(self.dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE civicpoints")

    def _run(self, *args: str) -> None:
        # No pipes: a started server would hold them open and the call would never return.
        subprocess.run(
            [*self.as_user, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def _ctl(self, *args: str) -> None:
        self._run(pg_tool("pg_ctl"), "-D", str(self.data), *args)

    def restart(self) -> None:
        """Stop at once (crash recovery on start), then start again."""
        self._ctl("restart", "-w", "-m", "immediate", "-l", str(self.root / "log"))

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """gunicorn on the cluster, always on the same port, in its own process group."""

    def __init__(self, dsn: str) -> None:
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self.env.update(
            {
                "DATABASE_URL": dsn.replace("postgresql://", "postgres://", 1),
                "CIVICPOINTS_TESTING": "1",
                "IDEMPOTENCY_LEASE_SECONDS": "2",
                "DEBUG": "0",
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
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
                "60",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise AssertionError("gunicorn did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def call(
        self, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, JSON answer, whether the answer is a replay of an earlier one)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                "POST",
                path,
                body=json.dumps(body),
                headers={"Content-Type": "application/json", **headers},
            )
            response = conn.getresponse()
            answer = json.loads(response.read() or b"{}")
            return response.status, answer, response.getheader("Idempotency-Replayed") == "true"
        finally:
            conn.close()


@dataclass
class Client:
    """A counter: one call at a time, retried with the same key until it has an answer."""

    server: Server
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> answer
    retried: int = 0
    server_errors: int = 0
    dropped: int = 0
    answers_dropped: int = 0  # successes thrown away on purpose, then asked again
    replayed: int = 0  # answers marked Idempotency-Replayed
    mismatched: list[tuple[str, Any, Any]] = field(default_factory=list)

    def send(self, path: str, body: Any, key: str, token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        drop = len(self.accepted) % DROP_EVERY == DROP_EVERY - 1
        lost_answer: dict[str, Any] | None = None
        deadline = time.monotonic() + 60
        pause = False
        while time.monotonic() < deadline:
            if pause:
                self.retried += 1
                time.sleep(0.2)
            pause = True
            try:
                status, answer, replayed = self.server.call(path, body, headers)
            except (OSError, http.client.HTTPException, json.JSONDecodeError):
                self.dropped += 1
                continue
            if status >= 500:
                self.server_errors += 1
                continue
            if status == 409:  # the killed attempt's lease still holds the key
                continue
            assert status == 201, (key, status, answer)
            self.replayed += replayed
            if lost_answer is not None and (not replayed or answer != lost_answer):
                self.mismatched.append((key, lost_answer, answer))
            elif drop and lost_answer is None:  # the answer is "lost": ask again at once
                lost_answer, pause = answer, False
                self.answers_dropped += 1
                continue
            self.accepted[key] = answer
            return answer
        raise AssertionError(f"{key}: no answer in 60 s")


@pytest.fixture
def cluster(postgres_only: None) -> Iterator[Cluster]:
    if shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("runuser is needed to run initdb as the postgres user")
    made = Cluster()
    yield made
    made.stop()


def _copy_test_database(cluster: Cluster) -> None:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "PGHOST": str(db["HOST"]),
        "PGPORT": str(db["PORT"]),
        "PGUSER": str(db["USER"]),
        "PGPASSWORD": str(db.get("PASSWORD") or ""),
    }
    dump = subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", db["NAME"]],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    subprocess.run(
        [
            pg_tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={cluster.dsn}",
        ],
        input=dump.stdout,
        capture_output=True,
        check=True,
        timeout=60,
    )


def _token(server: Server, username: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(
        "POST",
        "/api/v1/auth/token",
        body=json.dumps({"username": username, "password": PASSWORD}),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    return str(body["token"])


def test_keyed_stream_survives_a_killed_worker_and_a_database_restart(
    world: World, cluster: Cluster, run_summary: Any
) -> None:
    # Given a store with a clerk, a merchant with a cashier, and a household with points
    shop = build_shop(world)
    soap = product_create(actor=shop.admin_actor, store=shop.store, name="肥皂", price=100)
    stock_receive(actor=shop.clerk_actor, product=soap, quantity=500, value_fen=50_000)
    cashier = make_staff("cashier", Role.MERCHANT_CLERK, world.township_a, world.scheme)
    merchant = merchant_create(
        actor=shop.admin_actor,
        scheme_id=world.scheme.pk,
        legal_name="通榆县开通镇惠民超市有限公司",
        shop_name="惠民超市",
        bank_name="中国农业银行通榆支行",
        account_name="通榆县开通镇惠民超市有限公司",
        bank_account="6228 4801 2345 6789 012",
        regions=[world.township_a],
        clerk_ids=[cashier.pk],
    )
    household = shop.household
    start_balance = 1_270_000
    # served from a cluster of our own, so that it can be restarted
    _copy_test_database(cluster)
    with psycopg.connect(cluster.dsn) as db:
        (postings_before,) = db.execute("SELECT count(*) FROM ledger_posting").fetchone()  # type: ignore[misc]
    server = Server(cluster.dsn)
    try:
        client = Client(server)
        clerk, till = _token(server, shop.clerk.username), _token(server, cashier.username)
        faults: list[str] = []
        started = time.monotonic()

        def injector() -> None:
            while len(client.accepted) < KILL_AT:
                time.sleep(0.01)
            server.kill()  # most likely mid-request: the client sends back to back
            faults.append("worker SIGKILL")
            server.start()
            while len(client.accepted) < RESTART_AT:
                time.sleep(0.01)
            cluster.restart()
            faults.append("PostgreSQL restart")

        thread = threading.Thread(target=injector, daemon=True)
        thread.start()
        # When the counter sends its stream of keyed calls
        redemptions = f"/api/v1/stores/{shop.store.pk}/redemptions"
        payments = f"/api/v1/merchants/{merchant.pk}/payments"
        spent = 0
        for i in range(OPERATIONS // 3):
            client.send(
                redemptions,
                {
                    "household": household.pk,
                    "items": [{"product": soap.pk, "quantity": 1}],
                    "pin": PIN,
                },
                f"fault-redeem-{i:03}",
                clerk,
            )
            paid = client.send(
                payments,
                {"card": household.card_code, "pin": PIN, "points": 2},
                f"fault-pay-{i:03}",
                till,
            )
            client.send(
                f"{payments}/{paid['id']}/refunds",
                {"points": 1, "reason": "退一半"},
                f"fault-refund-{i:03}",
                till,
            )
            spent += 100 + 200 - 100
        thread.join(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        server.kill()
    assert faults == ["worker SIGKILL", "PostgreSQL restart"]
    # Then every accepted call made exactly one row with one posting, and nothing else posted
    with psycopg.connect(cluster.dsn) as db:
        made: dict[str, int | None] = {}
        for table in ("stores_redemption", "merchants_payment", "merchants_refund"):
            made.update(
                db.execute(
                    f"SELECT idempotency_key, posting_id FROM {table} "
                    "WHERE idempotency_key LIKE %s",
                    ["%fault-%"],
                ).fetchall()
            )
        (postings,) = db.execute("SELECT count(*) FROM ledger_posting").fetchone()  # type: ignore[misc]
        (balance,) = db.execute(
            "SELECT balance FROM ledger_account WHERE household_id = %s", [household.pk]
        ).fetchone()  # type: ignore[misc]
    # Services store the client's key behind the caller's scope ("api:user:7:<key>")
    rows = {
        k: [p for stored, p in made.items() if stored.endswith(f":{k}")] for k in client.accepted
    }
    # An accepted call with no posting is lost. Every posting beyond one per accepted call that
    # has one is doubled: a second row under a key, a row for a key never accepted, a posting
    # with no row at all. The posting count holds them all, so each is counted once.
    lost = sum(1 for found in rows.values() if not any(p is not None for p in found))
    unasked = len(made) - sum(len(found) for found in rows.values())
    doubled = (postings - postings_before) - (len(client.accepted) - lost)
    verify = subprocess.run(
        [sys.executable, "-m", "civicpoints.cli", "verify", "--follow", "--skip-checks"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    run_summary(
        f"fault test (PostgreSQL, {', '.join(faults)}): {len(client.accepted)} keyed calls "
        f"accepted, lost {lost}, doubled {doubled} (postings beyond one per accepted call), "
        f"retried {client.retried} "
        f"(dropped connections {client.dropped}, 5xx {client.server_errors}), "
        f"answers dropped {client.answers_dropped}, replayed {client.replayed}, "
        f"verify {'ok' if verify.returncode == 0 else 'FAILED'}, {elapsed:.1f} s"
    )
    assert len(client.accepted) == OPERATIONS
    assert (lost, doubled) == (0, 0), (
        f"{lost} accepted calls without a posting; {postings - postings_before} postings for "
        f"{len(client.accepted)} accepted calls ({doubled} too many; rows for keys never "
        f"accepted: {unasked}); postings per key: {rows}"
    )
    # each deliberately dropped answer came back as a replay of the same posting
    assert client.mismatched == []
    assert client.replayed >= client.answers_dropped == OPERATIONS // DROP_EVERY
    assert len(made) == OPERATIONS
    assert balance == start_balance - spent
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert client.retried > 0  # the faults were felt
