"""Issue 9 item 9 against a real restart: a private PostgreSQL cluster (started here in a
temporary directory, never the shared server) is restarted and stopped under a process that
uses the production connection pool. Pooled connections are checked before use, so the
first request after a restart succeeds; while the server is down requests get 503 with
Retry-After; once it is back they succeed again."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CHILD = Path(__file__).with_name("_pool_child.py")
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture
def cluster(postgres_only):
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries not installed")
    # Not under pytest's tmp_path: its parent is private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="civicpoints-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"

    def pg_ctl(action: str, *args: str) -> None:
        # The server's output goes to a log file: a pipe it inherited would never close.
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "30", "-o", opts]
        subprocess.run(
            _as_postgres(*cmd, "-l", str(data / "log"), *args, action),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    pg_ctl("start")
    try:
        yield port, pg_ctl
    finally:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


def test_pool_survives_a_restart_and_answers_503_while_down(cluster):
    port, pg_ctl = cluster
    env = {k: v for k, v in os.environ.items() if k not in {"CIVICPOINTS_TESTING", "DATABASE_URL"}}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/postgres",
        CIVICPOINTS_DB_POOL="1",
        CIVICPOINTS_DB_POOL_MIN="1",
        CIVICPOINTS_DB_POOL_MAX="2",
        CIVICPOINTS_DB_POOL_TIMEOUT="2",
        DEBUG="0",
        PYTHONPATH=str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", ""),
    )
    child = subprocess.Popen(
        [sys.executable, str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )

    def ask(command: str) -> dict:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(command + "\n")
        child.stdin.flush()
        return json.loads(child.stdout.readline())

    try:
        assert child.stdout is not None
        assert json.loads(child.stdout.readline()) == {"pool": True}
        assert ask("query") == {"ok": True}  # a connection now sits in the pool

        pg_ctl("restart", "-m", "fast")  # the pooled connection is dead now
        assert ask("query") == {"ok": True}  # checked before use: replaced, not failed

        pg_ctl("stop", "-m", "fast")
        assert ask("requests") == {
            "api": [503, "10", "service_unavailable"],
            "page": [503, "10"],
        }

        pg_ctl("start")
        # The pool reconnects by itself (its retries back off): no restart of the app needed.
        answers = [ask("query")]
        while answers[-1] != {"ok": True} and len(answers) < 10:
            answers.append(ask("query"))
        assert answers[-1] == {"ok": True}
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
