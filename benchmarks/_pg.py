"""What the benchmark scripts share: a throw-away PostgreSQL database, the environment the
product runs with in production (no DEBUG, no pool), migrating it, a small county, and the
production server started on it.

Scripts run as ``python benchmarks/<name>.py``, so this module is importable as ``_pg``.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent


def db_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def default_url(name: str) -> str:
    """``BENCH_DATABASE_URL``, else the server of ``DATABASE_URL``, else local, with ``name``."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return db_url(os.environ["DATABASE_URL"], name)
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def admin_sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(conninfo(db_url(url, "postgres")), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)  # type: ignore[arg-type]


def create_db(url: str) -> None:
    name = db_name(url)
    if "bench" not in name:
        raise SystemExit(
            f"refusing to recreate {name!r}: a benchmark database name contains 'bench'"
        )
    admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    warn_replicas(url)


def warn_replicas(url: str) -> None:
    """Say so when a streaming replica is attached (the test suite's, on port 5433): its WAL
    sender and its replay are PostgreSQL processes too, and on two cores they take CPU from the
    run and add to the server's CPU per operation."""
    import psycopg

    with psycopg.connect(conninfo(db_url(url, "postgres")), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_replication").fetchone()
    if row and row[0]:
        log(
            f"WARNING: {row[0]} streaming replica(s) attached; their WAL replay competes with "
            "this run. For figures comparable with docs/performance.md stop it first "
            "(pg_ctlcluster --skip-systemctl-redirect <version> replica stop)."
        )


def drop_db(url: str) -> None:
    admin_sql(url, f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)')


def bench_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "civicpoints.settings",
            "CIVICPOINTS_DB_POOL": "0",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.pop("CIVICPOINTS_TESTING", None)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "civicpoints.cli", "migrate", "--no-input"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def django_here(url: str) -> None:
    """Set this process up as the product would run against ``url``."""
    os.environ.update(bench_env(url))
    sys.path.insert(0, str(REPO / "src"))
    import django

    django.setup()


def start_server(
    base_env: dict[str, str],
    *,
    port: int,
    workers: int,
    threads: int,
    var_dir: str,
    task_worker: bool = False,
) -> subprocess.Popen[bytes]:
    """The production server at 127.0.0.1:``port`` with ``base_env`` (``bench_env(url)``, or a
    script's own for SQLite): ``civicpoints serve`` (gunicorn
    ``workers`` x ``threads``, no scheduler, the task worker only if asked), ``DEBUG`` off, the
    connection pool on, plain HTTP, and ``CIVICPOINTS_BENCH=1`` for the floors. Returns once it
    answers; stop it with ``stop_server``."""
    env = {
        **base_env,
        "CIVICPOINTS_ENV": "production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "COOKIES_SECURE": "0",
        "CIVICPOINTS_DB_POOL": "1",
        "CIVICPOINTS_BENCH": "1",
        "CIVICPOINTS_VAR_DIR": var_dir,
    }
    cmd = [
        sys.executable, "-m", "civicpoints.cli", "serve", "--no-scheduler",
        *([] if task_worker else ["--no-worker"]),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--threads", str(threads),
    ]  # fmt: skip
    log("starting the production server: " + " ".join(cmd[3:]))
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(port, server)
    except BaseException:
        stop_server(server)
        raise
    return server


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/bench/floor/")
            if conn.getresponse().status in (200, 302):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not start")


def stop_server(server: subprocess.Popen[bytes], *, timeout: int = 30) -> None:
    """Stop a server started in its own process group; kill it if it will not stop."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def log(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def county(*, townships: int = 4, villages_each: int = 5) -> tuple[Any, Any, list[Any]]:
    """A scheme over a county with ``townships`` x ``villages_each`` villages."""
    from civicpoints.schemes.models import RegionLevel
    from civicpoints.schemes.services import region_create, scheme_create

    province = region_create(code="220000000000", name="吉林省", level=RegionLevel.PROVINCE)
    city = region_create(
        code="220800000000", name="白城市", level=RegionLevel.CITY, parent=province
    )
    county_region = region_create(
        code="220822000000", name="通榆县", level=RegionLevel.COUNTY, parent=city
    )
    villages = []
    for t in range(townships):
        township = region_create(
            code=f"220822{100 + t:03d}000",
            name=f"测试镇{t}",
            level=RegionLevel.TOWNSHIP,
            parent=county_region,
        )
        for v in range(villages_each):
            villages.append(
                region_create(
                    code=f"220822{100 + t:03d}{200 + v:03d}",
                    name=f"测试村{t}-{v}",
                    level=RegionLevel.VILLAGE,
                    parent=township,
                )
            )
    scheme = scheme_create(name="压测方案", operator_region=county_region)
    return scheme, county_region, villages


def funded_households(scheme: Any, villages: list[Any], count: int, points: int) -> list[int]:
    """``count`` households spread over the villages, each given ``points`` hundredths."""
    from civicpoints.households.models import Household
    from civicpoints.households.services import NewHousehold, households_bulk_create
    from civicpoints.ledger.models import Account, AccountKind
    from civicpoints.ledger.services import Award, post_awards, system_account

    rows = [
        NewHousehold(village_id=villages[i % len(villages)].pk, head_name=f"压测户{i}")
        for i in range(count)
    ]
    ids = households_bulk_create(actor_id=None, scheme=scheme, rows=rows)
    issuance = system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE)
    accounts = Account.objects.in_bulk(
        list(Household.objects.filter(pk__in=ids).values_list("account", flat=True))
    )
    post_awards(
        scheme_id=scheme.pk,
        issuance=issuance,
        awards=[
            Award(account=a, amount=points, idempotency_key=f"bench:fund:{a.pk}")
            for a in accounts.values()
        ],
    )
    return ids


def pgbench(url: str, *, clients: int, seconds: int, scale: int = 8) -> dict[str, Any]:
    """pgbench TPC-B on a sibling database ``<name>_pgbench`` (created, then dropped)."""
    import re
    import shutil

    target = db_url(url, db_name(url) + "_pgbench")
    create_db(target)
    exe = shutil.which("pgbench") or "/usr/bin/pgbench"
    parts = urlsplit(target)
    conn = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        conn += ["-U", parts.username]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    try:
        subprocess.run(
            [exe, *conn, "-i", "-q", "-s", str(scale), db_name(target)],
            env=env,
            check=True,
            capture_output=True,
        )
        admin_sql(target, "CHECKPOINT")
        options = [
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-M",
            "prepared",
        ]
        out = subprocess.run(
            [exe, *conn, *options, db_name(target)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
        latency = re.search(r"latency average = ([\d.]+) ms", out)
        return {
            "tps": round(tps, 1),
            "latency_avg_ms": float(latency.group(1)) if latency else None,
            "command": f"pgbench -i -s {scale}; pgbench {' '.join(options)}",
        }
    finally:
        drop_db(target)
