"""The API face of idempotency: the header, the request hash, replays and their header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from ninja import Header

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.idempotency import (
    idempotency_abandon,
    idempotency_begin,
    idempotency_fail,
    idempotency_succeed,
    request_hash,
)

Action = Callable[[str, str], tuple[int, dict[str, Any]]]

# Declared on keyed handlers so OpenAPI documents the header; ``run_keyed`` reads and checks it
# (a missing or bad key is our 400, not a validation 422).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="必填。同一请求重试时使用同一个值（最多200个可见字符）；"
        "重复请求返回第一次的结果并带 Idempotency-Replayed: true。",
    ),
]


def key_scope(user_id: int) -> str:
    """Clients choose keys, so each caller's keys live apart."""
    return f"user:{user_id}"


def keyed_request_hash(*, method: str, path: str, user_id: int, payload: dict[str, Any]) -> str:
    """What makes two keyed requests "the same": method, path, caller and parsed body."""
    return request_hash({"method": method, "path": path, "user": user_id, "body": payload})


def run_keyed(request: HttpRequest, *, payload: dict[str, Any], action: Action) -> JsonResponse:
    """Run ``action(posting_key, request_hash)`` once per Idempotency-Key; replay otherwise."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_MISSING)
    user_id = request.auth.pk  # type: ignore[attr-defined]
    scope = key_scope(user_id)
    digest = keyed_request_hash(
        method=request.method or "", path=request.path, user_id=user_id, payload=payload
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
