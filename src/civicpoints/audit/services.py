"""Append to the audit log. Callers run inside their own transaction, so the row and the
action it describes commit or vanish together. Never updates or deletes a row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import ForeignKey, Model
from django.utils import timezone

from civicpoints.audit.models import AuditAction, AuditEvent

# Links followed (only when already loaded, never with a query) to find an object's region.
_VIA = ("household", "store", "activity", "claim", "order", "helper", "payment")


def region_of(obj: Any) -> int | None:
    """The region an object belongs to, from what is already in memory: a ``Region`` itself,
    its ``village``/``region`` column, or that of a loaded household, store, activity, claim."""
    from civicpoints.schemes.models import Region

    if obj is None:
        return None
    if isinstance(obj, Region):
        return int(obj.pk)
    for column in ("village_id", "region_id"):
        value = getattr(obj, column, None)
        if isinstance(value, int):
            return value
    if isinstance(obj, Model):
        for name in _VIA:
            try:
                field = obj._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if isinstance(field, ForeignKey) and field.is_cached(obj):
                found = region_of(getattr(obj, name))
                if found is not None:
                    return found
    return None


def audit_record(
    *,
    actor_id: int | None,
    scheme_id: int | None,
    action: AuditAction,
    obj: Any = None,
    detail: dict[str, Any] | None = None,
    region_id: int | None = None,
) -> int:
    """One row: who did ``action`` to ``obj`` in which scheme and region; returns its id.
    ``region_id`` defaults to the object's region (see ``region_of``); none means the whole
    scheme.

    One plain ``INSERT`` rather than ``AuditEvent.objects.create()``: the row sits in the
    transaction of every service that moves points, and the ORM's model machinery cost more
    client time than the posting's own SQL (docs/performance.md, risk scan)."""
    code = AuditAction(action).value  # an unknown code is a programming error: ValueError
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                actor_id,
                scheme_id,
                code,
                type(obj).__name__ if obj is not None else "",
                str(getattr(obj, "pk", "")) if obj is not None else "",
                region_id if region_id is not None else region_of(obj),
                connection.ops.adapt_json_value(detail or {}, None),
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        return int(cursor.fetchone()[0])


@dataclass(frozen=True)
class AuditNote:
    """The audit row of an action that is one posting, for ``ledger.services.post(audit=...)``:
    the ledger writes it in the posting's own SQL call (one round trip for both on PostgreSQL),
    with the posting's scheme, acting user and time, and the posting's id added to ``detail``
    as ``"posting"``. ``obj`` is what the row records (the posting itself when None); a retry
    that replays an earlier posting writes no second row."""

    action: AuditAction
    obj: Any = None
    detail: dict[str, Any] | None = None
    region_id: int | None = None

    def columns(self) -> tuple[str, str, str, int | None, dict[str, Any]]:
        """action code, object type and id ("" and "" for the posting), region, detail."""
        code = AuditAction(self.action).value  # an unknown code is a programming error
        if self.obj is None:
            return code, "", "", self.region_id, dict(self.detail or {})
        region = self.region_id if self.region_id is not None else region_of(self.obj)
        return (
            code,
            type(self.obj).__name__,
            str(getattr(self.obj, "pk", "")),
            region,
            dict(self.detail or {}),
        )


_INSERT = (
    f"INSERT INTO {AuditEvent._meta.db_table} "  # noqa: S608 (a fixed table name)
    "(actor_id, scheme_id, action, object_type, object_id, region_id, detail, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
