"""Background jobs run by ``civicpoints serve``: notice finalisation, expiry of app orders,
T+1 settlement after midnight, the journal follower, the SMS sweep and the risk scan.

Each job is idempotent and safe to run from two processes at once, so a restart or a second
scheduler only repeats work that changes nothing; after downtime each catches up. Every run
is recorded in the database (``ops.JobState``: runs, failures, last start / success / error),
each job on its own, so a failing job never hides the others and any process can report them
(``/healthz``). Each tick beats ``ops.Heartbeat`` once and reads every job's last start in
one query (making the rows of jobs it has never seen, so only on a first tick or after a
restore); a job is due when that start (in the database, whoever ran it) is at least
``every`` seconds ago, so a restarted scheduler runs at once what it missed. Adding a job is
one entry in ``JOBS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections
from django.db.models import F, Q
from django.utils import timezone

from civicpoints.awards.services import notices_finalize
from civicpoints.honours.rankings import periods_close
from civicpoints.honours.stars import stars_year_end
from civicpoints.honours.year_end import year_end_job
from civicpoints.ledger.chain import chain_follow
from civicpoints.merchants.settlement import settle_due
from civicpoints.notifications.services import notifications_sweep
from civicpoints.ops.models import Heartbeat, JobState
from civicpoints.risk.services import risk_scan
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.services import sessions_clear_expired
from civicpoints.stores.services import orders_expire

log = logging.getLogger(__name__)

HEARTBEAT = "scheduler"
# The follower chains at most this many batches of 2,000 postings per run, so one run of a
# large backlog never holds the loop (and its heartbeat) for long; the next run goes on.
CHAIN_BATCHES_PER_RUN = 20


def _chain_all(*, sweep: bool = False) -> int:
    return sum(
        chain_follow(scheme_id=scheme_id, max_batches=CHAIN_BATCHES_PER_RUN, sweep=sweep)
        for scheme_id in Scheme.objects.order_by("pk").values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], int]  # returns how many things it did (claims posted, days settled ...)
    every: float = 5.0  # seconds between starts
    overdue_after: float = 600.0  # /healthz marks the job overdue past this since its success


JOBS: list[Job] = [
    Job("notices_finalize", lambda: notices_finalize().count),
    Job("orders_expire", orders_expire),
    Job("settle_due", settle_due, every=60.0, overdue_after=3600.0),
    Job("chain_follow", _chain_all),
    # A posting that committed later than the follower's window below the head (ledger/chain.py)
    Job("chain_sweep", lambda: _chain_all(sweep=True), every=3600.0, overdue_after=86400.0),
    # A month, quarter or year that has ended: its rankings frozen (honours/rankings.py).
    Job("periods_close", periods_close, every=600.0, overdue_after=86400.0),
    # Last year's 星级文明户, once, for every scheme with thresholds (honours/stars.py).
    Job("stars_year_end", stars_year_end, every=3600.0, overdue_after=86400.0 * 2),
    # 年底清零: the 30-day notice, then the run once residents were told (honours/year_end.py).
    # Every 6 hours: in December each pass counts every household's expiring points.
    Job("year_end", year_end_job, every=6 * 3600.0, overdue_after=86400.0 * 2),
    Job("notifications_sweep", notifications_sweep, every=60.0, overdue_after=3600.0),
    # Each scheme at most once per its RiskSettings.scan_minutes (risk_scan checks).
    Job("risk_scan", risk_scan, every=60.0, overdue_after=3600.0),
    # Page sessions past their expiry (schemes.StaffSession; no clearsessions command here).
    Job("sessions_clear", sessions_clear_expired, every=3600.0, overdue_after=86400.0),
]


def beat(now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    updated = Heartbeat.objects.filter(name=HEARTBEAT).update(beat_at=now, pid=os.getpid())
    if not updated:
        Heartbeat.objects.bulk_create(
            [Heartbeat(name=HEARTBEAT, beat_at=now, pid=os.getpid())], ignore_conflicts=True
        )


def _last_starts(jobs: list[Job]) -> dict[str, dt.datetime | None]:
    """Each job's last start, by anyone: one read. Rows of jobs never seen are made here."""
    names = [job.name for job in jobs]
    starts = dict(JobState.objects.filter(name__in=names).values_list("name", "last_started_at"))
    new = [name for name in names if name not in starts]
    if new:
        JobState.objects.bulk_create([JobState(name=name) for name in new], ignore_conflicts=True)
        starts.update(dict.fromkeys(new))
    return starts


