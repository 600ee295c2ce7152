"""Ledger throughput on PostgreSQL, measured against pgbench on the same server in one run.

    .venv/bin/python benchmarks/ledger_throughput.py [--households 2000] [--workers 8]
        [--rounds 3] [--duration 15] [--floor-duration 8] [--hot-duration 10]
        [--pg-seconds 15] [--json] [--keep]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench``, else
   ``postgres://postgres@127.0.0.1:5432/civicpoints_bench``), migrates it with
   ``civicpoints migrate`` and loads a scheme, a region tree and N households
   (``households_bulk_create``), each funded through ``post()``.
2. Three rounds (``--rounds``) of, back to back:
   - pgbench TPC-B: ``pgbench -c 8 -j 2 -T 15 -M prepared`` on a sibling database
     ``<name>_pgbench`` (``pgbench -i -s 8`` once);
   - ``award``: award-shaped postings (issuance -> a household, with idempotency key, memo and
     ref) through ``ledger.services.post()`` from W worker *processes* (one connection each,
     no pool) for a fixed time; each worker owns a distinct slice of the households;
   - ``floor``: the same processes each send ``SELECT %s::bigint``, prepared, through the same
     kind of psycopg cursor as ``post()``: one round trip from Python with nothing in it, the
     honest floor of any posting that is one round trip.
   Each round's ratios are taken within the round; the summary prints their medians.
3. (see 2.)
4. ``hot-one`` / ``hot-many``: the same workers move points from their households into ONE store
   account, then into W different store accounts (one per worker).
5. ``award-sql``: the exact statements ``post()`` sends for an award, replayed by pgbench
   (``-f``, W clients, ``-M prepared``) against the ledger database: the database's share of
   the cost without Python.
6. Prints postings/s, pgbench TPS, the ratio by CPU per operation (goal >= 0.6), the same
   ratio for the floor, award over floor, and the hot-account ratio one/W (goal >= 0.9). Both databases are dropped at the end unless ``--keep``.

Every phase starts with a CHECKPOINT and an uncounted warm-up. Workers run with ``DEBUG=0`` and
``CIVICPOINTS_DB_POOL=0``: one plain connection per process.

CPU accounting (Linux, server on this machine): the machine may be shared, so throughput alone
is noisy. Each phase also reports CPU milliseconds per posting/transaction: the client side
(the worker processes' own CPU, or pgbench's) plus the server side (the backends connected to
the phase's database and the server's shared processes, sampled from /proc; other databases'
backends are left out), how busy the whole machine was and which share of it the phase used.
On a CPU-bound machine throughput is roughly cores / CPU-per-operation, so
``cpu_ratio_vs_pgbench`` (pgbench's CPU per transaction over the ledger's CPU per posting) is
what the throughput ratio would be with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _pg
from _pg import admin_sql as _admin_sql
from _pg import bench_env as _bench_env
from _pg import create_db as _create_db
from _pg import db_name as _db_name
from _pg import db_url as _db_url
from _pg import drop_db as _drop_db
from _pg import log as _log

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/civicpoints_bench"
FUND = 10_000_000  # hundredths of a point given to every household before the run
AWARD = 4500  # "志愿服务 3小时": 45 points
SPEND = 100  # 1 point per redemption in the hot-account case
MEMO_AWARD = "志愿服务 3小时"
MEMO_REDEEM = "爱心超市兑换"


# --------------------------------------------------------------------------- databases


def _checkpoint(url: str) -> None:
    _admin_sql(url, "CHECKPOINT")


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cmdline(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").replace("\0", " ")
    except OSError:
        return None


class ServerCpu:
    """CPU seconds the PostgreSQL server spends for one database, sampled from /proc.

    Counts the client backends connected to that database (a sampler thread every 0.1 s keeps
    the last value of backends that exit, such as pgbench's) and the server's shared processes
    (WAL writer, checkpointer, background writer, autovacuum of that database), but not the
    backends of other databases: the machine may be shared. Works only when the server runs
    on this machine and /proc is readable; otherwise ``postmaster`` is None.
    """

    def __init__(self, backend_pid: int) -> None:
        fields = _stat(backend_pid)
        self.postmaster = int(fields[1]) if fields else None
        self._cmd: dict[int, str | None] = {}

    def _scan(self, db: str) -> dict[int, tuple[str, int]]:
        found: dict[int, tuple[str, int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            fields = _stat(pid)
            if fields is None or int(fields[1]) != self.postmaster:
                continue
            if pid not in self._cmd:
                self._cmd[pid] = _cmdline(pid)
            cmd = self._cmd[pid] or ""
            if "(" in cmd or "[local]" in cmd:
                kind = "backends" if f" {db} " in cmd else ""
            elif "autovacuum worker" in cmd:
                kind = "shared" if cmd.rstrip().endswith(f" {db}") else ""
            else:
                kind = "shared"
            if kind:
                found[pid] = (kind, int(fields[11]) + int(fields[12]))
        return found

    def start(self, db: str) -> None:
        self._db = db
        self._first = self._scan(db)
        self._last = dict(self._first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._last.update(self._scan(self._db))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._last.update(self._scan(self._db))
        totals = {"backends": 0.0, "shared": 0.0}
        for pid, (kind, ticks) in self._last.items():
            before = self._first.get(pid, (kind, 0))[1]
            totals[kind] += (ticks - before) / CLK_TCK
        return totals


def _machine() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    return sum(values) - values[3] - values[4], sum(values)


def _busy(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


def _cpu_fields(
    ops: int, seconds: float, client: float, server: dict[str, float] | None
) -> dict[str, Any]:
    def ms(value: float) -> float | None:
        return round(1000 * value / ops, 3) if ops else None

    out: dict[str, Any] = {
        "client_cpu_ms_per_op": ms(client),
        "server_cpu_ms_per_op": None,
        "server_backend_cpu_ms_per_op": None,
        "cpu_ms_per_op": None,
        "own_share_of_machine": None,
    }
    if server is not None:
        total = server["backends"] + server["shared"]
        out["server_cpu_ms_per_op"] = ms(total)
        out["server_backend_cpu_ms_per_op"] = ms(server["backends"])
        out["cpu_ms_per_op"] = ms(client + total)
        out["own_share_of_machine"] = round((client + total) / (seconds * (os.cpu_count() or 1)), 3)
    return out


# --------------------------------------------------------------------------- setup (parent)


def _setup(households: int, workers: int) -> dict[str, Any]:
    """Scheme, regions, households and their funding; returns the ids the workers need."""
    from django.db import connections

    from civicpoints.households.models import Household
    from civicpoints.households.services import NewHousehold, households_bulk_create
    from civicpoints.ledger.models import Account, AccountKind, PostingKind
    from civicpoints.ledger.services import Leg, post, system_account
    from civicpoints.schemes.models import RegionLevel
    from civicpoints.schemes.services import region_create, scheme_create

    province = region_create(code="220000000000", name="吉林省", level=RegionLevel.PROVINCE)
    city = region_create(
        code="220800000000", name="白城市", level=RegionLevel.CITY, parent=province
    )
    county = region_create(
        code="220822000000", name="通榆县", level=RegionLevel.COUNTY, parent=city
    )
    villages = []
    for t in range(4):
        township = region_create(
            code=f"220822{100 + t:03d}000",
            name=f"测试镇{t}",
            level=RegionLevel.TOWNSHIP,
            parent=county,
        )
        for v in range(5):
            villages.append(
                region_create(
                    code=f"220822{100 + t:03d}{200 + v:03d}",
                    name=f"测试村{t}-{v}",
                    level=RegionLevel.VILLAGE,
                    parent=township,
                )
            )
    scheme = scheme_create(name="压测方案", operator_region=county)
    rows = [
        NewHousehold(village_id=villages[i % len(villages)].pk, head_name=f"压测户{i}")
        for i in range(households)
    ]
    ids = households_bulk_create(actor_id=None, scheme=scheme, rows=rows)
    account_ids = list(
        Household.objects.filter(pk__in=ids).order_by("pk").values_list("account", flat=True)
    )
    issuance = system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE)
    stores = [
        system_account(scheme_id=scheme.pk, kind=AccountKind.STORE, owner_ref=f"store:{i}")
        for i in range(workers)
    ]
    by_id = Account.objects.in_bulk(account_ids)
    for start in range(0, len(account_ids), 100):
        chunk = [by_id[a] for a in account_ids[start : start + 100]]
        post(
            scheme_id=scheme.pk,
            kind=PostingKind.AWARD,
            legs=[Leg(issuance, -FUND * len(chunk)), *(Leg(a, FUND) for a in chunk)],
            memo="压测预存",
            idempotency_key=f"bench:fund:{start}",
        )
    with connections["default"].cursor() as cursor:
        # The visibility map and row counts; no ANALYZE: with autovacuum off no column
        # statistics exist in production either, and no plan may depend on them
        # (docs/performance.md, "Query plans").
        cursor.execute("VACUUM")
    connections.close_all()
    return {
        "scheme_id": scheme.pk,
        "issuance_id": issuance.pk,
        "store_ids": [s.pk for s in stores],
        "account_ids": account_ids,
    }


# --------------------------------------------------------------------------- workers


def _worker(
    index: int, env: dict[str, str], info: dict[str, Any], tasks: Any, results: Any
) -> None:
    """One process, one connection: run the phases the parent sends until told to stop."""
    os.environ.update(env)
    import django

    django.setup()
    import psycopg
    from django.db import connection

    from civicpoints.ledger.models import Account, PostingKind
    from civicpoints.ledger.services import Leg, post
    from civicpoints.prepared import execute_prepared

    scheme_id = info["scheme_id"]
    mine_ids = info["account_ids"][index :: info["workers"]]
    accounts = Account.objects.in_bulk([*mine_ids, info["issuance_id"], *info["store_ids"]])
    mine = [accounts[a] for a in mine_ids]
    issuance = accounts[info["issuance_id"]]
    stores = [accounts[s] for s in info["store_ids"]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    results.put(("ready", index, backend_pid))
    serial = 0
    while True:
        task = tasks.get()
        if task is None:
            break
        phase, start_at, stop_at = task
        store = stores[0] if phase == "hot-one" else stores[index]
        count = 0
        latencies: list[float] = []
        while time.time() < start_at:
            time.sleep(0.001)
        cpu0 = os.times()
        while True:
            account = mine[serial % len(mine)]
            serial += 1
            key = f"bench:{index}:{serial}"
            t0 = time.perf_counter()
            if phase == "floor":
                # One prepared round trip the way post() makes its one: the least any posting
                # from Python can cost on this machine.
                with psycopg.Cursor(connection.connection) as cursor:
                    execute_prepared(cursor, "SELECT %s::bigint", [serial])
                    cursor.fetchone()
            elif phase == "award":
                post(
                    scheme_id=scheme_id,
                    kind=PostingKind.AWARD,
                    legs=[Leg(issuance, -AWARD), Leg(account, AWARD)],
                    memo=MEMO_AWARD,
                    idempotency_key=key,
                    ref=("claim", serial),
                )
            else:
                post(
                    scheme_id=scheme_id,
                    kind=PostingKind.REDEMPTION,
                    legs=[Leg(account, -SPEND), Leg(store, SPEND)],
                    memo=MEMO_REDEEM,
                    idempotency_key=key,
                    ref=("store", store.pk),
                )
            if time.time() > stop_at:
                break
            count += 1
            latencies.append(time.perf_counter() - t0)
        cpu1 = os.times()
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        results.put(("done", index, {"count": count, "latencies": latencies, "cpu": cpu}))
    connection.close()


class Workers:
    def __init__(self, workers: int, env: dict[str, str], info: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.tasks = [ctx.Queue() for _ in range(workers)]
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(i, env, {**info, "workers": workers}, self.tasks[i], self.results),
                daemon=True,
            )
            for i in range(workers)
        ]
        for p in self.procs:
            p.start()
        self.backends = [int(self._get("ready")[1]) for _ in self.procs]
        self.server = ServerCpu(self.backends[0])
        self.db = info["db"]

    def _get(self, expected: str) -> tuple[int, Any]:
        while True:
            try:
                kind, index, payload = self.results.get(timeout=5)
            except Exception:
                dead = [p for p in self.procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"worker exited with {dead[0].exitcode}") from None
                continue
            if kind == expected:
                return index, payload

    def run(self, phase: str, seconds: float) -> dict[str, Any]:
        start_at = time.time() + 0.5
        stop_at = start_at + seconds
        for q in self.tasks:
            q.put((phase, start_at, stop_at))
        while time.time() < start_at:
            time.sleep(0.001)
        machine0 = _machine()
        if self.server.postmaster:
            self.server.start(self.db)
        per_worker = [self._get("done")[1] for _ in self.procs]
        server = self.server.stop() if self.server.postmaster else None
        machine1 = _machine()
        latencies = sorted(x for w in per_worker for x in w["latencies"])
        count = sum(w["count"] for w in per_worker)
        return {
            "postings": count,
            "seconds": seconds,
            "per_second": round(count / seconds, 1),
            "per_worker": [w["count"] for w in per_worker],
            "latency_ms_p50": round(1000 * statistics.median(latencies), 2) if latencies else None,
            "latency_ms_p99": (
                round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2) if latencies else None
            ),
            **_cpu_fields(count, seconds, sum(w["cpu"] for w in per_worker), server),
            "machine_busy": _busy(machine0, machine1),
        }

    def close(self) -> None:
        for q in self.tasks:
            q.put(None)
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


# --------------------------------------------------------------------------- pgbench


def _pgbench_exe() -> str:
    return shutil.which("pgbench") or "/usr/bin/pgbench"


def _pgbench_conn(url: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        args += ["-U", parts.username]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return args, env


def _pgbench_run(url: str, options: list[str], server: ServerCpu | None) -> dict[str, Any]:
    """Run pgbench once; TPS from its output, CPU from its rusage and from /proc."""
    conn, env = _pgbench_conn(url)
    cmd = [_pgbench_exe(), *conn, *options, _db_name(url)]
    if server:
        server.start(_db_name(url))
    machine0 = _machine()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    server_cpu = server.stop() if server else None
    machine1 = _machine()
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    if proc.returncode != 0 or not match or not done:
        raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{out}")
    txns = int(done.group(1))
    seconds = float(options[options.index("-T") + 1])
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    return {
        "command": " ".join(["pgbench", *cmd[1:]]),
        "tps": round(float(match.group(1)), 1),
        "transactions": txns,
        "seconds": seconds,
        "latency_ms_avg": float(latency.group(1)) if latency else None,
        **_cpu_fields(txns, seconds, usage.ru_utime + usage.ru_stime, server_cpu),
        "machine_busy": _busy(machine0, machine1),
    }


def _pgbench_init(url: str, scale: int) -> None:
    conn, env = _pgbench_conn(url)
    cmd = [_pgbench_exe(), *conn, "-i", "-q", "-s", str(scale), _db_name(url)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def _award_sql_script(info: dict[str, Any]) -> str:
    """The statements post() sends for one award (see the module docstring), for pgbench -f."""
    accounts = info["account_ids"]
    lo, hi = min(accounts), max(accounts)
    if hi - lo + 1 != len(accounts):
        raise RuntimeError("household account ids are not contiguous")
    s, iss = info["scheme_id"], info["issuance_id"]
    cols = (
        '"id", "scheme_id", "kind", "idempotency_key", "request_hash", "actor_id", '
        '"created_at", "memo", "reverses_id", "ref_type", "ref_id"'
    )
    return f"""\\set a random({lo}, {hi})
\\set n random(1, 1000000000)
SELECT {cols} FROM "ledger_posting" WHERE ("ledger_posting"."idempotency_key" = 'sql-' || :client_id || '-' || :n AND "ledger_posting"."scheme_id" = {s}) ORDER BY "ledger_posting"."id" ASC LIMIT 1;
BEGIN;
INSERT INTO "ledger_posting" ("scheme_id", "kind", "idempotency_key", "request_hash", "actor_id", "created_at", "memo", "reverses_id", "ref_type", "ref_id") VALUES ({s}, 'award', 'sql-' || gen_random_uuid(), '', NULL, now(), '{MEMO_AWARD}', NULL, 'claim', '1') RETURNING "ledger_posting"."id" \\gset p_
UPDATE ledger_account SET balance = balance + {AWARD}, held = held + 0 WHERE id = :a AND kind = 'household' AND balance + {AWARD} >= held + 0 AND held + 0 >= 0 RETURNING balance \\gset b_
INSERT INTO "ledger_entry" ("scheme_id", "posting_id", "account_id", "amount", "balance_after", "member_id") SELECT * FROM UNNEST(ARRAY[{s}, {s}]::bigint[], ARRAY[:p_id, :p_id]::bigint[], ARRAY[{iss}, :a]::bigint[], ARRAY[-{AWARD}, {AWARD}]::bigint[], ARRAY[NULL, :b_balance]::bigint[], ARRAY[NULL, NULL]::bigint[]) RETURNING "ledger_entry"."id";
COMMIT;
"""


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url
    pg_url = _db_url(url, _db_name(url) + "_pgbench")
    env = _bench_env(url)
    os.environ.update(env)
    started = time.time()
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "households": args.households,
        "workers": args.workers,
    }
    workers: Workers | None = None
    script: str | None = None
    try:
        _log(f"creating {_db_name(url)} and migrating")
        _create_db(url)
        subprocess.run(
            [sys.executable, "-m", "civicpoints.cli", "migrate", "--no-input"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        import django

        django.setup()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            result["machine"]["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SHOW synchronous_commit")
            result["machine"]["synchronous_commit"] = cursor.fetchone()[0]
        _log(f"loading {args.households} households")
        t0 = time.time()
        info = _setup(args.households, args.workers)
        result["setup_seconds"] = round(time.time() - t0, 2)
        info["db"] = _db_name(url)
        workers = Workers(args.workers, env, info)
        server = workers.server if workers.server.postmaster else None

        _log(f"pgbench -i -s {args.scale}")
        _create_db(pg_url)
        _pgbench_init(pg_url, args.scale)
        pg_options = [
            *("-c", str(args.pg_clients), "-j", str(args.pg_threads)),
            *("-T", str(args.pg_seconds), "-M", "prepared"),
        ]
        # Rounds of the reference, the postings and the floor back to back: each ratio is taken
        # within a round (the machine is shared and drifts), the summary gives their medians.
        result["rounds"] = []
        for n in range(1, args.rounds + 1):
            _log(f"round {n}: pgbench TPC-B, {args.pg_clients} clients for {args.pg_seconds} s")
            _checkpoint(pg_url)
            bench = _pgbench_run(pg_url, pg_options, server)
            bench["scale"] = args.scale
            bench["clients"] = args.pg_clients
            one = {"pgbench": bench}
            for phase, seconds in (("award", args.duration), ("floor", args.floor_duration)):
                _checkpoint(url)
                if args.warmup > 0:
                    workers.run(phase, args.warmup)
                _log(f"round {n}: {phase}: {args.workers} workers for {seconds:g} s")
                one[phase] = workers.run(phase, seconds)
            result["rounds"].append(one)
        middle = sorted(
            result["rounds"],
            key=lambda r: r["pgbench"]["cpu_ms_per_op"] / r["award"]["cpu_ms_per_op"],
        )[len(result["rounds"]) // 2]
        result.update(middle)  # the round with the median CPU ratio, for the table's top rows

        phases = [("hot-one", args.hot_duration)]
        phases.append(("hot-many", args.hot_duration))
        for phase, seconds in phases:
            _checkpoint(url)
            if args.warmup > 0:
                workers.run(phase, args.warmup)
            _log(f"{phase}: {args.workers} workers for {seconds:g} s")
            result[phase] = workers.run(phase, seconds)
        workers.close()
        workers = None

        if args.sql_duration > 0:
            _log(f"award-sql: post()'s statements via pgbench, {args.workers} clients")
            with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
                f.write(_award_sql_script(info))
                script = f.name
            _checkpoint(url)
            opts = ["-n", "-f", script, "-c", str(args.workers), "-j", str(args.pg_threads)]
            opts += ["-M", "prepared"]
            _pgbench_run(url, [*opts, "-T", str(int(max(1, min(args.warmup, 2))))], None)
            result["award-sql"] = _pgbench_run(url, [*opts, "-T", str(args.sql_duration)], server)
    finally:
        if workers is not None:
            workers.close()
        if script:
            os.unlink(script)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            for u in (url, pg_url):
                try:
                    _drop_db(u)
                except Exception as exc:
                    print(f"could not drop {_db_name(u)}: {exc}", file=sys.stderr)
    _summarise(result)
    result["total_seconds"] = round(time.time() - started, 1)
    return result


def _summarise(result: dict[str, Any]) -> None:
    def cpu_ratio(reference: dict[str, Any], measured: dict[str, Any]) -> float | None:
        a, b = reference["cpu_ms_per_op"], measured["cpu_ms_per_op"]
        return round(a / b, 3) if a and b else None

    for one in result["rounds"]:
        tps = one["pgbench"]["tps"]
        one["ratio_vs_pgbench"] = round(one["award"]["per_second"] / tps, 3) if tps else None
        one["cpu_ratio_vs_pgbench"] = cpu_ratio(one["pgbench"], one["award"])
        one["cpu_ratio_floor_vs_pgbench"] = cpu_ratio(one["pgbench"], one["floor"])
        one["cpu_ratio_vs_floor"] = cpu_ratio(one["floor"], one["award"])

    def median(key: str) -> float | None:
        values = [r[key] for r in result["rounds"] if r[key] is not None]
        return round(statistics.median(values), 3) if values else None

    for key in (
        "ratio_vs_pgbench",
        "cpu_ratio_vs_pgbench",
        "cpu_ratio_floor_vs_pgbench",
        "cpu_ratio_vs_floor",
    ):
        result[key] = median(key)
    one = result["hot-one"]["per_second"]
    many = result["hot-many"]["per_second"]
    result["hot_ratio_one_over_many"] = round(one / many, 3) if many else None
    result["cpu_hot_ratio_one_over_many"] = cpu_ratio(result["hot-many"], result["hot-one"])
    result["goals"] = {
        "cpu_ratio_vs_pgbench >= 0.6": bool((result["cpu_ratio_vs_pgbench"] or 0) >= 0.6),
        "ratio_vs_pgbench >= 0.6": bool((result["ratio_vs_pgbench"] or 0) >= 0.6),
        "hot_ratio_one_over_many >= 0.9": bool(one and many and one / many >= 0.9),
    }


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _table(r: dict[str, Any]) -> str:
    w = r["workers"]
    head = f"{'measure':<34} {'rate':>12} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/op':>18} {'busy':>5}"
    lines = [
        f"machine: {r['machine']['cpus']} CPUs, PostgreSQL {r['machine'].get('postgresql', '?')}, "
        f"Python {r['machine']['python']}; {r['households']} households, {w} worker processes",
        head,
        "-" * len(head),
    ]

    def row(label: str, p: dict[str, Any], unit: str) -> str:
        cpu = (
            f"{_fmt(p['client_cpu_ms_per_op'])}+{_fmt(p['server_cpu_ms_per_op'])}"
            f"={_fmt(p['cpu_ms_per_op'])}"
        )
        latency_50 = p.get("latency_ms_p50", p.get("latency_ms_avg"))
        return (
            f"{label:<34} {p['per_second'] if 'per_second' in p else p['tps']:>8,.0f} {unit:<3} "
            f"{_fmt(latency_50):>7} {_fmt(p.get('latency_ms_p99')):>7} {cpu:>18} "
            f"{_fmt(p['machine_busy'], '.0%'):>5}"
        )

    for n, one in enumerate(r["rounds"], 1):
        clients = one["pgbench"]["clients"]
        lines.append(row(f"{n}: pgbench TPC-B ({clients} clients)", one["pgbench"], "tps"))
        lines.append(row(f"{n}: award via post() ({w} procs)", one["award"], "/s"))
        lines.append(row(f"{n}: floor: SELECT 1 ({w} procs)", one["floor"], "/s"))
    lines.append(row("household -> ONE store", r["hot-one"], "/s"))
    lines.append(row(f"household -> {w} stores", r["hot-many"], "/s"))
    if "award-sql" in r:
        lines.append(row("award SQL only (pgbench -f)", r["award-sql"], "tps"))
    goals = r["goals"]

    def each(key: str) -> str:
        return " ".join(_fmt(one[key]) for one in r["rounds"])

    lines += [
        "",
        f"award by CPU per op / pgbench      {_fmt(r['cpu_ratio_vs_pgbench'])}   goal >= 0.6: "
        + ("met" if goals["cpu_ratio_vs_pgbench >= 0.6"] else "MISSED")
        + f"   (rounds: {each('cpu_ratio_vs_pgbench')})",
        f"award postings/s / pgbench tps     {_fmt(r['ratio_vs_pgbench'])}   "
        f"(rounds: {each('ratio_vs_pgbench')})",
        f"floor by CPU per op / pgbench      {_fmt(r['cpu_ratio_floor_vs_pgbench'])}   "
        f"(rounds: {each('cpu_ratio_floor_vs_pgbench')}): the most any one-round-trip posting "
        "from Python could reach",
        f"award by CPU per op / floor        {_fmt(r['cpu_ratio_vs_floor'])}   "
        f"(rounds: {each('cpu_ratio_vs_floor')})",
        f"hot-account ratio one/{w}           {_fmt(r['hot_ratio_one_over_many'])}   goal >= 0.9: "
        + ("met" if goals["hot_ratio_one_over_many >= 0.9"] else "MISSED")
        + f"   (by CPU per op: {_fmt(r['cpu_hot_ratio_one_over_many'])})",
        "cpu ms/op = client (Python worker or pgbench) + server (PostgreSQL); "
        "busy = whole machine, all processes",
        f"(total run {r['total_seconds']} s; load average before {r['machine']['loadavg_before']})",
    ]
    return "\n".join(lines)


def _default_url() -> str:
    return _pg.default_url(_db_name(DEFAULT_URL))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--database-url",
        default=_default_url(),
        help="PostgreSQL database to CREATE and DROP (a <name>_pgbench sibling is used too); "
        "its name must contain 'bench'. Default: BENCH_DATABASE_URL, else the server of "
        "DATABASE_URL with the database civicpoints_bench, else " + DEFAULT_URL,
    )
    parser.add_argument("--households", type=int, default=52767, help="the real county's size")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of pgbench, award, floor")
    parser.add_argument("--duration", type=float, default=15, help="seconds of award postings")
    parser.add_argument("--floor-duration", type=float, default=8, help="seconds of SELECT 1")
    parser.add_argument("--hot-duration", type=float, default=10, help="seconds per hot phase")
    parser.add_argument("--sql-duration", type=int, default=10, help="0 skips award-sql")
    parser.add_argument("--warmup", type=float, default=2, help="uncounted seconds per phase")
    parser.add_argument("--scale", type=int, default=8, help="pgbench -s")
    parser.add_argument("--pg-clients", type=int, default=8, help="pgbench -c")
    parser.add_argument("--pg-threads", type=int, default=2, help="pgbench -j")
    parser.add_argument("--pg-seconds", type=int, default=15, help="pgbench -T")
    parser.add_argument("--keep", action="store_true", help="keep both databases afterwards")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")
    if "bench" not in _db_name(args.database_url):
        parser.error("refusing to create/drop a database whose name does not contain 'bench'")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.households < args.workers:
        parser.error("--households must be at least --workers")
    result = run(args)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
