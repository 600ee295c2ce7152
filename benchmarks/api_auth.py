"""Bearer authentication of an API request: CPU and queries against an unauthenticated floor.

    .venv/bin/civicpoints bench api-auth [--requests 3000] [--rounds 3] [--grants 3]
        [--sqlite] [--database-url URL] [--keep] [--json]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench_api_auth``; the name must contain
   ``bench``; or a SQLite file in a temporary directory with ``--sqlite``), migrates it and
   loads a county, one member of staff with ``--grants`` role grants (county admin, auditor,
   village admin, ...) and a bearer token, and one household with a resident token.
2. Runs the product in this process as the production server runs it (``CIVICPOINTS_ENV=
   production``, ``DEBUG`` off, the connection pool on, ``CIVICPOINTS_BENCH=1`` which mounts the
   two operations of ``api/bench.py``), calling Django's WSGI handler the way gunicorn does:
   whole middleware stack, ninja, the response closed (the connection goes back to the pool).
3. Phases, in turn, for ``--rounds`` rounds: ``floor`` (``GET /api/v1/bench/floor``, no
   authentication, no database), ``db`` (``GET /api/v1/bench/db``, no authentication, one
   ``SELECT 0``: a connection from the pool and one round trip), ``staff`` (``GET /api/v1/bench/auth`` with the staff token)
   and ``resident`` (the same with the resident token); each ``--requests`` requests after
   ``--warmup`` not counted. Every answer must be 200.
4. Prints, per round and phase: CPU ms per request of this process (Python) and of the
   PostgreSQL backends of the database (from /proc; 0 on SQLite), their sum, and the SQL
   queries per request that Django sent and the Python function calls per request (both
   counted in separate passes, so counting costs no time in the measured ones; the calls do
   not change with the load on the machine); then each authenticated phase minus the floor.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from typing import Any

import _pg

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PHASES = ("floor", "db", "staff", "resident")
PATHS = {
    "floor": "/api/v1/bench/floor",
    "db": "/api/v1/bench/db",
    "staff": "/api/v1/bench/auth",
    "resident": "/api/v1/bench/auth",
}
ROLES = ("county_admin", "auditor", "village_admin", "grid_worker", "store_clerk", "merchant_clerk")


# --------------------------------------------------------------------------- PostgreSQL's CPU


def _backend_ticks(db: str | None) -> int:
    """CPU clock ticks so far of the PostgreSQL backends connected to ``db`` on this machine."""
    if db is None:
        return 0
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace").replace("\0", " ")
            if not cmd.startswith("postgres: ") or f" {db} " not in cmd:
                continue
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total


# --------------------------------------------------------------------------- set-up


def _environment(ns: argparse.Namespace, var_dir: str) -> dict[str, str]:
    env = (
        _pg.bench_env(ns.database_url)
        if not ns.sqlite
        else {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CIVICPOINTS_TESTING")
        }
    )
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "civicpoints.settings",
            "CIVICPOINTS_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "CIVICPOINTS_DB_POOL": "1",
            "CIVICPOINTS_BENCH": "1",
            "CIVICPOINTS_VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
        }
    )
    if ns.sqlite:
        env["SQLITE_PATH"] = os.path.join(var_dir, "bench.sqlite3")
    return env


def _load(grants: int) -> dict[str, str]:
    from civicpoints.households.models import Household
    from civicpoints.households.services import (
        NewHousehold,
        households_bulk_create,
        resident_token_create,
    )
    from civicpoints.schemes.models import User
    from civicpoints.schemes.services import api_token_issue, role_grant

    scheme, county, villages = _pg.county(townships=2, villages_each=2)
    user = User.objects.create_user(username="bench-staff", password=secrets.token_urlsafe(16))
    for i in range(grants):
        role = ROLES[i % len(ROLES)]
        region = county if role in ("county_admin", "auditor") else villages[i % len(villages)]
        role_grant(user=user, scheme=scheme, region=region, role=role)
    staff_token, _row = api_token_issue(user=user)
    [household_id] = households_bulk_create(
        actor_id=None,
        scheme=scheme,
        rows=[NewHousehold(village_id=villages[0].pk, head_name="压测户")],
    )
    resident_token, _r = resident_token_create(household=Household.objects.get(pk=household_id))
    return {"staff": staff_token, "resident": resident_token}


# --------------------------------------------------------------------------- requests


def _environ(path: str, token: str | None) -> dict[str, Any]:
    """What gunicorn hands Django for a keep-alive GET from a client."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "application/json",
        "HTTP_USER_AGENT": "bench-api-auth",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return environ


