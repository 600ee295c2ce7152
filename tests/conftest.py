"""Fixtures shared by every test; the suite runs unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

from tests.factories import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``replica`` test's database is added before its fixtures (tests/reports/test_replica.py)
    and removed after them: for every other test there is no replica (settings leave it out
    under tests)."""
    if item.get_closest_marker("replica"):
        from tests.reports.test_replica import replica_add

        if not replica_add():
            if connection.vendor == "postgresql" and os.environ.get("CI") == "true":
                pytest.fail(
                    "CI needs the streaming replica: .ci/run starts it (DATABASE_REPLICA_URL)"
                )
            pytest.skip("no streaming replica (PostgreSQL with DATABASE_REPLICA_URL; .ci/run)")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if item.get_closest_marker("replica"):
        from tests.reports.test_replica import replica_remove

        replica_remove()


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (runs in the PostgreSQL pass of scripts/test)")


@pytest.fixture
def one_database(request: pytest.FixtureRequest) -> None:
    """A test whose subject is the same on both databases runs once per ``scripts/test``: in the
    PostgreSQL pass when that pass runs (scripts/test then sets CIVICPOINTS_ONE_DB_PASS), else
    on SQLite. Run by hand (plain pytest) it runs on whatever database it is given."""
    wanted = os.environ.get("CIVICPOINTS_ONE_DB_PASS", "")
    if wanted and connection.vendor != wanted:
        pytest.skip(f"runs once per scripts/test, in the {wanted} pass (see docs/testing.md)")


# Lines a test adds to the end of the run's summary (schemathesis's and the fault test's counts),
# so scripts/test shows them whatever the capture mode. They travel in the test's report
# (user_properties), so with pytest-xdist the main process prints what the workers measured.
SUMMARY = "run summary"
_summary_lines: list[str] = []


@pytest.fixture
def run_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    def add(line: str) -> None:
        request.node.user_properties.append((SUMMARY, line))

    return add


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _summary_lines.extend(value for key, value in report.user_properties if key == SUMMARY)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _summary_lines:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _fresh_settlement_memo() -> None:
    """The scheduler's per-process memo of settled days must not leak between tests."""
    from civicpoints.merchants import settlement

    settlement.settled_through.clear()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: ids repeat between tests on SQLite, and a count
    kept under one test's ids must not answer another's (honours/rankings.py)."""
    from django.core.cache import cache

    cache.clear()


# A transactional test's flush on PostgreSQL (docs/testing.md): Django
# empties every table with one TRUNCATE, which gives each of some 100 tables and their indexes
# new files on disk, about 400 ms a flush on this machine; the suite flushes after some 300
# tests. DELETE of the few rows a test leaves costs about 12 ms. Triggers (the foreign keys',
# the ledger's append-only guards) are off for the flush's transaction only
# (``session_replication_role``, which needs the superuser the tests run as here; under another
# role every flush stays the TRUNCATE). Every tenth flush is still
# the TRUNCATE, so the dead rows the DELETEs and the rolled-back tests leave behind (autovacuum
# is off here) never pile up for the whole run.
TRUNCATE_EVERY = 10
_flushes = itertools.count(1)


def _deleting_sql_flush(
    self: Any, style: Any, tables: list[str], *, reset_sequences: bool = False, **options: Any
) -> list[str]:
    raw = self.connection.connection
    superuser = raw is not None and raw.info.parameter_status("is_superuser") == "on"
    if not tables or reset_sequences or not superuser or next(_flushes) % TRUNCATE_EVERY == 0:
        return _truncating_sql_flush(
            self, style, tables, reset_sequences=reset_sequences, **options
        )
    return [
        "SET LOCAL session_replication_role = replica",
        *(f"DELETE FROM {self.quote_name(table)}" for table in tables),
    ]


_truncating_sql_flush = PostgresOperations.sql_flush
PostgresOperations.sql_flush = _deleting_sql_flush  # type: ignore[method-assign]
