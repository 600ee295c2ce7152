"""Keyed requests: the first response is kept and given again to every retry.

The face takes a ``Slot`` (``idempotency_begin`` commits an in-flight marker, so a concurrent
retry gets 409 rather than a second effect) and hands it to the service. The service owns its
transaction: it stores its response with ``idempotency_succeed`` INSIDE its own durable
transaction, so the stored response commits together with the effect or not at all. A refusal
that must leave a trace (a wrong PIN's count, a guessing count) is written by the service
after its attempt rolled back, in one small transaction with the stored refusal
(``idempotency_fail``); other refusals are stored the same way by whoever catches them. A
crash before the commit leaves only the marker, whose lease expires so a later retry can run.
Never stores a 409 "in flight": that answer belongs to the other attempt.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState

MAX_KEY_LENGTH = 200

# What the face gives the service to turn its result into the stored response.
Render = Callable[[Any], tuple[int, Any]]


def request_hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_key_check(key: str) -> None:
    """A key is 1 to 200 printable characters (else 400)."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApplicationError(
            ErrorCode.IDEMPOTENCY_KEY_MISSING, _("Idempotency-Key 缺失或无效（最多200个可见字符）")
        )


@dataclass(eq=False)
class Slot:
    """One keyed request's place among the stored responses, handed by the face to the service.

    ``replay``: a stored response to give again (nothing runs). Otherwise the service runs and
    its stored answer ends up in ``response``. ``record_id`` is None while nothing is committed
    for the key (``idempotency_slot``): the service's write inserts the record itself.
    """

    scope: str
    key: str
    request_hash: str
    owner: str
    record_id: int | None = None
    replay: tuple[int, Any] | None = None
    render: Render | None = None
    response: tuple[int, Any] | None = None


def idempotency_begin(
    *, scope: str, key: str, request_hash: str, render: Render | None = None
) -> Slot:
    """Commit the in-flight marker for the key (or find its stored response: ``replay``)."""
    idempotency_key_check(key)
    owner = secrets.token_hex(8)
    now = timezone.now()
    lease = timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
    slot = Slot(scope=scope, key=key, request_hash=request_hash, owner=owner, render=render)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    scope=scope,
                    key=key,
                    request_hash=request_hash,
                    state=IdempotencyState.IN_FLIGHT,
                    owner=owner,
                    lease_until=now + lease,
                )
            slot.record_id = record.pk
            return slot
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if existing is None:
            continue
        if existing.request_hash != request_hash:
            raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
        if existing.state != IdempotencyState.IN_FLIGHT:
            slot.record_id, slot.owner = existing.pk, existing.owner
            slot.replay = (existing.response_status or 200, existing.response_body)
            return slot
        if existing.lease_until > now:
            raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)
        # The first attempt died before committing anything: take the slot over.
        taken = IdempotencyRecord.objects.filter(
            pk=existing.pk, owner=existing.owner, state=IdempotencyState.IN_FLIGHT
        ).update(owner=owner, lease_until=now + lease)
        if taken:
            slot.record_id = existing.pk
            return slot
    raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)


def idempotency_slot(
    *, scope: str, key: str, request_hash: str, render: Render | None = None
) -> Slot:
    """A slot with nothing committed yet: for a service whose one write inserts the record
    with its effect (the counter's redemption on PostgreSQL), after a read found no record."""
    idempotency_key_check(key)
    return Slot(
        scope=scope, key=key, request_hash=request_hash, owner=secrets.token_hex(8), render=render
    )


_INSERT_FINISHED = (
    f"INSERT INTO {IdempotencyRecord._meta.db_table} "  # noqa: S608 (a fixed table name)
    "(scope, key, request_hash, state, owner, lease_until, response_status, response_body, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (scope, key) DO NOTHING RETURNING id"
)


def _finish(slot: Slot, state: str, status: int, body: Any) -> None:
    if slot.record_id is None:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_FINISHED,
                [
                    slot.scope,
                    slot.key,
                    slot.request_hash,
                    state,
                    slot.owner,
                    now,
                    status,
                    connection.ops.adapt_json_value(body, None),
                    now,
                ],
            )
            inserted = cursor.fetchone()
        done = 1 if inserted else 0
        if inserted:
            slot.record_id = int(inserted[0])
    else:
        done = IdempotencyRecord.objects.filter(
            pk=slot.record_id, owner=slot.owner, state=IdempotencyState.IN_FLIGHT
        ).update(state=state, response_status=status, response_body=body)
    if done != 1:
        # Our lease ran out and another attempt took over (or answered first): that one
        # is the effect.
        raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)
    slot.response = (status, body)


def idempotency_succeed(*, slot: Slot | None, result: Any) -> None:
    """Store the response to ``result`` (rendered by the face); call it INSIDE the service's
    transaction that made the effect, as its last write. Nothing to do without a slot."""
    if slot is None:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_succeed belongs inside the effect's transaction")
    if slot.render is None:
        raise RuntimeError("the slot has no render: the face hands one over with it")
    status, body = slot.render(result)
    _finish(slot, IdempotencyState.SUCCEEDED, status, body)


def idempotency_fail(*, slot: Slot | None, error: ApplicationError) -> None:
    """Store a refusal so retries get it again: in the caller's small transaction (the one that
    writes the refusal's trace), else in one of its own. The effect's transaction must already
    have rolled back. A slot that already holds its answer, and "in flight", are left alone."""
    if slot is None or slot.response is not None:
        return
    if error.code == ErrorCode.IDEMPOTENCY_IN_FLIGHT:
        return
    with transaction.atomic():
        _finish(slot, IdempotencyState.FAILED, error.status, error.as_json())


def idempotency_abandon(*, slot: Slot) -> None:
    """An unexpected error (not a refusal): free the key so a retry can run at once."""
    if slot.record_id is None:
        return
    IdempotencyRecord.objects.filter(
        pk=slot.record_id, owner=slot.owner, state=IdempotencyState.IN_FLIGHT
    ).delete()
