"""The scheduler keeps each job's runs in the database: one failing job does not hide the
others, a job is due from its last start whoever ran it, and a restarted scheduler knows what
it missed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.ops import scheduler
from civicpoints.ops.models import Heartbeat, JobState
from civicpoints.ops.scheduler import Job, missed, run_job, run_jobs_once
from civicpoints.schemes.models import StaffSession
from civicpoints.schemes.services import sessions_clear_expired
from civicpoints.schemes.session_store import SessionStore

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


def _tables(queries: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(verb, table) of each query: what a tick did, without the SQL's vendor spelling."""
    found = []
    for q in queries:
        sql = q["sql"].replace('"', "").replace("`", "")
        verb = sql.split()[0].upper()
        table = next(t for t in ("ops_heartbeat", "ops_jobstate") if t in sql)
        found.append((verb, table))
    return found


def test_a_tick_beats_once_reads_once_and_writes_only_for_due_jobs(monkeypatch):
    """One heartbeat and one read per tick, whatever the number of jobs; the job rows are made
    once (on the first tick), and a job that is not due costs no query at all."""
    ran: list[str] = []

    def job(name: str, every: float) -> Job:
        return Job(name, lambda: ran.append(name) or 0, every=every)

    jobs = [job("fast1", 5), job("fast2", 5), job("slow1", 60), job("slow2", 60)]
    monkeypatch.setattr(scheduler, "JOBS", jobs)
    now = timezone.now()

    with CaptureQueriesContext(connection) as first:
        assert run_jobs_once(now) == dict.fromkeys(["fast1", "fast2", "slow1", "slow2"], 0)
    with CaptureQueriesContext(connection) as second:
        assert run_jobs_once(now + dt.timedelta(seconds=10)) == {"fast1": 0, "fast2": 0}
    with CaptureQueriesContext(connection) as third:
        assert len(run_jobs_once(now + dt.timedelta(seconds=61))) == 4

    # First tick: the heartbeat row and the four job rows are made (one INSERT each)
    assert _tables(first.captured_queries) == [
        ("UPDATE", "ops_heartbeat"),
        ("INSERT", "ops_heartbeat"),
        ("SELECT", "ops_jobstate"),
        ("INSERT", "ops_jobstate"),
        *[("UPDATE", "ops_jobstate")] * 8,  # each job: its start taken, its success recorded
    ]
    # Later ticks: one beat, one read, two writes per due job; no INSERT
    assert _tables(second.captured_queries) == [
        ("UPDATE", "ops_heartbeat"),
        ("SELECT", "ops_jobstate"),
        *[("UPDATE", "ops_jobstate")] * 4,
    ]
    assert _tables(third.captured_queries) == [
        ("UPDATE", "ops_heartbeat"),
        ("SELECT", "ops_jobstate"),
        *[("UPDATE", "ops_jobstate")] * 8,
    ]
    tick1, tick2, tick3 = ["fast1", "fast2", "slow1", "slow2"], ["fast1", "fast2"], jobs
    assert ran == tick1 + tick2 + [j.name for j in tick3]
    assert [s.runs for s in JobState.objects.order_by("name")] == [3, 3, 2, 2]


def test_job_rows_lost_in_a_restore_are_made_again_on_the_next_tick(monkeypatch):
    monkeypatch.setattr(scheduler, "JOBS", [Job("only", lambda: 7)])
    now = timezone.now()
    assert run_jobs_once(now) == {"only": 7}
    JobState.objects.all().delete()  # e.g. a restore from a backup taken before the job existed

    assert run_jobs_once(now + dt.timedelta(seconds=6)) == {"only": 7}
    assert JobState.objects.get(name="only").runs == 1


def test_expired_page_sessions_are_cleared_live_ones_kept():
    live, old = SessionStore(), SessionStore()
    live["a"], old["a"] = 1, 2
    live.create()
    old.create()
    StaffSession.objects.filter(pk=old.session_key).update(
        expire_date=timezone.now() - dt.timedelta(minutes=1)
    )
    job = next(j for j in scheduler.JOBS if j.name == "sessions_clear")

    assert run_job(job) == 1
    assert list(StaffSession.objects.values_list("pk", flat=True)) == [live.session_key]
    assert sessions_clear_expired() == 0  # (the job is not due again for an hour)
