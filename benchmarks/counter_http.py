"""Counter redemption over HTTP on the production server, beside the API's floor, and pgbench.

    .venv/bin/python benchmarks/counter_http.py [--clients 8] [--duration 8] [--rounds 3]
        [--web-workers 2] [--web-threads 4] [--pg-seconds 15] [--database-url URL] [--json] [--keep]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench_counter``; the name must contain
   ``bench``), migrates it and loads a county, C stores (one counter per client, each with its
   clerk and three products with plenty of stock) and 400 funded households per store, each
   with a PIN.
2. Counts the database round trips of one redemption and of one floor call in this process
   (Django's test client on the same database, an execute wrapper on the connection).
3. Starts the production server: ``civicpoints serve --no-scheduler --no-worker`` (gunicorn,
   ``CIVICPOINTS_ENV=production``, ``DEBUG`` off, the connection pool on,
   ``CIVICPOINTS_BENCH=1``) on a free port.
4. C client processes, one per counter, each with a bearer token of its clerk and one
   keep-alive connection, run R rounds of two phases of D seconds each after a warm-up:
   the floor, ``GET /api/v1/bench/auth`` (the cheapest call a bearer token can make: the
   middleware, django-ninja and the token with its user and grants), then redemptions,
   ``POST /api/v1/stores/{id}/redemptions`` with a fresh ``Idempotency-Key``, two items and
   the household's PIN. Every answer must be 200 / 201.
5. For each phase: requests/s, p50/p99 latency, and CPU milliseconds per request that the
   server spends for the clients: the gunicorn processes' CPU plus that of the PostgreSQL
   backends connected to the benchmark's database (from /proc, over the phase), divided by
   the requests answered. The goal: redemptions/s >= 0.5 of the floor's.
6. pgbench TPC-B with C clients (``-M prepared``) on a sibling database in the same run.
   Databases are dropped at the end unless ``--keep``; the server is stopped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import secrets
import socket
import sys
import time
import uuid
from typing import Any

import _pg

PIN = "258369"
PER_STORE = 400
FLOOR = "/api/v1/bench/auth"
# The server's var directory (uploads, key files): apart from the product's own.
VAR_DIR = os.environ.get("TMPDIR", "/tmp") + "/civicpoints-bench-var"
GAP = 0.5  # seconds between phases, so one phase's last requests do not count in the next


def _setup(clients: int) -> dict[str, Any]:
    from civicpoints.households.models import Household
    from civicpoints.households.services import pin_columns
    from civicpoints.schemes.models import Role, User
    from civicpoints.schemes.scope import actor_for_user
    from civicpoints.schemes.services import role_grant
    from civicpoints.stores.services import product_create, stock_receive, store_create

    scheme, county, villages = _pg.county(townships=clients, villages_each=2)
    ids = _pg.funded_households(scheme, villages, clients * PER_STORE, 100_000_000)
    Household.objects.filter(pk__in=ids).update(**pin_columns(PIN))
    admin = User.objects.create_user(username="bench-admin", password="x" * 20)
    role_grant(user=admin, scheme=scheme, region=county, role=Role.COUNTY_ADMIN)
    admin_actor = actor_for_user(admin)
    counters = []
    for c in range(clients):
        township = villages[c * 2].parent
        password = secrets.token_urlsafe(16)
        clerk = User.objects.create_user(username=f"bench-clerk-{c}", password=password)
        role_grant(user=clerk, scheme=scheme, region=township, role=Role.STORE_CLERK)
        store = store_create(
            actor=admin_actor,
            scheme_id=scheme.pk,
            region=township,
            name=f"压测超市{c}",
            clerk_ids=[clerk.pk],
        )
        products = []
        for name, price in (("大米", 3000), ("豆油", 4500), ("香皂", 300)):
            p = product_create(actor=admin_actor, store=store, name=name, price=price)
            stock_receive(actor=admin_actor, product=p, quantity=1_000_000)
            products.append(p.pk)
        households = list(
            Household.objects.filter(village__parent=township).values_list("pk", flat=True)
        )
        counters.append(
            {
                "store": store.pk,
                "username": clerk.username,
                "password": password,
                "products": products,
                "households": households,
            }
        )
    # No VACUUM or ANALYZE (autovacuum is off here): either would record the redemptions and
    # the idempotency keys as empty, and the plans the server's connections cache (the counter
    # functions' statements, the foreign keys' checks) would read those tables whole on every
    # sale as the run fills them (docs/performance.md, "Offline counter").
    return {"counters": counters}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> tuple[int, dict[str, Any]]:
    conn.request(
        method,
        path,
        body=None if body is None else json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def _redemption(counter: dict[str, Any], i: int) -> dict[str, Any]:
    households = counter["households"]
    rice, _oil, soap = counter["products"]
    return {
        "household": households[i % len(households)],
        "items": [{"product": rice, "quantity": 1}, {"product": soap, "quantity": 2}],
        "pin": PIN,
    }


def _client(
    port: int, counter: dict[str, Any], phases: list[tuple[str, float, float]], out: Any
) -> None:
    """Follow the phases (kind, start, end): the floor or redemptions, one request at a time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = {"Authorization": f"Bearer {counter['token']}"}
    path = f"/api/v1/stores/{counter['store']}/redemptions"
    results: list[dict[str, Any]] = []
    i = 0
    for kind, start, end in phases:
        while time.time() < start:
            time.sleep(0.005)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        while time.time() < end:
            t0 = time.perf_counter()
            if kind == "floor":
                status, answer = _request(conn, "GET", FLOOR, None, auth)
                ok = status == 200
            else:
                i += 1
                headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
                status, answer = _request(conn, "POST", path, _redemption(counter, i), headers)
                ok = status == 201
            elapsed = time.perf_counter() - t0
            if ok:
                latencies.append(elapsed)
            else:
                code = answer.get("error", {}).get("code", str(status))
                errors[code] = errors.get(code, 0) + 1
        results.append({"latencies": latencies, "errors": errors})
    out.put(results)


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> tuple[int, int] | None:
    """(parent pid, user + system CPU ticks) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _gunicorn_pids(root: int) -> list[int]:
    """The gunicorn processes (master and workers) under the server's process."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (found := _ticks(int(name))) is not None:
            parents[int(name)] = found[0]
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    pids = []
    for pid in tree:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"gunicorn" in f.read():
                    pids.append(pid)
        except OSError:
            pass
    return pids


