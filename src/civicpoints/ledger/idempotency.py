"""Keyed requests: the first response is kept and given again to every retry.

``idempotency_begin`` commits an in-flight marker (so a concurrent retry gets 409 rather
than a second effect); the caller then runs its service and ``idempotency_succeed`` in ONE
transaction, so the stored response commits together with the effect or not at all. A crash
before that commit leaves only the marker, whose lease expires so a later retry can run.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState

MAX_KEY_LENGTH = 200


def request_hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Slot:
    """Either ours to run (``replay`` is None) or a stored response to give again."""

    record_id: int
    owner: str
    replay: tuple[int, Any] | None = None


def idempotency_begin(*, scope: str, key: str, request_hash: str) -> Slot:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApplicationError(
            ErrorCode.IDEMPOTENCY_KEY_MISSING, _("Idempotency-Key 缺失或无效（最多200个可见字符）")
        )
    owner = secrets.token_hex(8)
    now = timezone.now()
    lease = timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
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
            return Slot(record_id=record.pk, owner=owner)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if existing is None:
            continue
        if existing.request_hash != request_hash:
            raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
        if existing.state != IdempotencyState.IN_FLIGHT:
            return Slot(
                record_id=existing.pk,
                owner=existing.owner,
                replay=(existing.response_status or 200, existing.response_body),
            )
        if existing.lease_until > now:
            raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)
        # The first attempt died before committing anything: take the slot over.
        taken = IdempotencyRecord.objects.filter(
            pk=existing.pk, owner=existing.owner, state=IdempotencyState.IN_FLIGHT
        ).update(owner=owner, lease_until=now + lease)
        if taken:
            return Slot(record_id=existing.pk, owner=owner)
    raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)


def _finish(slot: Slot, state: str, status: int, body: Any) -> None:
    done = IdempotencyRecord.objects.filter(
        pk=slot.record_id, owner=slot.owner, state=IdempotencyState.IN_FLIGHT
    ).update(state=state, response_status=status, response_body=body)
    if done != 1:
        # Our lease ran out and another attempt took over: let that one be the effect.
        raise ApplicationError(ErrorCode.IDEMPOTENCY_IN_FLIGHT)


def idempotency_succeed(*, slot: Slot, status: int, body: Any) -> None:
    """Call inside the transaction that made the effect."""
    _finish(slot, IdempotencyState.SUCCEEDED, status, body)


def idempotency_fail(*, slot: Slot, status: int, body: Any) -> None:
    """Store a refusal (the effect's transaction rolled back) so retries get it again."""
    with transaction.atomic():
        _finish(slot, IdempotencyState.FAILED, status, body)


def idempotency_abandon(*, slot: Slot) -> None:
    """An unexpected error (not a refusal): free the key so a retry can run at once."""
    IdempotencyRecord.objects.filter(
        pk=slot.record_id, owner=slot.owner, state=IdempotencyState.IN_FLIGHT
    ).delete()
