"""Append to the audit log. Callers run inside their own transaction, so the row and the
action it describes commit or vanish together. Never updates or deletes a row."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import ForeignKey, Model

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
) -> AuditEvent:
    """One row: who did ``action`` to ``obj`` in which scheme and region. ``region_id``
    defaults to the object's region (see ``region_of``); none means the whole scheme."""
    return AuditEvent.objects.create(
        actor_id=actor_id,
        scheme_id=scheme_id,
        action=AuditAction(action),  # an unknown code is a programming error: ValueError
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "pk", "")) if obj is not None else "",
        region_id=region_id if region_id is not None else region_of(obj),
        detail=detail or {},
    )
