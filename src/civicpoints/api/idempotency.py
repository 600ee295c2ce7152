"""The API face of idempotency: the header, the request hash, replays and their header."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from ninja import Header, Schema
from ninja.responses import NinjaJSONEncoder

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


def resident_key_scope(household_id: int) -> str:
    """A resident's keys live apart from every staff user's (and every other household's)."""
    return f"household:{household_id}"


def keyed_request_hash(
    *, method: str, path: str, user_id: int | str, payload: dict[str, Any]
) -> str:
    """What makes two keyed requests "the same": method, path, caller and parsed body."""
    return request_hash({"method": method, "path": path, "user": user_id, "body": payload})


# Services store the key with a prefix of their own ("order:...") in 200-character columns.
SERVICE_KEY_MAX = 150


def service_key(scope: str, key: str) -> str:
    """The key a service stores: the caller's scope and key, a digest of them when too long."""
    full = f"api:{scope}:{key}"
    if len(full) <= SERVICE_KEY_MAX:
        return full
    return f"api:{scope}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def keyed_body(schema: type[Schema], data: dict[str, Any]) -> dict[str, Any]:
    """A body for ``run_keyed`` (kept as JSON for replays): checked against its schema and
    rendered as ninja renders every other response, so a later GET of it reads the same."""
    checked = schema.model_validate(data).model_dump()
    body: dict[str, Any] = json.loads(json.dumps(checked, cls=NinjaJSONEncoder))
    return body


def run_keyed(request: HttpRequest, *, payload: dict[str, Any], action: Action) -> JsonResponse:
    """Run ``action(posting_key, request_hash)`` once per Idempotency-Key; replay otherwise."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_MISSING)
    household = getattr(request, "household", None)
    caller: int | str
    if household is not None:
        scope = caller = resident_key_scope(household.pk)
    else:
        user_id: int = request.auth.pk  # type: ignore[attr-defined]
        scope, caller = key_scope(user_id), user_id
    digest = keyed_request_hash(
        method=request.method or "", path=request.path, user_id=caller, payload=payload
    )
    slot = idempotency_begin(scope=scope, key=key, request_hash=digest)
    if slot.replay is not None:
        status, body = slot.replay
        response = JsonResponse(body, status=status)
        response["Idempotency-Replayed"] = "true"
        return response
    try:
        with transaction.atomic():
            status, body = action(service_key(scope, key), digest)
            idempotency_succeed(slot=slot, status=status, body=body)
    except ApplicationError as exc:
        # Some refusals leave a trace that must outlive the rollback (a wrong PIN counts
        # towards the card's lockout, an invalid payment code towards the till's limit): the
        # service hands it over to be written now; it may answer with a stronger refusal.
        refusal = exc
        after_rollback = getattr(exc, "after_rollback", None)
        if after_rollback is not None:
            replaced = after_rollback()
            if isinstance(replaced, ApplicationError):
                refusal = replaced
        if refusal.code != ErrorCode.IDEMPOTENCY_IN_FLIGHT:
            idempotency_fail(slot=slot, status=refusal.status, body=refusal.as_json())
        if refusal is not exc:
            raise refusal from None
        raise
    except BaseException:
        idempotency_abandon(slot=slot)
        raise
    return JsonResponse(body, status=status)