def _requests(handler: Any, environ: dict[str, Any], count: int) -> None:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    for _ in range(count):
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(b"")
        result = handler(env, start_response)
        body = b"".join(result)
        result.close()  # request_finished: the connection goes back to the pool
        if statuses[-1][:3] != "200":
            raise RuntimeError(f"{environ['PATH_INFO']} answered {statuses[-1]}: {body[:300]!r}")
        statuses.clear()


def _queries(handler: Any, environ: dict[str, Any], count: int) -> float:
    from django.db import connection

    seen: list[str] = []

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        _requests(handler, environ, count)
    return len(seen) / count


def _calls(handler: Any, environ: dict[str, Any], count: int) -> float:
    """Python function calls per request (cProfile): the same on a busy machine as a quiet one."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    _requests(handler, environ, count)
    profile.disable()
    return pstats.Stats(profile).total_calls / count  # type: ignore[attr-defined,no-any-return]


def run(ns: argparse.Namespace) -> dict[str, Any]:
    var_dir = tempfile.mkdtemp(prefix="civicpoints-bench-api-auth-")
    env = _environment(ns, var_dir)
    db = None if ns.sqlite else _pg.db_name(ns.database_url)
    if not ns.sqlite:
        _pg.log(f"creating {db}")
        _pg.create_db(ns.database_url)
    try:
        _pg.log("migrating")
        _pg.migrate(env)
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(_pg.REPO / "src"))
        import django

        django.setup()
        tokens = _load(ns.grants)
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connections

        connections.close_all()
        handler = WSGIHandler()
        environs = {
            "floor": _environ(PATHS["floor"], None),
            "db": _environ(PATHS["db"], None),
            "staff": _environ(PATHS["staff"], tokens["staff"]),
            "resident": _environ(PATHS["resident"], tokens["resident"]),
        }
        for phase in PHASES:
            _requests(handler, environs[phase], ns.warmup)
        queries = {phase: round(_queries(handler, environs[phase], 200), 3) for phase in PHASES}
        calls = {phase: round(_calls(handler, environs[phase], 200)) for phase in PHASES}
        load_before = round(os.getloadavg()[0], 1)
        rounds = []
        for r in range(ns.rounds):
            row: dict[str, Any] = {}
            for phase in PHASES:
                ticks0 = _backend_ticks(db)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                _requests(handler, environs[phase], ns.requests)
                cpu1, wall1 = time.process_time(), time.perf_counter()
                ticks1 = _backend_ticks(db)
                python = (cpu1 - cpu0) * 1000 / ns.requests
                server = (ticks1 - ticks0) / CLK_TCK * 1000 / ns.requests
                row[phase] = {
                    "python_ms": round(python, 3),
                    "postgres_ms": round(server, 3),
                    "cpu_ms": round(python + server, 3),
                    "wall_ms": round((wall1 - wall0) * 1000 / ns.requests, 3),
                    "queries": queries[phase],
                    "calls": calls[phase],
                }
            rounds.append(row)
            _pg.log(f"round {r + 1}: " + ", ".join(f"{p} {row[p]['cpu_ms']} ms" for p in PHASES))
        connections.close_all()
        return {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_before": load_before,
                "load_after": round(os.getloadavg()[0], 1),
            },
            "database": "sqlite" if ns.sqlite else db,
            "grants": ns.grants,
            "requests_per_phase": ns.requests,
            "rounds": rounds,
        }
    finally:
        if not ns.sqlite and not ns.keep:
            _pg.drop_db(ns.database_url)


def _table(r: dict[str, Any]) -> str:
    lines = [
        f"database {r['database']}, staff with {r['grants']} grants, {r['requests_per_phase']} "
        f"requests per phase, load {r['machine']['load_before']} -> {r['machine']['load_after']}",
        "",
        f"{'round':<6}{'phase':<10}{'python ms':>10}{'pg ms':>8}{'cpu ms':>8}{'wall ms':>9}"
        f"{'queries':>9}{'py calls':>10}",
    ]
    for i, row in enumerate(r["rounds"], 1):
        for phase, v in row.items():
            lines.append(
                f"{i:<6}{phase:<10}{v['python_ms']:>10.3f}{v['postgres_ms']:>8.3f}"
                f"{v['cpu_ms']:>8.3f}{v['wall_ms']:>9.3f}{v['queries']:>9}{v['calls']:>10}"
            )
        floor = row["floor"]["cpu_ms"]
        for phase in ("db", "staff", "resident"):
            extra = row[phase]["cpu_ms"] - floor
            lines.append(
                f"{'':<6}{phase} - floor: +{extra:.3f} cpu ms per request "
                f"({row[phase]['cpu_ms'] / floor:.2f} x the floor)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per phase")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grants", type=int, default=3, help="role grants of the staff user")
    parser.add_argument("--database-url", default=_pg.default_url("civicpoints_bench_api_auth"))
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args(argv)
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
