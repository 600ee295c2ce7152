"""Set-based writes the ORM does slowly: many rows' columns updated in one statement, many
rows inserted or added to in one upsert, and a cursor that sends a batch's arrays as
parameters rather than as quoted text.

Django's ``bulk_update`` builds a ``CASE WHEN id = ... THEN ...`` with a branch per row for
every column; compiling that for a few hundred rows costs more than the database's work
(docs/performance.md). ``update_many`` sends one
``WITH v(k, c0, c1, ...) AS (VALUES (...), ...) UPDATE t SET col = v.c0 ... FROM v
WHERE t.id = v.k`` per batch, which PostgreSQL and SQLite (3.33+) both run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection
from django.db.models import Field, Model


@contextmanager
def bound_cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A psycopg cursor on Django's connection (PostgreSQL only) that binds parameters on the
    server: a batch's arrays travel as ``%b`` (binary) parameters instead of being quoted into
    the statement's text (Django's cursors bind on the client, which for a few arrays of 500
    values costs more client time than the statement costs the server). Errors come out as
    Django's exception classes; the statement runs in Django's transaction."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def update_many(model: type[Model], objects: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of every object (by primary key) in batches of 500 rows."""
    if not objects:
        return
    meta = model._meta
    columns: list[Field[Any, Any]] = [meta.get_field(f) for f in fields]  # type: ignore[misc]
    key: Field[Any, Any] = meta.pk  # type: ignore[assignment]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    typed = connection.vendor == "postgresql"  # VALUES need types there; SQLite has none

    def slot(field: Field[Any, Any]) -> str:
        return f"CAST(%s AS {field.db_type(connection)})" if typed else "%s"

    row = "(" + ", ".join(slot(f) for f in [key, *columns]) + ")"
    names = ", ".join(["k", *(f"c{i}" for i in range(len(columns)))])
    assignments = ", ".join(f"{quote(f.column)} = v.c{i}" for i, f in enumerate(columns))
    for start in range(0, len(objects), 500):
        chunk = objects[start : start + 500]
        params: list[Any] = []
        for obj in chunk:
            params.append(key.get_db_prep_save(obj.pk, connection))
            params += [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns]
        sql = (
            f"WITH v({names}) AS (VALUES {', '.join([row] * len(chunk))}) "  # noqa: S608
            f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{quote(key.column)} = v.k"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def upsert_many(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str],
    *,
    adding: Sequence[str] = (),
    replacing: Sequence[str] = (),
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (values in ``columns`` order) into ``model``'s table in one statement;
    on a ``conflict`` add the ``adding`` columns to the row there and overwrite the
    ``replacing`` ones (neither: leave the row). Returns the ``returning`` columns of the rows
    written. PostgreSQL gets one array per column through ``bound_cursor`` (``unnest``): a
    short statement whatever the batch, its arrays bound on the server, where a ``VALUES``
    list of 16,000 placeholders cost the client more than the server (the rollups,
    docs/performance.md). SQLite gets the ``VALUES`` list."""
    if not rows:
        return []
    table = model._meta.db_table
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in adding]
    sets += [f"{c} = excluded.{c}" for c in replacing]
    tail = (
        f"ON CONFLICT ({', '.join(conflict)}) "
        + ("DO UPDATE SET " + ", ".join(sets) if sets else "DO NOTHING")
        + (f" RETURNING {returning}" if returning else "")
    )
    if connection.vendor == "postgresql":
        types = {f.column: f.db_type(connection) for f in model._meta.concrete_fields}
        arrays = ", ".join(f"%s::{types[c]}[]" for c in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {tail}"  # noqa: S608
        with bound_cursor() as cursor:
            cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
            return cursor.fetchall() if returning else []
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))} {tail}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for r in rows for value in r])
        return cursor.fetchall() if returning else []
