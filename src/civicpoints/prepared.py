"""Statements that run on every request, prepared on PostgreSQL: the server plans them once per
(pooled) connection instead of on every run.

Django keeps psycopg's own preparing off (``prepare_threshold`` None, for poolers such as
pgbouncer in transaction mode; psycopg then ignores ``execute(..., prepare=True)`` as well), so
these use SQL's ``PREPARE`` and ``EXECUTE`` through Django's own cursor: its errors, execute
wrappers and query counting stay as for any query. A statement vanished from the session
(``DISCARD ALL``, ``DEALLOCATE``, a pooler that moved the client to another server connection)
or whose result columns a migration changed is prepared anew and run again; where that fails
too (a pooler in transaction mode, on which no prepared statement lasts), the connection runs
the plain SQL from then on. SQLite runs the SQL as it is (its driver caches prepared
statements by itself).

Only for a fixed statement that is hot enough to be worth it (the bearer token lookup); never
a place for business rules.
"""

from __future__ import annotations

import re
import weakref
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, transaction

# Per psycopg connection (a pooled one outlives many requests): the statements prepared on it.
_prepared_on: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

# Connections on which a prepared statement does not last (see ``execute``).
_unpreparable: weakref.WeakSet[Any] = weakref.WeakSet()

# The statement is unknown to the session; the statement's result columns changed.
_PREPARE_AGAIN = {"26000", "0A000"}


def _sqlstate(exc: DatabaseError) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


@dataclass(frozen=True)
class PreparedStatement:
    """``sql`` with ``%s`` placeholders; on PostgreSQL each parameter's type is inferred from
    what it is compared with."""

    name: str
    sql: str
    _numbered: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.name) or "%%" in self.sql:
            raise ValueError(f"statement {self.name!r}: a plain name and no literal %")
        count = iter(range(1, self.sql.count("%s") + 1))
        object.__setattr__(self, "_numbered", re.sub("%s", lambda _m: f"${next(count)}", self.sql))

    def execute(self, cursor: Any, params: list[Any]) -> None:
        """Run it on ``cursor`` (one of ``django.db.connection``'s); fetch from the cursor."""
        if connection.vendor != "postgresql" or connection.connection in _unpreparable:
            cursor.execute(self.sql, params)
            return
        run = f"EXECUTE {self.name} ({', '.join(['%s'] * len(params))})"
        done = _prepared_on.setdefault(connection.connection, set())
        if self.name not in done:
            self._prepare(cursor, done)
        try:
            cursor.execute(run, params)
        except DatabaseError as exc:
            state = _sqlstate(exc)
            if state not in _PREPARE_AGAIN or connection.in_atomic_block:
                raise  # inside a transaction the failure has aborted it: nothing to retry
            done.discard(self.name)
            try:
                if state == "0A000":
                    cursor.execute(f"DEALLOCATE {self.name}")
                self._prepare(cursor, done)
                cursor.execute(run, params)
            except DatabaseError as again:
                if _sqlstate(again) not in _PREPARE_AGAIN:
                    raise
                # A statement prepared here does not last until the next one (a pooler in
                # transaction mode): this connection runs the SQL as it is from now on.
                _unpreparable.add(connection.connection)
                cursor.execute(self.sql, params)

    def _prepare(self, cursor: Any, done: set[str]) -> None:
        try:
            # A savepoint inside a transaction: "already prepared" must not abort it.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                cursor.execute(f"PREPARE {self.name} AS {self._numbered}")
        except DatabaseError as exc:
            if _sqlstate(exc) != "42P05":  # already prepared
                raise
        done.add(self.name)
