"""The API face of idempotency: the header, the request hash, the slot handed to the service,
replays and their header. The face never wraps a service in a transaction of its own."""

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
    Render,
    Slot,
    idempotency_abandon,
    idempotency_begin,
    idempotency_fail,
    idempotency_succeed,
    request_hash,
)

# ``action(service_key, slot)``: calls one service with the key it stores and the slot.
Action = Callable[[str, Slot], Any]

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


def keyed_scope(request: HttpRequest) -> tuple[str, int | str]:
    """Whose keys these are (a lender, a resident's household, a device or a staff user), and the caller as it
    goes into the request hash."""
    lender = getattr(request, "lender", None)
    if lender is not None:
        # A lender's keys are the lender's, whichever of its API keys sent them.
        scope = f"lender:{lender.pk}"
        return scope, scope
    household = getattr(request, "household", None)
    if household is not None:
        scope = resident_key_scope(household.pk)
        return scope, scope
    device = getattr(request, "counter_device", None)
    if device is not None:
        # An offline sale's key is the device's: the next clerk's retry (a shift change, a new
        # login) replays the first answer instead of booking the sale again.
        scope = f"device:{device.pk}"
        return scope, scope
    user_id: int = request.auth.pk  # type: ignore[attr-defined]
    return key_scope(user_id), user_id


def keyed_response(slot: Slot) -> JsonResponse:
    """The stored answer: a replay (with its header) or what the service has just stored."""
    if slot.replay is not None:
        status, body = slot.replay
        response = JsonResponse(body, status=status)
        response["Idempotency-Replayed"] = "true"
        return response
    assert slot.response is not None
    status, body = slot.response
    return JsonResponse(body, status=status)


def run_keyed(
    request: HttpRequest, *, payload: dict[str, Any], action: Action, render: Render
) -> JsonResponse:
    """Run ``action(service_key, slot)`` once per Idempotency-Key; replay otherwise.

    The face takes the slot and hands it over; the service owns its transaction and stores
    ``render(result)`` in it (``idempotency_succeed``), and a refusal that leaves a trace with
    the trace. A refusal the service did not store (it wrote nothing) is stored here, after the
    service's transaction has rolled back, so its retries get it again.
    """
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_MISSING)
    scope, caller = keyed_scope(request)
    digest = keyed_request_hash(
        method=request.method or "", path=request.path, user_id=caller, payload=payload
    )
    slot = idempotency_begin(scope=scope, key=key, request_hash=digest, render=render)
    if slot.replay is not None:
        return keyed_response(slot)
    try:
        result = action(service_key(scope, key), slot)
        if slot.response is None:
            # The service answered without a write (an earlier effect of its own, found by its
            # own key): nothing to commit with, so the answer is stored on its own.
            with transaction.atomic(durable=True):
                idempotency_succeed(slot=slot, result=result)
    except ApplicationError as exc:
        idempotency_fail(slot=slot, error=exc)
        raise
    except BaseException:
        idempotency_abandon(slot=slot)
        raise
    return keyed_response(slot)
