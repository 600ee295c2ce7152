"""Record a notification with the event it reports and text it after commit, at most once.

Call ``notify`` / ``notify_many`` inside the transaction of the event (a rejected claim, a
posted batch, a placed order): the row commits or rolls back with the event, the unique
``(scheme, event_key)`` turns a retry or re-run into a no-op, and the text goes to the SMS
backend only from ``transaction.on_commit``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from civicpoints.households.models import Household, Member, Relation, mask_phone
from civicpoints.households.sms import send_sms
from civicpoints.notifications.models import Notification

log = logging.getLogger("civicpoints.notifications")

MAX_TEXT = 300


@dataclass(frozen=True)
class Message:
    scheme_id: int
    household_id: int
    event_key: str
    text: str


def phones_for(household_ids: Iterable[int]) -> dict[int, str]:
    """Where to text each household: its own phone, else its head member's (two queries)."""
    ids = set(household_ids)
    phones = {
        pk: phone
        for pk, phone in Household.objects.filter(pk__in=ids).values_list("pk", "phone")
        if phone
    }
    missing = ids - phones.keys()
    if missing:
        heads = (
            Member.objects.filter(household_id__in=missing, relation=Relation.HEAD)
            .exclude(phone="")
            .order_by("-pk")
            .values_list("household_id", "phone")
        )
        phones.update(dict(heads))  # the oldest head member wins (ordered newest first)
    return phones


def notify(
    *, scheme_id: int, household_id: int, event_key: str, text: str, phone: str | None = None
) -> bool:
    """One message for one event; False when there is no phone or it was recorded before.
    ``phone`` overrides the household's (a reply goes to the phone that asked)."""
    phone = phone or phones_for([household_id]).get(household_id)
    if not phone:
        return False
    try:
        with transaction.atomic():  # a savepoint: a duplicate key must not spoil the caller
            row = Notification.objects.create(
                scheme_id=scheme_id,
                household_id=household_id,
                phone=phone,
                event_key=event_key,
                text=text[:MAX_TEXT],
            )
    except IntegrityError:
        return False
    transaction.on_commit(partial(deliver, ids=[row.pk]))
    return True


def notify_many(messages: Sequence[Message]) -> int:
    """Set-based ``notify`` for batch jobs (finalize): three queries however many households."""
    if not messages:
        return 0
    phones = phones_for(m.household_id for m in messages)
    wanted = [m for m in messages if phones.get(m.household_id)]
    if not wanted:
        return 0
    scheme_ids = {m.scheme_id for m in wanted}
    keys = [m.event_key for m in wanted]
    seen = set(
        Notification.objects.filter(scheme_id__in=scheme_ids, event_key__in=keys).values_list(
            "scheme_id", "event_key"
        )
    )
    rows = [
        Notification(
            scheme_id=m.scheme_id,
            household_id=m.household_id,
            phone=phones[m.household_id],
            event_key=m.event_key,
            text=m.text[:MAX_TEXT],
        )
        for m in wanted
        if (m.scheme_id, m.event_key) not in seen
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    new_keys = [r.event_key for r in rows]
    if new_keys:
        transaction.on_commit(
            partial(deliver_keys, scheme_ids=sorted(scheme_ids), event_keys=new_keys)
        )
    return len(rows)


def deliver_keys(*, scheme_ids: Sequence[int], event_keys: Sequence[str]) -> int:
    ids = list(
        Notification.objects.filter(
            scheme_id__in=scheme_ids, event_key__in=event_keys, sent_at__isnull=True
        ).values_list("pk", flat=True)
    )
    return deliver(ids=ids)


def deliver(*, ids: Sequence[int]) -> int:
    """Hand unsent notifications to the SMS backend; each row is claimed first (a guarded
    UPDATE), so two senders never both text it. Returns how many were sent."""
    sent = 0
    for row in Notification.objects.filter(pk__in=ids, sent_at__isnull=True).order_by("pk"):
        claimed = Notification.objects.filter(pk=row.pk, sent_at__isnull=True).update(
            sent_at=timezone.now()
        )
        if claimed != 1:
            continue
        send_sms(phone=row.phone, text=row.text)
        log.info("notification %s to %s", row.event_key, mask_phone(row.phone))
        sent += 1
    return sent
