"""What ``/healthz`` reports: the database, the scheduler's heartbeat, the journal follower's
lag, each job's last success, the task queue, and whether this server can sign the credit
statements its partner lenders ask for. Read-only, a handful of index-backed queries, no
scheme data: counts, ages in seconds and job names only.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from civicpoints.credit.keys import schemes_signable
from civicpoints.credit.models import Lender, LenderStatus
from civicpoints.ledger.models import ChainLink, Posting
from civicpoints.ops.models import Heartbeat, JobState
from civicpoints.ops.scheduler import HEARTBEAT, JOBS


def _age(then: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if then is None else round(max((now - then).total_seconds(), 0.0), 1)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def follower_lag(now: dt.datetime) -> dict[str, Any]:
    """Postings above the highest chained one (the follower works in id order) and the age of
    the oldest of them: two queries on unique indexes, however long the ledger."""
    head = ChainLink.objects.aggregate(last=Max("posting_id"))["last"] or 0
    behind = Posting.objects.filter(pk__gt=head).aggregate(n=Count("pk"), oldest=Min("created_at"))
    return {"postings": behind["n"], "oldest_age_seconds": _age(behind["oldest"], now)}


def task_queue(now: dt.datetime) -> dict[str, Any] | None:
    """Tasks ready to run and how long the oldest has waited (a stopped worker shows here)."""
    from django_tasks import default_task_backend
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    if not isinstance(default_task_backend, DatabaseBackend):
        return None
    ready = DBTaskResult.objects.ready().aggregate(n=Count("pk"), oldest=Min("enqueued_at"))
    return {"ready": ready["n"], "oldest_age_seconds": _age(ready["oldest"], now)}


def statement_signing() -> dict[str, Any]:
    """Schemes with a partner lender (active) whose statements this server cannot sign: no
    active key, or its private half not in ``STATEMENT_KEY_DIR`` here (a node deployed without
    the key files). The lender then gets 503 ``signing_unavailable`` (docs/credit.md)."""
    schemes = set(
        Lender.objects.filter(status=LenderStatus.ACTIVE).values_list("scheme_id", flat=True)
    )
    missing = len(schemes - schemes_signable(schemes))
    return {"schemes_with_lenders": len(schemes), "cannot_sign": missing, "ok": not missing}


def jobs(now: dt.datetime) -> dict[str, Any]:
    states = {s.name: s for s in JobState.objects.filter(name__in=[j.name for j in JOBS])}
    out = {}
    for job in JOBS:
        state = states.get(job.name) or JobState(name=job.name)
        success_age = _age(state.last_success_at, now)
        out[job.name] = {
            "last_success_at": _iso(state.last_success_at),
            "last_success_age_seconds": success_age,
            "last_error_at": _iso(state.last_error_at),
            "last_error": state.last_error or None,
            "runs": state.runs,
            "failures": state.failures,
            "overdue": success_age is None or success_age > job.overdue_after,
        }
    return out


def health(now: dt.datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Unhealthy: the database does not answer, or the scheduler's
    heartbeat is older than ``HEALTH_SCHEDULER_MAX_AGE``. A failing or overdue job, a lagging
    follower, a waiting queue or a missing signing key is reported, not unhealthy: taking
    every web node out of the load balancer would not help a settlement that fails."""
    now = now or timezone.now()
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        db_ms = round((time.monotonic() - started) * 1000, 1)
        beat = Heartbeat.objects.filter(name=HEARTBEAT).values_list("beat_at", flat=True).first()
        report: dict[str, Any] = {
            "database": {"ok": True, "ms": db_ms},
            "scheduler": {},
            "follower": follower_lag(now),
            "jobs": jobs(now),
            "tasks": task_queue(now),
            "signing": statement_signing(),
        }
    except DatabaseError:
        return False, {"status": "unavailable", "database": {"ok": False}}
    max_age = settings.HEALTH_SCHEDULER_MAX_AGE
    beat_age = _age(beat, now)
    beat_ok = not max_age or (beat_age is not None and beat_age <= max_age)
    report["scheduler"] = {
        "heartbeat_age_seconds": beat_age,
        "max_age_seconds": max_age,
        "ok": beat_ok,
    }
    return beat_ok, {"status": "ok" if beat_ok else "unavailable", **report}
