"""/healthz for a load balancer: 200 with the report when healthy; 503 when the scheduler's
heartbeat is too old or the database is away; no login, no private data."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.credit.keys import signing_key_create
from civicpoints.ledger.chain import chain_follow
from civicpoints.ops.models import Heartbeat
from civicpoints.ops.scheduler import JOBS, beat, run_jobs_once
from civicpoints.schemes.models import Role
from tests.credit.conftest import make_lender
from tests.factories import fund, make_household, make_staff

pytestmark = pytest.mark.django_db


def _get() -> tuple[int, dict, dict]:
    response = Client().get("/healthz")
    return response.status_code, json.loads(response.content), response.headers


def test_healthy_after_a_scheduler_round_reports_every_job(world):
    # Given a household with one posting the follower has not chained yet
    household = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    fund(household, 12_700)
    beat()

    status, body, _ = _get()

    assert status == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["scheduler"]["ok"] is True
    assert body["scheduler"]["heartbeat_age_seconds"] < 5
    assert body["follower"]["postings"] == 1
    assert body["follower"]["oldest_age_seconds"] is not None
    assert set(body["jobs"]) == {job.name for job in JOBS}
    assert all(job["overdue"] and job["runs"] == 0 for job in body["jobs"].values())

    # When the scheduler goes round once
    done = run_jobs_once()

    # Then every job's success is in the database, and the follower caught up
    assert done["chain_follow"] == 1
    status, body, _ = _get()
    assert status == 200
    assert body["follower"] == {"postings": 0, "oldest_age_seconds": None}
    for job in body["jobs"].values():
        assert job["runs"] == 1
        assert job["failures"] == 0
        assert job["last_success_age_seconds"] < 60
        assert job["overdue"] is False
    # Nothing private: no phone, no name, no scheme data.
    text = json.dumps(body, ensure_ascii=False)
    # (Not "139" alone: an age such as 0.1391 seconds holds it; the phone, whole or masked, not)
    assert "13912345678" not in text and "139****5678" not in text and "王秀英" not in text


def test_no_login_needed_and_nothing_cached(world):
    beat()
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert Client().post("/healthz").status_code == 405


def test_a_stale_heartbeat_is_503(world, settings):
    settings.HEALTH_SCHEDULER_MAX_AGE = 120
    Heartbeat.objects.create(name="scheduler", beat_at=timezone.now() - dt.timedelta(minutes=3))

    status, body, headers = _get()

    assert status == 503
    assert headers["Retry-After"] == "10"
    assert body["status"] == "unavailable"
    assert body["scheduler"]["ok"] is False
    assert body["scheduler"]["heartbeat_age_seconds"] >= 180
    assert body["database"]["ok"] is True


def test_no_heartbeat_at_all_is_503_unless_the_check_is_off(world, settings):
    status, body, _ = _get()
    assert status == 503
    assert body["scheduler"]["heartbeat_age_seconds"] is None

    settings.HEALTH_SCHEDULER_MAX_AGE = 0  # a web-only node: the scheduler is watched elsewhere
    status, body, _ = _get()
    assert status == 200


def test_a_failing_job_is_reported_not_unhealthy(world, monkeypatch):
    from civicpoints.ops import scheduler

    def broken() -> int:
        raise RuntimeError("settlement bank file 13912345678")  # text must not leak

    failing = scheduler.Job("settle_due", broken, every=60.0)
    monkeypatch.setattr(
        scheduler, "JOBS", [failing if j.name == "settle_due" else j for j in scheduler.JOBS]
    )
    run_jobs_once()

    status, body, _ = _get()
    assert status == 200
    job = body["jobs"]["settle_due"]
    assert job["failures"] == 1
    assert job["last_error"] == "RuntimeError"
    assert job["last_success_at"] is None
    assert job["overdue"] is True
    assert "13912345678" not in json.dumps(body)
    assert body["jobs"]["chain_follow"]["failures"] == 0
    assert body["jobs"]["chain_follow"]["last_success_at"] is not None


def test_follower_lag_counts_postings_above_the_chained_head(world):
    household = make_household(world.scheme, world.village_a1)
    fund(household, 100)
    chain_follow(scheme_id=world.scheme.pk)
    fund(household, 200)
    fund(household, 300)
    beat()

    _, body, _ = _get()

    assert body["follower"]["postings"] == 2


def test_a_partner_lender_without_a_signing_key_here_is_reported(world, tmp_path, settings):
    # Given a production-like node: key files, none of them here yet
    settings.STATEMENT_KEYS_DERIVED = False
    settings.STATEMENT_KEY_DIR = tmp_path / "keys"
    beat()
    _, body, _ = _get()
    assert body["signing"] == {"schemes_with_lenders": 0, "cannot_sign": 0, "ok": True}

    # When the county registers a partner lender before any key exists
    admin = make_staff("xian-admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    make_lender(world, admin)
    status, body, _ = _get()

    # Then the node stays in the load balancer, and says it cannot sign
    assert status == 200 and body["status"] == "ok"
    assert body["signing"] == {"schemes_with_lenders": 1, "cannot_sign": 1, "ok": False}

    # A key made on this node mends it; the key's file lost (a node deployed without the key
    # directory) breaks it again
    key = signing_key_create(scheme=world.scheme)
    assert _get()[1]["signing"]["ok"] is True
    (tmp_path / "keys" / f"{key.kid}.pem").unlink()
    assert _get()[1]["signing"] == {"schemes_with_lenders": 1, "cannot_sign": 1, "ok": False}
