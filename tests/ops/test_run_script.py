"""scripts/run as a newcomer uses it: fresh database, demo county, server up, login, Ctrl-C."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"scripts/run exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@pytest.fixture
def fresh_database(tmp_path):
    """A SQLite file, or a new PostgreSQL database in the PostgreSQL pass."""
    # Not the test run's replica either: it replicates other databases than this new one.
    skipped = {"CIVICPOINTS_TESTING", "DATABASE_URL", "DATABASE_REPLICA_URL"}
    env = {k: v for k, v in os.environ.items() if k not in skipped}
    env["CIVICPOINTS_VAR_DIR"] = str(tmp_path)
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        import psycopg

        name = f"cp_run_{os.getpid()}_{secrets.token_hex(3)}"
        base = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"{base}/{name}"
        yield env
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        env["SQLITE_PATH"] = str(tmp_path / "fresh.sqlite3")
        yield env


@pytest.mark.slow
def test_scripts_run_starts_serves_and_stops_cleanly(fresh_database):
    port = _free_port()
    password = "pw-" + secrets.token_hex(6)
    env = dict(fresh_database, HOST="127.0.0.1", PORT=str(port), DEMO_PASSWORD=password)
    env["DEMO_HOUSEHOLDS"] = "50"
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        home = _wait_for(base + "/", proc).decode()
        assert "文明积分" in home
        schema = _wait_for(base + "/api/openapi.json", proc)
        assert b'"/api/v1/auth/token"' in schema

        # Log in on the staff page as county-admin with the password scripts/run was given.
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urlencode(
            {"csrfmiddlewaretoken": token, "username": "county-admin", "password": password}
        ).encode()
        request = urllib.request.Request(base + "/login/", data=form, headers={"Referer": base})
        after = opener.open(request).read().decode()
        assert "县文明办管理员" in after and "县级管理员" in after
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            raise AssertionError("scripts/run did not stop on SIGINT:\n" + output) from None
    assert proc.returncode == 0, output
    assert "county-admin" in output and password in output
    assert f"http://127.0.0.1:{port}/" in output
    assert "civicpoints 已停止" in output