def _start(job: Job, last_started: dt.datetime | None, now: dt.datetime) -> bool:
    """Take the job's start if it was not started in the last ``every`` seconds."""
    since = now - dt.timedelta(seconds=job.every)
    if last_started is not None and last_started > since:
        return False  # not due: no write at all
    # Taking the start is one guarded UPDATE: two schedulers do not both start a due job.
    return (
        JobState.objects.filter(name=job.name)
        .filter(Q(last_started_at__isnull=True) | Q(last_started_at__lte=since))
        .update(last_started_at=now, runs=F("runs") + 1)
        == 1
    )


def _run_if_due(job: Job, last_started: dt.datetime | None, now: dt.datetime) -> int | None:
    if not _start(job, last_started, now):
        return None
    started = time.monotonic()
    try:
        done = int(job.run())
    except Exception as exc:  # one failing job must not stop the others or the server
        log.exception("scheduler job %s failed", job.name)
        JobState.objects.filter(name=job.name).update(
            last_error_at=timezone.now(),
            last_error=type(exc).__name__[:100],
            failures=F("failures") + 1,
        )
        return None
    JobState.objects.filter(name=job.name).update(
        last_success_at=timezone.now(),
        last_done=done,
        last_duration_ms=min(int((time.monotonic() - started) * 1000), 2**31 - 1),
    )
    return done


def run_job(job: Job, now: dt.datetime | None = None) -> int | None:
    """Run one job if due and record how it went; None when it was not due or failed."""
    return _run_if_due(job, _last_starts([job])[job.name], now or timezone.now())


def run_jobs_once(now: dt.datetime | None = None) -> dict[str, int]:
    """One tick: one heartbeat, one read of the jobs' starts, then every due job, each recorded
    on its own; returns what each that ran did."""
    jobs = list(JOBS)
    try:
        beat()
        starts = _last_starts(jobs)
    except DatabaseError:
        # The database is away (restart, failover): nothing can be recorded; next round.
        # The next round starts on a fresh connection (run_forever closes broken ones).
        log.warning("scheduler: database unavailable at the start of a round")
        return {}
    done: dict[str, int] = {}
    for job in jobs:
        try:
            # A job's start is taken when its turn comes (earlier jobs may have been slow).
            result = _run_if_due(job, starts[job.name], now or timezone.now())
        except DatabaseError:
            log.warning("scheduler: database unavailable while running %s", job.name)
            continue
        if result is not None:
            done[job.name] = result
    return done


def missed(now: dt.datetime | None = None) -> list[str]:
    """Jobs whose last success is older than ``overdue_after`` (or that never succeeded)."""
    now = now or timezone.now()
    states = {s.name: s for s in JobState.objects.filter(name__in=[j.name for j in JOBS])}
    late = []
    for job in JOBS:
        state = states.get(job.name)
        last = state.last_success_at if state else None
        if last is None or (now - last).total_seconds() > job.overdue_after:
            late.append(job.name)
    return late


def run_forever(stop: threading.Event, interval: float = 5.0) -> None:
    try:
        late = missed()
        if late:
            log.info("scheduler: catching up on %s", ", ".join(late))
    except DatabaseError:
        log.warning("scheduler: database unavailable at start")
    finally:
        close_old_connections()
    while not stop.is_set():
        try:
            done = run_jobs_once()
            if any(done.values()):
                log.info("scheduler: %s", done)
        except Exception:  # nothing may stop the loop
            log.exception("scheduler round failed")
        finally:
            close_old_connections()
        stop.wait(interval)
