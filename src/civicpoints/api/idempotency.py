"""The API face of idempotency: the header, the request hash, replays and their header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.idempotency import (
    idempotency_abandon,
    idempotency_begin,
    idempotency_fail,
    idempotency_succeed,
    request_hash,
)

Action = Callable[[str, str], tuple[int, dict[str, Any]]]


def run_keyed(request: HttpRequest, *, payload: dict[str, Any], action: Action) -> JsonResponse:
    """Run ``action(posting_key, request_hash)`` once per Idempotency-Key; replay otherwise."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_MISSING)
    user_id = request.auth.pk  # type: ignore[attr-defined]
    scope = f"user:{user_id}"
    digest = request_hash(
        {"method": request.method, "path": request.path, "user": user_id, "body": payload}
    )
    slot = idempotency_begin(scope=scope, key=key, request_hash=digest)
    if slot.replay is not None:
        status, body = slot.replay
        response = JsonResponse(body, status=status)
        response["Idempotency-Replayed"] = "true"
        return response
    try:
        with transaction.atomic():
            status, body = action(f"api:{scope}:{key}", digest)
            idempotency_succeed(slot=slot, status=status, body=body)
    except ApplicationError as exc:
        if exc.code != ErrorCode.IDEMPOTENCY_IN_FLIGHT:
            idempotency_fail(slot=slot, status=exc.status, body=exc.as_json())
        raise
    except BaseException:
        idempotency_abandon(slot=slot)
        raise
    return JsonResponse(body, status=status)
