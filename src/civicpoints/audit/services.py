"""Append to the audit log. Callers run inside their own transaction, so the row and the
action it describes commit or vanish together."""

from __future__ import annotations

from typing import Any

from civicpoints.audit.models import AuditEvent


def audit_record(
    *,
    actor_id: int | None,
    scheme_id: int | None,
    action: str,
    obj: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor_id=actor_id,
        scheme_id=scheme_id,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "pk", "")) if obj is not None else "",
        detail=detail or {},
    )
