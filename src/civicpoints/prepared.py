"""Statements that run on every request or posting, prepared on PostgreSQL: the server parses
and plans them once per (pooled) connection instead of on every run.

Django keeps psycopg's own preparing off (``prepare_threshold`` None, for poolers such as
pgbouncer in transaction mode). These statements switch it on for their own execution only,
through a server-binding psycopg cursor: psycopg prepares each once per connection (Parse once,
then Bind/Execute of the named statement) while every other query on the connection stays
unprepared. One mechanism for all of them, and psycopg's: it knows which statements it
prepared, deallocates them when the connection rolls back (their tables or functions may have
changed) and prepares them again on their next use. (A first version used SQL ``PREPARE`` and
``EXECUTE`` for the bearer token beside psycopg's preparation of ``ledger_post()``: psycopg's
``DEALLOCATE ALL`` after a rollback then removed the SQL-prepared statement without it knowing.)

A statement the session lost without psycopg seeing it (``DISCARD ALL`` or ``DEALLOCATE`` run
as a plain query, a pooler that moved the client to another server connection) or whose result
columns a migration changed fails once (26000, 0A000). Outside a transaction psycopg is made to
forget its statements (it recognises a ``DEALLOCATE ALL`` it runs) and the statement runs again,
prepared anew; where that fails too (a pooler in transaction mode, on which no prepared
statement lasts), the connection runs the plain SQL from then on. Inside a transaction the
failure has aborted it: it is raised, and the connection's next statement starts afresh.

``PreparedStatement`` runs through Django's cursor wrapper (its errors, execute wrappers and
query counting stay as for any query); ``execute_prepared`` serves a caller that holds a
psycopg cursor itself (``ledger.services.post()``, the hottest call there is). Measured on this
machine, preparing ``ledger_post()``'s call took a quarter off its cost on the server
(docs/performance.md). SQLite runs the SQL as it is (its driver caches prepared statements by
itself).

Only for a fixed statement that is hot enough to be worth it (the bearer token lookup, a
posting); never a place for business rules.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

# Connections on which a prepared statement does not last (see the module's docstring).
_unpreparable: weakref.WeakSet[Any] = weakref.WeakSet()

# Connections whose psycopg must forget its statements before the next one runs.
_forgetful: weakref.WeakSet[Any] = weakref.WeakSet()

# The statement is unknown to the session; the statement's result columns changed.
_PREPARE_AGAIN = {"26000", "0A000"}


def execute_prepared(cursor: psycopg.Cursor[Any], sql: str, params: list[Any]) -> None:
    """Run ``sql`` (``%s`` placeholders) on ``cursor``, a server-binding psycopg cursor on
    Django's connection, as a statement prepared on that connection; fetch from the cursor."""
    raw = cursor.connection
    if raw in _unpreparable:
        _run(cursor, sql, params, prepare=False)
        return
    threshold = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        if raw in _forgetful:
            _forget(cursor)
        try:
            _run(cursor, sql, params, prepare=True)
        except psycopg.Error as exc:
            if exc.sqlstate not in _PREPARE_AGAIN:
                raise
            _forgetful.add(raw)
            if connection.in_atomic_block:
                raise  # the failure has aborted the transaction: nothing to retry in it
            _forget(cursor)
            try:
                _run(cursor, sql, params, prepare=True)
            except psycopg.Error as again:
                if again.sqlstate not in _PREPARE_AGAIN:
                    raise
                # A statement prepared here does not last until the next one (a pooler in
                # transaction mode): this connection runs the SQL as it is from now on.
                _unpreparable.add(raw)
                _run(cursor, sql, params, prepare=False)
    finally:
        raw.prepare_threshold = threshold


def _run(cursor: psycopg.Cursor[Any], sql: str, params: Any, *, prepare: bool) -> None:
    # psycopg's own execute, also for a _PreparingCursor (whose execute comes here).
    psycopg.Cursor.execute(cursor, sql, params, prepare=prepare)


def _forget(cursor: psycopg.Cursor[Any]) -> None:
    """Deallocate every prepared statement of the session; psycopg, preparing at the time,
    sees the command succeed and forgets its own."""
    _run(cursor, "DEALLOCATE ALL", None, prepare=False)
    _forgetful.discard(cursor.connection)


class _PreparingCursor(psycopg.Cursor[Any]):
    """What Django's cursor wrapper drives for a ``PreparedStatement``: every statement
    prepared (the wrapper calls ``execute(sql, params)``)."""

    def execute(self, query: Any, params: Any = None, **_options: Any) -> _PreparingCursor:
        execute_prepared(self, query, list(params or []))
        # Django's query log reads the SQL sent from ``_query``, which psycopg leaves empty
        # for a prepared statement: name it (its text, parameters apart) for the log.
        self._query = _Sent(str(query).encode())  # type: ignore[assignment]
        return self


@dataclass(frozen=True)
class _Sent:
    query: bytes


@dataclass(frozen=True)
class PreparedStatement:
    """``sql`` with ``%s`` placeholders; on PostgreSQL each parameter's type is inferred from
    what it is compared with."""

    sql: str

    def __post_init__(self) -> None:
        if "%%" in self.sql:
            raise ValueError("a prepared statement has no literal %")

    def fetchall(self, params: list[Any]) -> list[tuple[Any, ...]]:
        """Run it on Django's connection and return its rows."""
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(self.sql, params)
                return list(cursor.fetchall())
        connection.ensure_connection()
        wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
        with wrapper(_PreparingCursor(connection.connection), connection) as cursor:
            cursor.execute(self.sql, params)
            return list(cursor.fetchall())
