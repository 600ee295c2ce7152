"""Assert every ledger invariant (the same checks ``civicpoints verify`` runs), plus small tools
for ledger tests: a snapshot of what a refused call must not change, threads that each use
their own database connection, and lifting the append-only guard to simulate tampering.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection, connections

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import Account, ChainLink, Entry, Hold, Posting
from civicpoints.ledger.verify import verify

SQL_DIR = Path(__file__).resolve().parents[2] / "src" / "civicpoints" / "ledger" / "sql"


def assert_ledger_ok(scheme_id: int, *, follow: bool = True) -> None:
    if follow:
        chain_follow(scheme_id=scheme_id)
    report = verify(scheme_id=scheme_id)
    assert report.ok, report.as_dict()
    if follow:
        assert report.lag == 0


def ledger_snapshot(scheme_id: int) -> dict[str, Any]:
    """Everything a refused ledger call must leave exactly as it was."""
    return {
        "postings": Posting.objects.filter(scheme_id=scheme_id).count(),
        "entries": Entry.objects.filter(scheme_id=scheme_id).count(),
        "holds": sorted(
            Hold.objects.filter(scheme_id=scheme_id).values_list("pk", "status", "amount")
        ),
        "links": ChainLink.objects.filter(scheme_id=scheme_id).count(),
        "accounts": sorted(
            Account.objects.filter(scheme_id=scheme_id).values_list("pk", "balance", "held")
        ),
    }


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


def run_in_threads(n: int, work: Callable[[int], Any], *, timeout: float = 120) -> list[Outcome]:
    """Run ``work(i)`` in n threads released together; each closes its own connections."""
    start = threading.Barrier(n)
    outcomes = [Outcome() for _ in range(n)]

    def worker(i: int) -> None:
        try:
            start.wait(timeout=timeout)
            outcomes[i].value = work(i)
        except BaseException as exc:
            outcomes[i].error = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return outcomes


def _sqlite_guard(table: str) -> str:
    """The CREATE TRIGGER statement for ``table`` from the SQL the migration installs."""
    sql = (SQL_DIR / "guards_sqlite.sql").read_text()
    for statement in re.split(r"\n(?=CREATE |DROP )", sql):
        if statement.startswith(f"CREATE TRIGGER {table}_append_only "):
            return statement
    raise AssertionError(f"no append-only trigger for {table} in guards_sqlite.sql")


@contextmanager
def append_only_lifted(table: str) -> Iterator[None]:
    """Let a test rewrite an append-only ledger table, as an attacker with SQL access could.

    Use inside the test's transaction only: the guard comes back at the end of the block.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while deferred checks (Django's foreign keys, the sum-to-zero
            # trigger) are queued in this transaction: run them now, defer them again after.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                yield
            finally:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute(f"DROP TRIGGER {table}_append_only")
            try:
                yield
            finally:
                cursor.execute(_sqlite_guard(table))
