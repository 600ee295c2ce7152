"""The county's figures from a real PostgreSQL streaming replica (``civicpoints.replica``).

``.ci/run`` starts one on this machine (``pg_createcluster`` + ``pg_basebackup``, port 5433)
and sets ``DATABASE_REPLICA_URL``; under tests settings leave the ``replica`` database out (the
other tests read the primary). Here it is added, on the real replica, reading the primary's
test database, which arrives by streaming replication: the rows a test commits on the primary
are read back from the replica once it has replayed them. In CI this test must run; elsewhere
it is skipped when there is no replica.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import dj_database_url
import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.test import Client

from civicpoints.households.models import Household
from civicpoints.ledger.chain import chain_follow
from civicpoints.replica import (
    REPLICA,
    as_of,
    reading_replica,
    replica_reads,
)
from civicpoints.reports.periods import period_parse
from civicpoints.reports.stats import stats
from civicpoints.schemes.models import Role
from tests.factories import api_client, fund, make_household, make_staff
from tests.reports.test_stats import TODAY, _county, _from_ledger

REPLAY_WAIT = 30  # seconds: a replica on the same machine replays within milliseconds


def _primary_lsn() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def _replayed(lsn: str) -> bool:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
        return bool(cursor.fetchone()[0])


def _wait_for_replay() -> None:
    lsn = _primary_lsn()
    deadline = time.monotonic() + REPLAY_WAIT
    while not _replayed(lsn):
        assert time.monotonic() < deadline, f"the replica did not replay {lsn} in time"
        time.sleep(0.05)


pytestmark = [
    pytest.mark.replica,
    pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA]),
]


def _at_the_replica() -> dict:
    """The primary's settings (its test database's name, once the runner made it), at the
    replica's address."""
    real = dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"])
    return {
        **connections[DEFAULT_DB_ALIAS].settings_dict,
        "HOST": real["HOST"],
        "PORT": real["PORT"],
        "USER": real["USER"],
        "PASSWORD": real["PASSWORD"],
        # If the runner sets the test databases up only now, it must not try to create one on
        # the replica (read-only): a mirror of the primary to it, re-pointed by ``replica``.
        "TEST": {"MIRROR": DEFAULT_DB_ALIAS},
    }


def replica_add() -> bool:
    """Add the ``replica`` database. Called by ``tests/conftest.py`` before a ``replica``
    test's fixtures (Django checks a test's databases exist as it sets the test up)."""
    if not os.environ.get("DATABASE_REPLICA_URL"):
        return False
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return False
    connections.settings[REPLICA] = _at_the_replica()
    return True


def replica_remove() -> None:
    if REPLICA in connections.settings:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture
def replica():  # type: ignore[no-untyped-def]
    """The ``replica`` connection, on the real replica (added by ``replica_add``)."""
    conn = connections[REPLICA]
    conn.close()
    conn.settings_dict = _at_the_replica()
    try:
        conn.ensure_connection()
    except OperationalError as exc:
        pytest.fail(
            f"the replica has not received this run's test database ({exc}): it is not "
            "streaming (see pg_stat_replication on the primary); .ci/run makes it again"
        )
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0], "DATABASE_REPLICA_URL is not a replica (not in recovery)"
    try:
        yield conn
    finally:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")


def _year(world):  # type: ignore[no-untyped-def]
    return stats(
        scheme=world.scheme,
        region=world.county,
        period=period_parse("year", "2026", TODAY),
        today=TODAY,
    )


def test_the_dashboard_reads_the_replica_and_its_figures_equal_the_ledgers(world, replica):
    _county(world)
    _wait_for_replay()

    got = _year(world)
    assert got.as_of is not None and got.as_of.replica and not got.as_of.behind
    flows, _taking_part, balances = _from_ledger(
        world, world.county, dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    )
    assert {f: v for f, v in got.flows.items() if v} == {f: v for f, v in flows.items() if v}
    assert got.outstanding == balances

    admin = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
    client = Client()
    client.force_login(admin)
    api = api_client(admin)
    query = {"region": world.county.pk, "value": "2026"}
    assert api.get("/api/v1/stats", query).status_code == 200  # records the token's first use
    # The login and the token's first use were writes: a replica counts as behind until it
    # has replayed them, so the reads below wait for that (as a person's next page would).
    _wait_for_replay()
    page = client.get("/dashboard/", {"period": "year", "value": "2026"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "数据截至" in text and "只读副本" not in text
    answer = api.get("/api/v1/stats", query).json()
    assert answer["replica"] is True and answer["lag_seconds"] == 0


def test_a_replica_behind_says_as_of_when_and_catches_up(world, replica):
    homes = _county(world)
    _wait_for_replay()
    before = _year(world).flows["awarded"]
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    paused_at = dt.datetime.now(dt.UTC)
    time.sleep(0.2)  # the award below commits after the last transaction replayed
    fund(homes["王"], 700)
    chain_follow(scheme_id=world.scheme.pk)

    behind = _year(world)
    assert behind.flows["awarded"] == before  # the replica has not replayed the award
    assert behind.as_of is not None and behind.as_of.behind
    assert behind.as_of.at <= paused_at and behind.as_of.lag_seconds > 0
    client = Client()
    client.force_login(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    text = client.get("/dashboard/", {"period": "year", "value": "2026"}).content.decode()
    assert "只读副本，比主库晚约" in text

    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    _wait_for_replay()
    caught_up = _year(world)
    assert caught_up.flows["awarded"] == before + 700
    assert caught_up.as_of is not None and not caught_up.as_of.behind


def test_a_read_inside_a_write_transaction_never_goes_to_the_replica(world, replica):
    _wait_for_replay()
    with replica_reads():
        assert reading_replica() and Household.objects.all().db == REPLICA
        with transaction.atomic():
            make_household(world.scheme, world.village_a1, "新户")  # not committed
            assert not reading_replica()
            assert Household.objects.all().db == DEFAULT_DB_ALIAS
            # the uncommitted row is seen: the read went to the primary, in the transaction
            assert Household.objects.filter(head_name="新户").count() == 1
            assert not as_of().replica
        assert Household.objects.all().db == REPLICA
    assert Household.objects.all().db == DEFAULT_DB_ALIAS  # outside replica_reads(): primary


def test_a_replica_that_cannot_be_reached_leaves_the_reads_on_the_primary(monkeypatch):
    """Not a ``replica`` test: the replica here is a stand-in whose connection fails."""
    import civicpoints.replica as replica_module

    class Down:
        def ensure_connection(self) -> None:
            raise OperationalError("connection refused")

    class Connections(dict):
        settings = {REPLICA: {}}

    stand_in = Connections({REPLICA: Down(), DEFAULT_DB_ALIAS: connections[DEFAULT_DB_ALIAS]})
    monkeypatch.setattr(replica_module, "connections", stand_in)
    with replica_reads():
        assert not reading_replica()
        assert not as_of().replica