class ServedCpu:
    """CPU the server spends for the clients: gunicorn's processes and the PostgreSQL backends
    connected to the benchmark's database (other databases' are not counted: the machine may
    be shared). Needs the server and PostgreSQL on this machine."""

    def __init__(self, url: str, server_pid: int) -> None:
        import psycopg

        self.db = _pg.db_name(url)
        self.server_pid = server_pid
        self.monitor = psycopg.connect(_pg.conninfo(url), autocommit=True)

    def _snapshot(self) -> tuple[dict[int, int], dict[int, int]]:
        """CPU ticks of the web processes and of the database backends."""
        rows = self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'",
            [self.db],
        ).fetchall()
        web = _gunicorn_pids(self.server_pid)
        database = [int(r[0]) for r in rows]
        return (
            {pid: t[1] for pid in web if (t := _ticks(pid)) is not None},
            {pid: t[1] for pid in database if (t := _ticks(pid)) is not None},
        )

    def start(self) -> None:
        self.first = self._snapshot()

    def stop(self) -> tuple[float, float]:
        """CPU seconds of the web processes and of the database since ``start`` (processes
        that started meanwhile: all of theirs)."""
        last = self._snapshot()
        return (
            sum(t - self.first[0].get(pid, 0) for pid, t in last[0].items()) / CLK_TCK,
            sum(t - self.first[1].get(pid, 0) for pid, t in last[1].items()) / CLK_TCK,
        )

    def close(self) -> None:
        self.monitor.close()


# --------------------------------------------------------------------------- round trips


