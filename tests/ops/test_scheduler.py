"""The scheduler keeps each job's runs in the database: one failing job does not hide the
others, a job is due from its last start whoever ran it, and a restarted scheduler knows what
it missed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicpoints.ops import scheduler
from civicpoints.ops.models import Heartbeat, JobState
from civicpoints.ops.scheduler import Job, missed, run_job, run_jobs_once

pytestmark = pytest.mark.django_db


def test_each_job_records_its_own_success_and_failure(monkeypatch):
    calls: list[str] = []

    def ok() -> int:
        calls.append("ok")
        return 3

    def broken() -> int:
        calls.append("broken")
        raise ValueError("boom")

    monkeypatch.setattr(
        scheduler,
        "JOBS",
        [Job("first", broken), Job("second", ok), Job("third", broken), Job("fourth", ok)],
    )

    done = run_jobs_once()

    assert calls == ["broken", "ok", "broken", "ok"]  # a failure does not stop the round
    assert done == {"second": 3, "fourth": 3}
    states = {s.name: s for s in JobState.objects.all()}
    for name in ("first", "third"):
        assert states[name].runs == 1
        assert states[name].failures == 1
        assert states[name].last_error == "ValueError"
        assert states[name].last_success_at is None
        assert states[name].last_error_at is not None
    for name in ("second", "fourth"):
        assert states[name].failures == 0
        assert states[name].last_done == 3
        assert states[name].last_success_at is not None
        assert states[name].last_duration_ms is not None
    assert Heartbeat.objects.get(name="scheduler").beat_at is not None


def test_a_job_is_due_from_its_last_start_in_the_database():
    ran: list[int] = []
    job = Job("every_minute", lambda: ran.append(1) or 1, every=60.0)
    now = timezone.now()

    assert run_job(job, now) == 1
    # Another scheduler (or this one after a restart) 30 s later: not due yet.
    assert run_job(job, now + dt.timedelta(seconds=30)) is None
    assert run_job(job, now + dt.timedelta(seconds=61)) == 1
    assert ran == [1, 1]
    assert JobState.objects.get(name="every_minute").runs == 2


def test_a_restarted_scheduler_knows_what_it_missed(monkeypatch):
    jobs = [Job("fresh", lambda: 0, overdue_after=600), Job("stale", lambda: 0, overdue_after=600)]
    monkeypatch.setattr(scheduler, "JOBS", jobs)
    now = timezone.now()
    JobState.objects.create(name="fresh", last_success_at=now - dt.timedelta(seconds=10))
    JobState.objects.create(
        name="stale",
        last_success_at=now - dt.timedelta(hours=5),
        last_started_at=now - dt.timedelta(hours=5),
    )

    assert missed(now) == ["stale"]
    # The missed job is due at once on the first round after the restart.
    assert run_job(jobs[1], now) == 0
    assert missed(now) == []


def test_the_real_jobs_all_run_and_succeed_on_an_empty_database():
    done = run_jobs_once()
    assert set(done) == {job.name for job in scheduler.JOBS}
    assert JobState.objects.filter(failures=0, last_success_at__isnull=False).count() == len(
        scheduler.JOBS
    )
