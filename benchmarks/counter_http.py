"""Counter redemption over HTTP on the production server, against pgbench in the same run.

    .venv/bin/python benchmarks/counter_http.py [--clients 8] [--duration 20]
        [--web-workers 2] [--web-threads 4] [--pg-seconds 15] [--database-url URL] [--json] [--keep]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench_counter``; the name must contain
   ``bench``), migrates it and loads a county, C stores (one counter per client, each with its
   clerk and three products with plenty of stock) and 400 funded households per store, each
   with a PIN.
2. Starts the production server: ``civicpoints serve --no-scheduler`` (gunicorn,
   ``CIVICPOINTS_ENV=production``, ``DEBUG`` off, the connection pool on) on a free port.
3. C client processes, one per counter, each with a bearer token of its clerk and one
   keep-alive connection, POST ``/api/v1/stores/{id}/redemptions`` with a fresh
   ``Idempotency-Key``, two items and the household's PIN, for D seconds after a warm-up;
   every response must be 201. Counts redemptions/s and the latency distribution.
4. pgbench TPC-B with C clients (``-M prepared``) on a sibling database in the same run.
5. Prints redemptions/s, pgbench TPS, their ratio (goal >= 0.3) and p50/p95/p99 latency.
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
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import _pg

PIN = "258369"
PER_STORE = 400


def _setup(clients: int) -> dict[str, Any]:
    from civicpoints.households.models import Household
    from civicpoints.households.services import pin_hash_make
    from civicpoints.schemes.models import Role, User
    from civicpoints.schemes.scope import actor_for_user
    from civicpoints.schemes.services import role_grant
    from civicpoints.stores.services import product_create, stock_receive, store_create

    scheme, county, villages = _pg.county(townships=clients, villages_each=2)
    ids = _pg.funded_households(scheme, villages, clients * PER_STORE, 100_000_000)
    Household.objects.filter(pk__in=ids).update(pin_hash=pin_hash_make(PIN))
    admin = User.objects.create_user(username="bench-admin", password="x" * 20)
    role_grant(user=admin, scheme=scheme, region=county, role=Role.COUNTY_ADMIN)
    admin_actor = actor_for_user(admin)
    counters = []
    for c in range(clients):
        township = villages[c * 2].parent
        password = secrets.token_urlsafe(16)
        clerk = User.objects.create_user(username=f"bench-clerk-{c}", password=password)
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
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"counters": counters}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    conn.request(
        method, path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def _client(
    port: int, counter: dict[str, Any], start_at: float, warmup: float, duration: float, out: Any
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, body = _request(
        conn,
        "POST",
        "/api/v1/auth/token",
        {"username": counter["username"], "password": counter["password"]},
        {},
    )
    assert status == 200, body
    auth = {"Authorization": f"Bearer {body['token']}"}
    path = f"/api/v1/stores/{counter['store']}/redemptions"
    households = counter["households"]
    rice, _oil, soap = counter["products"]
    while time.time() < start_at:
        time.sleep(0.01)
    measure_from = start_at + warmup
    stop_at = measure_from + duration
    latencies: list[float] = []
    errors: dict[str, int] = {}
    i = 0
    while True:
        now = time.time()
        if now >= stop_at:
            break
        household = households[i % len(households)]
        i += 1
        body = {
            "household": household,
            "items": [{"product": rice, "quantity": 1}, {"product": soap, "quantity": 2}],
            "pin": PIN,
        }
        t0 = time.perf_counter()
        status, answer = _request(
            conn, "POST", path, body, {**auth, "Idempotency-Key": uuid.uuid4().hex}
        )
        elapsed = time.perf_counter() - t0
        if status != 201:
            code = answer.get("error", {}).get("code", str(status))
            errors[code] = errors.get(code, 0) + 1
        elif now >= measure_from:
            latencies.append(elapsed)
    out.put({"latencies": latencies, "errors": errors})


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    _pg.log(f"creating {_pg.db_name(url)} and migrating")
    _pg.create_db(url)
    server = None
    # The server and this process must share the keys: PIN hashes are keyed (households/crypto.py).
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(60)
    os.environ["FIELD_ENCRYPTION_KEYS"] = _fernet_key()
    try:
        env = _pg.bench_env(url)
        _pg.migrate(env)
        _pg.django_here(url)
        _pg.log(f"loading {ns.clients} stores x {PER_STORE} households")
        info = _setup(ns.clients)
        from django.db import connections

        connections.close_all()
        port = _free_port()
        server_env = {
            **env,
            "CIVICPOINTS_ENV": "production",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "CIVICPOINTS_DB_POOL": "1",
            "CIVICPOINTS_VAR_DIR": os.environ.get("TMPDIR", "/tmp") + "/civicpoints-bench-var",
        }
        cmd = [
            sys.executable,
            "-m",
            "civicpoints.cli",
            "serve",
            "--no-scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(ns.web_workers),
            "--threads",
            str(ns.web_threads),
        ]
        _pg.log("starting the production server: " + " ".join(cmd[3:]))
        server = subprocess.Popen(
            cmd, env=server_env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        _wait_for(port)
        _pg.admin_sql(url, "CHECKPOINT")
        queue: Any = mp.Queue()
        start_at = time.time() + 2
        procs = [
            mp.Process(target=_client, args=(port, c, start_at, ns.warmup, ns.duration, queue))
            for c in info["counters"]
        ]
        _pg.log(f"{ns.clients} clients for {ns.warmup}+{ns.duration} s")
        for p in procs:
            p.start()
        results = [queue.get(timeout=ns.warmup + ns.duration + 120) for _ in procs]
        for p in procs:
            p.join()
        latencies = sorted(x for r in results for x in r["latencies"])
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        if not latencies:
            raise RuntimeError(f"no redemption succeeded; errors: {errors}")
        _pg.stop_server(server)
        server = None
        _pg.log(f"pgbench TPC-B, {ns.clients} clients, {ns.pg_seconds} s")
        pgb = _pg.pgbench(url, clients=ns.clients, seconds=ns.pg_seconds)
        rate = len(latencies) / ns.duration

        def pct(q: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

        return {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "clients": ns.clients,
            "web": {"workers": ns.web_workers, "threads": ns.web_threads},
            "redemptions": len(latencies),
            "redemptions_per_second": round(rate, 1),
            "latency_ms": {
                "p50": pct(0.50),
                "p95": pct(0.95),
                "p99": pct(0.99),
                "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
            },
            "errors": errors,
            "pgbench": pgb,
            "ratio_vs_pgbench": round(rate / pgb["tps"], 3),
            "goal": ">= 0.3",
        }
    finally:
        if server is not None:
            _pg.stop_server(server)
        from django.db import connections

        connections.close_all()
        if not ns.keep:
            _pg.drop_db(url)


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _wait_for(port: int) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def _table(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return "\n".join(
        [
            f"clients {r['clients']}, server gunicorn {r['web']['workers']} workers x {r['web']['threads']} threads",
            f"counter redemptions: {r['redemptions_per_second']}/s ({r['redemptions']} in total), errors {r['errors']}",
            f"latency ms: p50 {lat['p50']}, p95 {lat['p95']}, p99 {lat['p99']}, mean {lat['mean']}",
            f"pgbench TPC-B: {r['pgbench']['tps']} tps ({r['pgbench']['command']})",
            f"ratio: {r['ratio_vs_pgbench']} (goal {r['goal']})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
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
