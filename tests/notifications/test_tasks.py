"""Texts go out from a django-tasks task (the database backend and its worker, run here
synchronously): a failing SMS backend is retried with backoff and the text is sent once; a
worker that dies between the claim and the backend's answer never sends it again (at most
once); a rolled-back event enqueues nothing."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from civicpoints.households.sms import MemoryBackend
from civicpoints.notifications.models import Notification, NotificationStatus
from civicpoints.notifications.services import enqueue_send, notifications_sweep, notify
from tests.factories import make_household

pytestmark = pytest.mark.django_db(transaction=True)  # the worker commits, as in production
PHONE = "13912345678"


class FlakyBackend:
    """Fails the first ``failures`` sends, then delivers to the memory outbox."""

    failures = 2
    calls: ClassVar[list[str]] = []

    def send(self, phone: str, text: str) -> None:
        self.calls.append(text)
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"gateway down for {phone}")
        MemoryBackend.outbox.append((phone, text))


class Killed(BaseException):
    """The worker process dying while the gateway has the text (SIGKILL, power cut)."""


class DyingBackend:
    def send(self, phone: str, text: str) -> None:
        raise Killed


@pytest.fixture
def queue(settings, outbox):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    FlakyBackend.calls.clear()
    return outbox


def run_worker() -> None:
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,  # every ready task, then stop
        backend_name="default",
        startup_delay=False,
        max_tasks=50,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def texted(world, key: str = "order_ready:1") -> Notification:
    household = make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)
    with transaction.atomic():
        assert notify(
            scheme_id=world.scheme.pk, household_id=household.pk, event_key=key, text="备好货了"
        )
        assert DBTaskResult.objects.count() == 0  # enqueued only on commit
    return Notification.objects.get(event_key=key)


def test_a_backend_failing_twice_then_working_sends_once(world, settings, queue):
    settings.SMS_BACKEND = "tests.notifications.test_tasks.FlakyBackend"
    settings.SMS_RETRY_DELAYS = [0, 0, 0]
    row = texted(world)
    assert DBTaskResult.objects.count() == 1

    run_worker()

    assert FlakyBackend.calls == ["备好货了"] * 3
    assert queue == [(PHONE, "备好货了")]
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert row.attempts == 3
    assert row.sent_at is not None
    assert row.last_error == "ConnectionError"  # the class only: the text quoted the phone
    assert DBTaskResult.objects.count() == 3  # the first task and two retries

    # A duplicate task (the sweep, a second worker) sends nothing more.
    enqueue_send([row.pk])
    run_worker()
    assert queue == [(PHONE, "备好货了")]


def test_a_retry_waits_for_its_backoff(world, settings, queue):
    settings.SMS_BACKEND = "tests.notifications.test_tasks.FlakyBackend"
    settings.SMS_RETRY_DELAYS = [30, 120]
    before = timezone.now()
    row = texted(world)

    run_worker()

    # One attempt failed; the retry is queued 30 s out and the worker left it there.
    assert FlakyBackend.calls == ["备好货了"]
    row.refresh_from_db()
    assert row.status == NotificationStatus.PENDING
    assert row.attempts == 1
    assert row.next_attempt_at is not None
    assert 30 <= (row.next_attempt_at - before).total_seconds() < 40
    retry = DBTaskResult.objects.ready()
    assert retry.count() == 0
    waiting = DBTaskResult.objects.get(status="READY")
    assert waiting.run_after == row.next_attempt_at

    # When the 30 s have passed (moved in the database), the retry runs (and fails again:
    # the second delay is 120 s).
    past = timezone.now() - dt.timedelta(seconds=1)
    DBTaskResult.objects.filter(pk=waiting.pk).update(run_after=past)
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=past)
    run_worker()
    row.refresh_from_db()
    assert row.attempts == 2
    assert 110 <= (row.next_attempt_at - timezone.now()).total_seconds() <= 120


def test_after_the_last_retry_the_text_is_given_up(world, settings, queue):
    settings.SMS_BACKEND = "tests.notifications.test_tasks.FlakyBackend"
    settings.SMS_RETRY_DELAYS = [0]
    FlakyBackend.failures = 5
    try:
        row = texted(world)
        run_worker()
    finally:
        FlakyBackend.failures = 2
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert row.attempts == 2
    assert queue == []


def test_a_worker_dying_mid_send_never_sends_it_again(world, settings, queue):
    # Given a worker that dies after claiming the text, while the gateway has it
    settings.SMS_BACKEND = "tests.notifications.test_tasks.DyingBackend"
    row = texted(world)
    run_worker()
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENDING
    assert row.attempts == 1

    # When the backend works again and the text is offered again (a duplicate task, the sweep)
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    enqueue_send([row.pk])
    run_worker()
    # Then it is not sent a second time: the gateway may have delivered it (at most once)
    assert queue == []
    # And the sweep, ten minutes on, marks it unknown instead of sending it.
    assert notifications_sweep(now=timezone.now() + dt.timedelta(minutes=11)) == 1
    row.refresh_from_db()
    assert row.status == NotificationStatus.UNKNOWN
    run_worker()
    assert queue == []


def test_a_rolled_back_event_enqueues_nothing(world, queue):
    household = make_household(world.scheme, world.village_a1, phone=PHONE)
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(scheme_id=world.scheme.pk, household_id=household.pk, event_key="k:1", text="一")
        raise RuntimeError("the event failed")
    assert Notification.objects.count() == 0
    assert DBTaskResult.objects.count() == 0
    run_worker()
    assert queue == []


def test_the_sweep_enqueues_a_text_whose_task_was_lost(world, queue):
    # Given a text recorded but never enqueued (the process died between commit and enqueue)
    household = make_household(world.scheme, world.village_a1, phone=PHONE)
    row = Notification.objects.create(
        scheme=world.scheme, household=household, phone=PHONE, event_key="k:2", text="二"
    )
    assert notifications_sweep() == 0  # too fresh: its task may still be on its way

    assert notifications_sweep(now=timezone.now() + dt.timedelta(minutes=3)) == 1
    run_worker()

    assert queue == [(PHONE, "二")]
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT


def test_a_text_pending_for_a_day_is_given_up_not_sent(world, queue):
    household = make_household(world.scheme, world.village_a1, phone=PHONE)
    row = Notification.objects.create(
        scheme=world.scheme,
        household=household,
        phone=PHONE,
        event_key="k:3",
        text="三",
        created_at=timezone.now() - dt.timedelta(days=2),
    )
    notifications_sweep()
    run_worker()
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert queue == []