def _round_trips(counter: dict[str, Any]) -> dict[str, int]:
    """Queries of one floor call and of one redemption (and of its retry), in this process."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    settings.BENCH_FLOOR = True
    client = Client()
    response = client.post(
        "/api/v1/auth/token",
        {"username": counter["username"], "password": counter["password"]},
        content_type="application/json",
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    path = f"/api/v1/stores/{counter['store']}/redemptions"

    def counted(call: Any) -> tuple[Any, int]:
        seen: list[str] = []

        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            answer = call()
        return answer, len(seen)

    def redeem(key: str, i: int) -> Any:
        body = json.dumps(_redemption(counter, i))
        return client.post(path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)

    assert client.get(FLOOR).status_code == 200
    assert redeem("warm-up", 0).status_code == 201
    floor, floor_queries = counted(lambda: client.get(FLOOR))
    done, queries = counted(lambda: redeem("counted", 1))
    again, replay_queries = counted(lambda: redeem("counted", 1))
    assert (floor.status_code, done.status_code, again.status_code) == (200, 201, 201)
    return {"floor": floor_queries, "redemption": queries, "replay": replay_queries}


# --------------------------------------------------------------------------- the run


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    _pg.log(f"creating {_pg.db_name(url)} and migrating")
    _pg.create_db(url)
    server = None
    cpu = None
    # The server and this process must share the keys: PIN hashes are keyed (households/crypto.py).
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(60)
    os.environ["FIELD_ENCRYPTION_KEYS"] = _fernet_key()
    try:
        env = _pg.bench_env(url)
        _pg.migrate(env)
        _pg.django_here(url)
        _pg.log(f"loading {ns.clients} stores x {PER_STORE} households")
        info = _setup(ns.clients)
        trips = _round_trips(info["counters"][0])
        from django.db import connections

        connections.close_all()
        port = _free_port()
        server = _pg.start_server(
            env, port=port, workers=ns.web_workers, threads=ns.web_threads, var_dir=VAR_DIR
        )
        # Tokens first (a password check is slow on purpose): the phases time requests only.
        for counter in info["counters"]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status, body = _request(
                conn,
                "POST",
                "/api/v1/auth/token",
                {"username": counter["username"], "password": counter["password"]},
                {},
            )
            conn.close()
            assert status == 200, body
            counter["token"] = body["token"]
        _pg.admin_sql(url, "CHECKPOINT")
        # Warm-up (both kinds), then R rounds of floor and redemptions, a short gap between.
        t = time.time() + 2
        phases: list[tuple[str, float, float]] = [
            ("floor", t, t + ns.warmup / 2),
            ("redemption", t + ns.warmup / 2, t + ns.warmup),
        ]
        t += ns.warmup + GAP
        for _round in range(ns.rounds):
            for kind in ("floor", "redemption"):
                phases.append((kind, t, t + ns.duration))
                t += ns.duration + GAP
        queue: Any = mp.Queue()
        procs = [
            mp.Process(target=_client, args=(port, c, phases, queue)) for c in info["counters"]
        ]
        _pg.log(
            f"{ns.clients} clients: warm-up {ns.warmup} s, then {ns.rounds} rounds of "
            f"{ns.duration} s floor + {ns.duration} s redemptions"
        )
        for p in procs:
            p.start()
        cpu = ServedCpu(url, server.pid)
        served: list[tuple[float, float]] = []
        for _kind, start, end in phases:
            while time.time() < start:
                time.sleep(0.005)
            cpu.start()
            while time.time() < end:
                time.sleep(0.005)
            served.append(cpu.stop())
        results = [queue.get(timeout=t - time.time() + 120) for _ in procs]
        for p in procs:
            p.join()
        cpu.close()
        cpu = None
        _pg.stop_server(server)
        server = None
        _pg.log(f"pgbench TPC-B, {ns.clients} clients, {ns.pg_seconds} s")
        pgb = _pg.pgbench(url, clients=ns.clients, seconds=ns.pg_seconds)
        measured = []
        for n, (kind, _start, _end) in enumerate(phases[2:], start=2):
            latencies = sorted(x for r in results for x in r[n]["latencies"])
            errors: dict[str, int] = {}
            for r in results:
                for k, v in r[n]["errors"].items():
                    errors[k] = errors.get(k, 0) + v
            measured.append(_phase(kind, latencies, errors, ns.duration, served[n]))
        rounds = []
        for r in range(ns.rounds):
            floor, redemption = measured[2 * r], measured[2 * r + 1]
            # The most any redemption doing this database work could reach: the floor's CPU
            # over the floor's plus the redemption's database CPU beyond the floor's (as if
            # its Python cost nothing more than the floor's).
            beyond = redemption["db_cpu_ms_per_request"] - floor["db_cpu_ms_per_request"]
            rounds.append(
                {
                    "floor": floor,
                    "redemption": redemption,
                    "ratio_vs_floor": _ratio(redemption["per_second"], floor["per_second"]),
                    "cpu_ratio_vs_floor": _ratio(
                        floor["cpu_ms_per_request"], redemption["cpu_ms_per_request"]
                    ),
                    "cpu_ratio_bound": _ratio(
                        floor["cpu_ms_per_request"], floor["cpu_ms_per_request"] + beyond
                    ),
                    "ratio_vs_pgbench": _ratio(redemption["per_second"], pgb["tps"]),
                }
            )
        return {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "clients": ns.clients,
            "web": {"workers": ns.web_workers, "threads": ns.web_threads},
            "round_trips": trips,
            "rounds": rounds,
            "pgbench": pgb,
            "goal": "redemptions/s >= 0.5 x floor/s",
        }
    finally:
        if cpu is not None:
            cpu.close()
        if server is not None:
            _pg.stop_server(server)
        from django.db import connections

        connections.close_all()
        if not ns.keep:
            _pg.drop_db(url)


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _phase(
    kind: str,
    latencies: list[float],
    errors: dict[str, int],
    seconds: float,
    cpu: tuple[float, float],
) -> dict[str, Any]:
    if not latencies:
        raise RuntimeError(f"no {kind} request succeeded; errors: {errors}")

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_ms_per_request": round(1000 * sum(cpu) / len(latencies), 2),
        "web_cpu_ms_per_request": round(1000 * cpu[0] / len(latencies), 2),
        "db_cpu_ms_per_request": round(1000 * cpu[1] / len(latencies), 2),
        "errors": errors,
    }


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _table(r: dict[str, Any]) -> str:
    trips = r["round_trips"]
    lines = [
        f"clients {r['clients']}, server gunicorn {r['web']['workers']} workers x "
        f"{r['web']['threads']} threads; pgbench TPC-B {r['pgbench']['tps']} tps "
        f"({r['pgbench']['command']})",
        f"round trips per request: floor {trips['floor']}, redemption {trips['redemption']} "
        f"(its retry {trips['replay']})",
        f"{'round':<6} {'floor/s':>8} {'cpu ms (web+db)':>16} {'p99':>6} {'redeem/s':>9} "
        f"{'cpu ms (web+db)':>16} {'p99':>6} {'ratio':>6} {'by cpu':>6} {'bound':>6} "
        f"{'vs pgbench':>10}  errors",
    ]

    def cpu(p: dict[str, Any]) -> str:
        return (
            f"{p['cpu_ms_per_request']}={p['web_cpu_ms_per_request']}+{p['db_cpu_ms_per_request']}"
        )

    for n, x in enumerate(r["rounds"], start=1):
        f, d = x["floor"], x["redemption"]
        errors = {**f["errors"], **d["errors"]}
        lines.append(
            f"{n:<6} {f['per_second']:>8} {cpu(f):>16} {f['p99_ms']:>6} "
            f"{d['per_second']:>9} {cpu(d):>16} {d['p99_ms']:>6} "
            f"{x['ratio_vs_floor']:>6} {x['cpu_ratio_vs_floor']:>6} {x['cpu_ratio_bound']:>6} "
            f"{x['ratio_vs_pgbench']:>10}  "
            f"{errors or 'none'}"
        )
    lines.append(
        f"goal: {r['goal']}; ratio = redemptions/s over floor/s in the same round; cpu ms = "
        "gunicorn + the benchmark database's PostgreSQL backends per answered request; "
        "by cpu = floor cpu ms over redemption cpu ms; bound = the most a redemption doing "
        "this database work could reach by cpu (floor cpu over floor cpu plus the redemption's "
        "database cpu beyond the floor's)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=4)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--pg-seconds", type=int, default=15)
    parser.add_argument("--database-url", default=_pg.default_url("civicpoints_bench_counter"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    ns = parser.parse_args(argv)
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
