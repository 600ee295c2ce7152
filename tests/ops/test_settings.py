"""Settings: production mode passes Django's deploy checks; SQLite runs WAL + IMMEDIATE."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection


def test_check_deploy_has_no_warnings(tmp_path):
    dropped = {"DATABASE_URL", "CIVICPOINTS_TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        CIVICPOINTS_ENV="production",
        SECRET_KEY="x" * 20 + "Q7#kP2@vL9$mN4&bR8*tW1!zC6^hJ3%d",
        ALLOWED_HOSTS="points.example.gov.cn",
        FIELD_ENCRYPTION_KEYS="uJ8Zq6r0eM7cV3yK1sB9wT4nL2xP5aD8fG0hJ6kQ1mE=",
        CIVICPOINTS_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-m", "civicpoints.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_a_missing_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CIVICPOINTS_TESTING"}}
    env.update(CIVICPOINTS_ENV="production", CIVICPOINTS_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "civicpoints.cli", "check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_sqlite_runs_wal_and_immediate(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.transaction_mode == "IMMEDIATE"
