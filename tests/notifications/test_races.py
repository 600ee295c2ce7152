"""Parallel inbound commands from one phone cannot get past the rate limit, and parallel
deliveries of one notification send it once (PostgreSQL, real threads, committed data)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from civicpoints.households.sms import MemoryBackend
from civicpoints.notifications.inbound import Outcome, signature_for, sms_inbound
from civicpoints.notifications.models import InboundCounter, Notification
from civicpoints.notifications.services import deliver
from tests.factories import make_household
from tests.ledger.helpers import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "race-secret"


def test_twelve_commands_at_once_get_exactly_five_replies(world, settings, postgres_only):
    settings.SMS_WEBHOOK_SECRET = SECRET
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    now = timezone.now()  # one moment for all twelve: none may fall in the next window
    stamp = int(now.timestamp())
    bodies = [
        json.dumps({"phone": "13912345678", "text": f"JF {i}", "timestamp": stamp}).encode()
        for i in range(12)
    ]

    outcomes = run_in_threads(
        12,
        lambda i: sms_inbound(body=bodies[i], signature=signature_for(bodies[i], SECRET), now=now),
    )

    assert [o.error for o in outcomes] == [None] * 12
    results = sorted(o.value.value for o in outcomes)
    assert results == sorted([Outcome.REPLIED.value] * 5 + [Outcome.RATE_LIMITED.value] * 7)
    assert InboundCounter.objects.get().count == 5
    assert Notification.objects.count() == 5
    assert len(MemoryBackend.outbox) == 5


def test_one_notification_delivered_by_two_senders_at_once_is_sent_once(
    world, settings, postgres_only
):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    household = make_household(world.scheme, world.village_a1, phone="13912345678")
    row = Notification.objects.create(
        scheme=world.scheme, household=household, phone="13912345678", event_key="x:1", text="一"
    )
    outcomes = run_in_threads(4, lambda i: deliver(ids=[row.pk]))
    assert sorted(o.value for o in outcomes) == [0, 0, 0, 1]
    assert MemoryBackend.outbox == [("13912345678", "一")]
