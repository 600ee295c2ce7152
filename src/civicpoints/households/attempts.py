"""Counted tries of a household's PIN: count the try first, then check the PIN.

A guarded UPDATE takes one of the five tries before the PIN is compared, in one short
transaction, so parallel guesses cannot get more than five checks in before the lock; the
fifth wrong PIN in a row locks the household for 15 minutes. Raises nothing inside its
transaction (a refusal there would undo the count): callers raise on the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from civicpoints.households import crypto
from civicpoints.households.models import Household

PIN_FAILURE_LIMIT = 5
PIN_LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class PinTry:
    ok: bool
    locked: bool = False  # refused before any check: locked, or five tries already under way
    attempts_left: int = PIN_FAILURE_LIMIT


def household_pin_try(*, household_id: int, pin: Any) -> PinTry:
    now = timezone.now()
    rows = Household.objects.filter(pk=household_id)
    with transaction.atomic():
        taken = (
            rows.filter(pin_failures__lt=PIN_FAILURE_LIMIT)
            .exclude(pin_locked_until__gt=now)
            .update(pin_failures=F("pin_failures") + 1)
        )
        if not taken:
            return PinTry(ok=False, locked=True, attempts_left=0)
        failures, stored, tag = rows.values_list(
            "pin_failures", "pin_hash", "offline_pin_tag"
        ).get()
        if isinstance(pin, str) and stored and check_password(pin, stored):
            fields: dict[str, Any] = {"pin_failures": 0, "pin_locked_until": None}
            if not stored.startswith(crypto.PIN_HASHER + "$"):
                fields["pin_hash"] = make_password(pin, hasher=crypto.PIN_HASHER)
                fields["offline_pin_tag"] = crypto.offline_pin_tag(fields["pin_hash"], pin)
            elif tag is None:
                # Made the first time the plain PIN is at hand (docs/offline-counter.md).
                fields["offline_pin_tag"] = crypto.offline_pin_tag(stored, pin)
            rows.update(**fields)
            return PinTry(ok=True)
        if failures >= PIN_FAILURE_LIMIT:
            rows.update(pin_failures=0, pin_locked_until=now + PIN_LOCKOUT)
        return PinTry(ok=False, attempts_left=max(PIN_FAILURE_LIMIT - failures, 0))
