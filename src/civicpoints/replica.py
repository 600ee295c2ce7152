"""Reads the county's figures may take from a PostgreSQL streaming replica (docs/scaling.md).

With ``DATABASE_REPLICA_URL`` set (and PostgreSQL as the primary), settings add a ``replica``
database and ``ReplicaRouter``. Only reads made inside ``replica_reads()`` go there: the
dashboard's and the reports' figures (``reports.stats``, ``reports.inclusion``, the monthly
report), which may be a moment old. Everything else reads the primary, so a clerk always sees
what they have just written; every write goes to the primary, and so does a read inside a
transaction on the primary (it may depend on what that transaction wrote, or be a check
before a write). Without a replica every read is the primary's and ``as_of()`` says "now".

A streaming replica is behind its primary by the WAL not yet replayed: ``as_of()`` tells a
page how old its figures are (the time of the last transaction replayed, when the replica has
not replayed everything the primary has written), so the dashboard can say "数据截至 ...".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.utils import timezone

REPLICA = "replica"
logger = logging.getLogger(__name__)
_wanted: ContextVar[bool] = ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in connections.settings


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside go to the replica (when there is one, it answers, and no primary
    transaction is open). A replica that cannot be reached is not an error: the reads go
    to the primary, and ``as_of()`` says so."""
    token = _wanted.set(_replica_usable())
    try:
        yield
    finally:
        _wanted.reset(token)


def _replica_usable() -> bool:
    if not replica_configured():
        return False
    try:
        connections[REPLICA].ensure_connection()
    except DatabaseError:
        logger.warning("the read replica cannot be reached: reading the primary")
        return False
    return True


def reading_replica() -> bool:
    """Whether a read made now goes to the replica."""
    return (
        _wanted.get() and replica_configured() and not connections[DEFAULT_DB_ALIAS].in_atomic_block
    )


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry: reads inside ``replica_reads()`` outside a primary
    transaction go to the replica; everything else (``None``) to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return REPLICA if reading_replica() else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same rows, wherever they were read

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None  # a replica follows its primary's schema


@dataclass(frozen=True)
class AsOf:
    """How current the figures just read are: ``at`` is the time they are as of."""

    at: dt.datetime
    replica: bool  # read from the replica
    behind: bool  # the replica had not replayed all the primary had written

    @property
    def lag_seconds(self) -> float:
        return max(0.0, (timezone.now() - self.at).total_seconds()) if self.behind else 0.0


def as_of() -> AsOf:
    """The time the figures read (now, under ``replica_reads()``) are as of: now on the
    primary or a replica that has replayed all the primary has written, else the commit time
    of the last transaction the replica replayed."""
    now = timezone.now()
    if not reading_replica():
        return AsOf(at=now, replica=False, behind=False)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        primary = cursor.fetchone()[0]
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, pg_last_xact_replay_timestamp()",
            [primary],
        )
        caught_up, replayed = cursor.fetchone()
    if caught_up or replayed is None:
        return AsOf(at=now, replica=True, behind=False)
    return AsOf(at=replayed, replica=True, behind=True)
