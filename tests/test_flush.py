"""The tests' own flush on PostgreSQL (tests/conftest.py, docs/testing.md): DELETE with
triggers off for the flush's transaction only, every tenth flush Django's TRUNCATE. The
suite's isolation stands on it, so it is checked directly: it empties every table, append-only
ones too, and the guards are back on for the very next statement."""

from __future__ import annotations

import itertools

import pytest
from django.core.management.color import no_style
from django.db import IntegrityError, connection, transaction

from civicpoints.ledger.models import Entry, Posting
from civicpoints.schemes.models import Region
from tests import conftest
from tests.factories import build_world, fund, make_household

pytestmark = [pytest.mark.django_db(transaction=True)]


def _flush_sql() -> list[str]:
    tables = connection.introspection.django_table_names(only_existing=True)
    return connection.ops.sql_flush(no_style(), tables)


def test_the_flush_deletes_every_row_append_only_ones_too(postgres_only: None) -> None:
    world = build_world()
    fund(make_household(world.scheme, world.village_a1), 1_000)
    assert Entry.objects.exists() and Posting.objects.exists() and Region.objects.exists()
    conftest._flushes = itertools.count(1)  # not a tenth flush: the DELETE one
    sql = _flush_sql()
    assert sql[0] == "SET LOCAL session_replication_role = replica"
    assert any(s.startswith("DELETE FROM") for s in sql)

    connection.ops.execute_sql_flush(sql)

    assert not Entry.objects.exists() and not Posting.objects.exists()
    assert not Region.objects.exists()
    with connection.cursor() as cursor:  # the flush's setting ended with its transaction
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone() == ("origin",)
    # The guards are on again: the ledger refuses a delete behind the services' back
    again = build_world()
    fund(make_household(again.scheme, again.village_a1), 500)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_entry")


def test_every_tenth_flush_is_the_truncate(postgres_only: None) -> None:
    conftest._flushes = itertools.count(conftest.TRUNCATE_EVERY)
    [sql] = _flush_sql()
    assert sql.startswith("TRUNCATE")
