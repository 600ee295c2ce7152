"""Record a notification with the event it reports; a background task texts it after commit,
retried on a failing backend, never twice.

Call ``notify`` / ``notify_many`` inside the transaction of the event (a rejected claim, a
posted batch, a placed order): the row commits or rolls back with the event, the unique
``(scheme, event_key)`` turns a retry or re-run into a no-op, and the send task is enqueued
only from ``transaction.on_commit`` (Django's tasks framework, the ``django-tasks`` backport
with its database backend; ``db_worker`` runs it). ``deliver`` claims each row before calling
the backend (at most once: a worker that dies between the claim and the backend's answer
leaves the row ``sending``, and the sweep marks it ``unknown`` instead of sending it again).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from civicpoints.households.models import Household, Member, Relation, mask_phone
from civicpoints.households.sms import sms_send
from civicpoints.notifications.models import Notification, NotificationStatus

log = logging.getLogger("civicpoints.notifications")

MAX_TEXT = 300
SENDING_TIMEOUT = dt.timedelta(minutes=10)  # claimed longer ago and not confirmed: unknown
SWEEP_GRACE = dt.timedelta(minutes=2)  # a pending row's task should have run by then
MAX_AGE = dt.timedelta(days=1)  # a text not sent within a day is stale news: given up
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class Message:
    scheme_id: int
    household_id: int
    event_key: str
    text: str


# phones_for() on PostgreSQL: one statement, one unique-key probe per household (LIMIT 1 keeps
# each an index lookup; a list of hundreds of ids in "IN (...)" is planned as a scan of the
# whole table when the tables have no statistics), the head member only for a household
# without its own phone, the oldest head first.
_PHONES = """
SELECT h.id, coalesce(nullif(h.phone, ''), m.phone)
  FROM unnest(%s::bigint[]) AS u(id)
 CROSS JOIN LATERAL (SELECT id, phone FROM households_household WHERE id = u.id LIMIT 1) AS h
  LEFT JOIN LATERAL (
        SELECT s.phone
          FROM (SELECT id, phone FROM households_member
                 WHERE household_id = u.id AND relation = %s AND phone <> '' AND h.phone = ''
                OFFSET 0) AS s
         ORDER BY s.id LIMIT 1) AS m ON true
"""


def phones_for(household_ids: Iterable[int]) -> dict[int, str]:
    """Where to text each household: its own phone, else its head member's (two queries)."""
    ids = set(household_ids)
    if connection.vendor == "postgresql" and ids:
        with connection.cursor() as cursor:
            cursor.execute(_PHONES, [sorted(ids), Relation.HEAD])
            return {pk: phone for pk, phone in cursor.fetchall() if phone}
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
    # robust: a failed enqueue (database away) must not fail the committed event; the sweep
    # enqueues it later.
    transaction.on_commit(partial(enqueue_send, [row.pk]), robust=True)
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
            partial(deliver_keys, scheme_ids=sorted(scheme_ids), event_keys=new_keys),
            robust=True,
        )
    return len(rows)


def deliver_keys(*, scheme_ids: Sequence[int], event_keys: Sequence[str]) -> None:
    """Enqueue the send of the rows a batch just recorded (after its commit)."""
    ids = list(
        Notification.objects.filter(
            scheme_id__in=scheme_ids,
            event_key__in=event_keys,
            status=NotificationStatus.PENDING,
        ).values_list("pk", flat=True)
    )
    enqueue_send(ids)


def enqueue_send(ids: Sequence[int], *, run_after: dt.datetime | None = None) -> None:
    """One task for these rows; a deferred one only where the backend can defer (with the
    immediate backend a retry waits for the sweep)."""
    if not ids:
        return
    from civicpoints.notifications.tasks import send_notifications

    task = send_notifications
    if run_after is not None:
        if not task.get_backend().supports_defer:
            return
        task = task.using(run_after=run_after)
    task.enqueue(ids=sorted(ids))


def deliver(*, ids: Sequence[int]) -> int:
    """Send each pending, due row of ``ids`` once; returns how many went to the backend.
    Each row is its own step: one failing text does not hold back the others."""
    return sum(_send_one(pk) for pk in sorted(set(ids)))


def _send_one(pk: int) -> bool:
    now = timezone.now()
    # The claim: pending -> sending in one guarded UPDATE. Whoever gets 1 row sends; a second
    # worker, a duplicate task or a retry after a crash gets 0 and sends nothing.
    claimed = (
        Notification.objects.filter(pk=pk, status=NotificationStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=NotificationStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    )
    if claimed != 1:
        return False
    row = Notification.objects.only("phone", "text", "event_key", "attempts").get(pk=pk)
    try:
        sms_send(phone=row.phone, text=row.text)
    except Exception as exc:  # a backend failure: retried later (a crash is not caught here)
        _failed(row, exc)
        return False
    Notification.objects.filter(pk=pk, status=NotificationStatus.SENDING).update(
        status=NotificationStatus.SENT, sent_at=timezone.now()
    )
    log.info("notification %s to %s", row.event_key, mask_phone(row.phone))
    return True


def _failed(row: Notification, exc: Exception) -> None:
    delays = settings.SMS_RETRY_DELAYS
    error = type(exc).__name__[:100]  # never the text: a gateway's error may quote the number
    log.error("SMS to %s failed (attempt %d): %s", mask_phone(row.phone), row.attempts, error)
    mine = Notification.objects.filter(pk=row.pk, status=NotificationStatus.SENDING)
    if row.attempts > len(delays):
        mine.update(status=NotificationStatus.FAILED, last_error=error)
        return
    when = timezone.now() + dt.timedelta(seconds=delays[row.attempts - 1])
    mine.update(status=NotificationStatus.PENDING, next_attempt_at=when, last_error=error)
    enqueue_send([row.pk], run_after=when)


def notifications_sweep(*, now: dt.datetime | None = None) -> int:
    """The scheduler's safety net (every minute): re-enqueue pending rows whose task never ran
    (the process died between commit and enqueue, the immediate backend cannot defer), give
    up on rows pending for over a day, and mark rows claimed long ago and never confirmed
    ``unknown`` (not sent again). Returns how many rows it touched."""
    now = now or timezone.now()
    unknown = Notification.objects.filter(
        status=NotificationStatus.SENDING, claimed_at__lt=now - SENDING_TIMEOUT
    ).update(status=NotificationStatus.UNKNOWN)
    if unknown:
        log.warning("%d notification(s) claimed and never confirmed: marked unknown", unknown)
    expired = Notification.objects.filter(
        status=NotificationStatus.PENDING, created_at__lt=now - MAX_AGE
    ).update(status=NotificationStatus.FAILED, last_error="Expired")
    late = now - SWEEP_GRACE
    stuck = list(
        Notification.objects.filter(status=NotificationStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True, created_at__lt=late) | Q(next_attempt_at__lt=late))
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    enqueue_send(stuck)
    return unknown + expired + len(stuck)
