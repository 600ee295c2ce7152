"""The offline counter (issue 13): the sync of 500 queued offline redemptions from one device,
beside the same 500 sent online in the same run; and the offline cache of a township store.

    .venv/bin/python benchmarks/counter_offline.py [--sales 500] [--households 3000]
        [--web-workers 2] [--web-threads 4] [--database-url URL] [--no-browser] [--json] [--keep]

1. Creates a fresh database (the name must contain ``bench``; see counter_http.py), migrates
   it and loads one township store with its clerk, three products with plenty of stock and
   ``--households`` funded households, each with a PIN; the scheme's offline allowance is
   large; a county admin registers a device and the clerk enrols it.
2. Starts the production server (gunicorn, ``DEBUG`` off, the connection pool on).
3. Each round, two clients, each on its own keep-alive connection, take turns of 25 requests
   (so that whatever else the machine does falls on both alike):
   - online: the clerk's bearer token, ``--sales`` redemptions (the PIN, a fresh key each);
   - offline sync: the clerk's page session (cookie and CSRF token, as the page has them) and
     the device's ``X-Counter-Device``, ``--sales`` queued sales in sequence order, each with
     the key, time and sealed PIN the device gave it, as the page's sync does. Every one must
     be 201.
   Then the floors the same way: a trivial call with the bearer token, and with the session.
   Goal: offline sync rate >= 0.8 x the online rate.
4. Then the whole sync again (a sync retried after a cut): every one must be a replay, and the
   database must hold exactly one offline redemption per queued sale.
5. The snapshot of that store (``--households`` households): its size in bytes, and in
   headless Chromium (Debian's, as the tests use it) the time the online page takes to fetch,
   keep and index it, then, offline, the time the shell takes to be ready from navigation
   (served by the service worker from its cache, the snapshot read from IndexedDB).
   Goal: under 1 MB and ready in under 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

import _pg
from counter_http import VAR_DIR, _fernet_key, _free_port, _request

PIN = "258369"


def _setup(households: int) -> dict[str, Any]:
    from django.conf import settings
    from django.test import Client

    from civicpoints.households.models import Household
    from civicpoints.households.services import pin_columns
    from civicpoints.schemes.models import Role, Scheme, User
    from civicpoints.schemes.scope import actor_for_user
    from civicpoints.schemes.services import role_grant
    from civicpoints.stores.services import product_create, stock_receive, store_create
    from civicpoints.stores.services.offline import device_enrol, device_register

    scheme, county, villages = _pg.county(townships=1, villages_each=12)
    township = villages[0].parent
    Scheme.objects.filter(pk=scheme.pk).update(offline_allowance=10**12)
    ids = _pg.funded_households(scheme, villages, households, 100_000_000)
    Household.objects.filter(pk__in=ids).update(**pin_columns(PIN))
    admin = User.objects.create_user(username="bench-admin", password="x" * 20)
    role_grant(user=admin, scheme=scheme, region=county, role=Role.COUNTY_ADMIN)
    admin_actor = actor_for_user(admin)
    password = secrets.token_urlsafe(16)
    clerk = User.objects.create_user(username="bench-clerk", password=password)
    role_grant(user=clerk, scheme=scheme, region=township, role=Role.STORE_CLERK)
    store = store_create(
        actor=admin_actor,
        scheme_id=scheme.pk,
        region=township,
        name="开通镇爱心超市",
        clerk_ids=[clerk.pk],
    )
    products = []
    for name, price in (("大米", 3000), ("豆油", 4500), ("香皂", 300)):
        p = product_create(actor=admin_actor, store=store, name=name, price=price)
        stock_receive(actor=admin_actor, product=p, quantity=1_000_000)
        products.append(p.pk)
    _device, code = device_register(actor=admin_actor, store=store, name="压测设备")
    device, token = device_enrol(actor=actor_for_user(clerk), store=store, code=code)
    # The clerk's page session, as a login makes it (saved in the benchmark's database)
    settings.ALLOWED_HOSTS = ["*"]
    client = Client()
    client.force_login(clerk)
    # No VACUUM or ANALYZE (autovacuum is off here): either would record the tables the runs
    # fill (redemptions, offline sales, idempotency keys) as empty, and the plans the
    # connections cache (the counter's functions, the foreign keys' checks) would read those
    # tables whole on every sale as they grow: the sync fell from 187 to 129 a second over five
    # rounds (docs/performance.md, "Offline counter"). Never vacuumed, a table is planned by
    # its size on disk, whatever it holds.
    return {
        "store": store.pk,
        "username": clerk.username,
        "password": password,
        "products": products,
        "households": ids,
        "device": device.pk,
        "token": token,
        "session": client.cookies["sessionid"].value,
        "enrolled_at": device.enrolled_at.isoformat() if device.enrolled_at else None,
    }


def _body(info: dict[str, Any], i: int) -> dict[str, Any]:
    rice, _oil, soap = info["products"]
    households = info["households"]
    return {
        "household": households[i % len(households)],
        "items": [{"product": rice, "quantity": 1}, {"product": soap, "quantity": 2}],
    }


class _Sender:
    """One client on one keep-alive connection: it sends requests one after the other, each
    answer must be ``want``, and it keeps the time they took over however many calls."""

    def __init__(self, port: int, method: str, path: str, want: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.method, self.path, self.want = method, path, want
        self.latencies: list[float] = []
        self.seconds = 0.0
        self.replayed = 0

    def send(self, requests: Sequence[tuple[dict[str, Any] | None, dict[str, str]]]) -> None:
        start = time.perf_counter()
        for body, headers in requests:
            t0 = time.perf_counter()
            payload = None if body is None else json.dumps(body)
            self.conn.request(self.method, self.path, body=payload, headers=headers)
            response = self.conn.getresponse()
            answer = response.read()
            self.latencies.append(time.perf_counter() - t0)
            if response.status != self.want:
                raise RuntimeError(f"{self.path}: {response.status} {answer[:300]!r}")
            self.replayed += response.getheader("Idempotency-Replayed") == "true"
        self.seconds += time.perf_counter() - start

    def result(self) -> dict[str, Any]:
        self.conn.close()
        latencies = sorted(self.latencies)
        return {
            "requests": len(latencies),
            "seconds": round(self.seconds, 3),
            "per_second": round(len(latencies) / self.seconds, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "replayed": self.replayed,
        }


def _timed(
    port: int, requests: list[tuple[dict[str, Any], dict[str, str]]], path: str, want: int
) -> dict[str, Any]:
    """Send the requests one after the other on one connection; every answer must be ``want``."""
    sender = _Sender(port, "POST", path, want)
    sender.send(requests)
    return sender.result()


def _side_by_side(
    a: _Sender,
    a_requests: Sequence[tuple[dict[str, Any] | None, dict[str, str]]],
    b: _Sender,
    b_requests: Sequence[tuple[dict[str, Any] | None, dict[str, str]]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both lists in turns of ``CHUNK`` requests (a, b, a, b, ...), each client timing its own:
    whatever the machine does meanwhile (another tenant, a checkpoint) falls on both alike, so
    their ratio holds still where two runs one after the other moved it by +-20 %."""
    for i in range(0, max(len(a_requests), len(b_requests)), CHUNK):
        a.send(a_requests[i : i + CHUNK])
        b.send(b_requests[i : i + CHUNK])
    return a.result(), b.result()


# Requests a client sends before the other has its turn (_side_by_side).
CHUNK = 25


def _browser(port: int, info: dict[str, Any], csrf: str) -> dict[str, Any]:
    """The snapshot in Chromium: fetched, kept and indexed online; the shell ready offline."""
    from playwright.sync_api import sync_playwright

    base = f"http://localhost:{port}"
    counter = f"{base}/counter/store/{info['store']}/"
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            locale="zh-CN",
        )
        context.add_cookies(
            [
                {"name": "sessionid", "value": info["session"], "url": base},
                {"name": "csrftoken", "value": csrf, "url": base},
            ]
        )
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(counter)
        # The device as enrolment leaves it in IndexedDB
        page.evaluate(
            """([store, device, token]) => new Promise((resolve, reject) => {
                const r = indexedDB.open("civicpoints-counter", 1);
                r.onupgradeneeded = () => {
                  const d = r.result;
                  d.createObjectStore("meta"); d.createObjectStore("snapshot");
                  d.createObjectStore("locks");
                  d.createObjectStore("queue", {keyPath: "key"})
                    .createIndex("store_seq", ["store", "seq"]);
                };
                r.onsuccess = () => {
                  const t = r.result.transaction("meta", "readwrite");
                  t.objectStore("meta").put({device, token, name: "bench"}, `device:${store}`);
                  t.oncomplete = () => { r.result.close(); resolve(); };
                  t.onerror = () => reject(t.error);
                };
              })""",
            [str(info["store"]), info["device"], info["token"]],
        )
        online = []
        for _ in range(3):
            page.goto(counter)
            page.wait_for_function(
                "() => document.getElementById('offline-app').dataset.snapshotMs"
            )
            page.wait_for_function("() => document.getElementById('offline-app').dataset.cached")
            online.append(int(page.eval_on_selector("#offline-app", "e => e.dataset.snapshotMs")))
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        offline = []
        index = []
        for _ in range(5):
            page.goto(counter)
            page.wait_for_function("() => document.getElementById('offline-app').dataset.ready")
            assert page.locator("#off-work").is_visible()
            offline.append(int(page.eval_on_selector("#offline-app", "e => e.dataset.readyMs")))
            index.append(int(page.eval_on_selector("#offline-app", "e => e.dataset.indexMs")))
        context.close()
    return {
        "online_fetch_keep_index_ms": online,
        "offline_ready_from_navigation_ms": offline,
        "offline_index_ms": index,
        "chromium": subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True
        ).stdout.strip(),
    }


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    _pg.log(f"creating {_pg.db_name(url)} and migrating")
    _pg.create_db(url)
    server = None
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(60)
    os.environ["FIELD_ENCRYPTION_KEYS"] = _fernet_key()
    try:
        env = _pg.bench_env(url)
        _pg.migrate(env)
        _pg.django_here(url)
        _pg.log(f"loading one township store with {ns.households} households")
        info = _setup(ns.households)
        from django.db import connections

        connections.close_all()
        port = _free_port()
        server = _pg.start_server(
            env, port=port, workers=ns.web_workers, threads=ns.web_threads, var_dir=VAR_DIR
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, body = _request(
            conn,
            "POST",
            "/api/v1/auth/token",
            {"username": info["username"], "password": info["password"]},
            {},
        )
        conn.close()
        assert status == 200, body
        path = f"/api/v1/stores/{info['store']}/redemptions"
        bearer = {"Content-Type": "application/json", "Authorization": f"Bearer {body['token']}"}
        warm = [({**_body(info, i), "pin": PIN}, {**bearer, "Idempotency-Key": uuid.uuid4().hex})
                for i in range(20)]  # fmt: skip
        _timed(port, warm, path, 201)
        csrf = secrets.token_hex(16)  # the cookie's secret; the page sends it back as the header
        session = {
            "Content-Type": "application/json",
            "Cookie": f"sessionid={info['session']}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "X-Counter-Device": info["token"],
            "Host": f"localhost:{port}",
            "Origin": f"http://localhost:{port}",
            "Referer": f"http://localhost:{port}/counter/store/{info['store']}/",
        }
        at = dt.datetime.fromisoformat(info["enrolled_at"])  # sold after the device was enrolled
        from civicpoints.households import crypto

        seal_key = crypto.pin_seal_public_key()  # the server's: the same SECRET_KEY
        queued = []
        for seq in range(1, ns.sales * ns.rounds + 21):  # the first 20: a warm-up
            key = f"off-{info['device']}-{seq}-{uuid.uuid4()}"
            offline = {
                "seq": seq,
                "offline_at": (at + dt.timedelta(milliseconds=seq)).isoformat(),
                "recorded_by": None,
                "pin_seal": crypto.pin_seal(PIN, key, seal_key),  # as the page seals it
            }
            queued.append(
                (
                    {**_body(info, 10**6 + seq), "offline": offline},
                    {**session, "Idempotency-Key": key},
                )
            )
        _timed(port, queued[:20], path, 201)
        rounds = []
        for r in range(ns.rounds):
            online_requests = [
                ({**_body(info, i), "pin": PIN}, {**bearer, "Idempotency-Key": uuid.uuid4().hex})
                for i in range(ns.sales)
            ]
            _pg.admin_sql(url, "CHECKPOINT")
            _pg.log(
                f"round {r + 1}: {ns.sales} redemptions online and {ns.sales} queued sales"
                f" synced from one device, in turns of {CHUNK}"
            )
            batch = queued[20 + r * ns.sales : 20 + (r + 1) * ns.sales]
            online_run, sync_run = _side_by_side(
                _Sender(port, "POST", path, 201),
                online_requests,
                _Sender(port, "POST", path, 201),
                batch,
            )
            bearer_floor, session_floor = _side_by_side(
                _Sender(port, "GET", "/api/v1/bench/auth", 200),
                [(None, bearer)] * ns.sales,
                _Sender(port, "GET", "/api/v1/bench/session", 200),
                [(None, session)] * ns.sales,
            )
            rounds.append(
                {
                    "online": online_run,
                    "offline_sync": sync_run,
                    "ratio": round(sync_run["per_second"] / online_run["per_second"], 3),
                    "bearer_floor": bearer_floor,
                    "session_floor": session_floor,
                    "floor_ratio": round(
                        session_floor["per_second"] / bearer_floor["per_second"], 3
                    ),
                }
            )
        _pg.log("the whole sync again (a retry after a cut): every one a replay")
        retry_run = _timed(port, queued, path, 201)
        assert retry_run["replayed"] == len(queued), retry_run
        total = len(queued)
        import psycopg

        with psycopg.connect(_pg.conninfo(url)) as db:
            booked = db.execute(
                "SELECT count(*) FROM stores_redemption WHERE source = 'offline'"
            ).fetchone()
            sales = db.execute("SELECT count(*) FROM stores_offlinesale").fetchone()
        assert booked == (total,) and sales == (total,), (booked, sales)
        snapshot = _snapshot_size(port, info, session)
        browser = None if ns.no_browser else _browser(port, info, csrf)
        return {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "web": {"workers": ns.web_workers, "threads": ns.web_threads},
            "rounds": rounds,
            "sync_retried": retry_run,
            "ratio_sync_vs_online_median": statistics.median(r["ratio"] for r in rounds),
            "snapshot": snapshot,
            "browser": browser,
            "goal": "sync >= 0.8 x online; snapshot < 1 MB, ready < 1 s",
        }
    finally:
        if server is not None:
            _pg.stop_server(server)
        from django.db import connections

        connections.close_all()
        if not ns.keep:
            _pg.drop_db(url)


def _snapshot_size(port: int, info: dict[str, Any], session: dict[str, str]) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        conn.request("GET", f"/counter/store/{info['store']}/offline/snapshot/", headers=session)
        response = conn.getresponse()
        body = response.read()
        times.append(time.perf_counter() - t0)
        assert response.status == 200, body[:300]
    conn.request(
        "GET",
        f"/counter/store/{info['store']}/offline/snapshot/",
        headers={**session, "Accept-Encoding": "gzip"},
    )
    gzipped = conn.getresponse()
    zipped = gzipped.read()
    conn.close()
    data = json.loads(body)
    return {
        "households": len(data["households"]),
        "bytes": len(body),
        "bytes_gzip": len(zipped) if gzipped.getheader("Content-Encoding") == "gzip" else None,
        "server_ms_median": round(statistics.median(times) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=500)
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    ns = parser.parse_args()
    ns.database_url = ns.database_url or _pg.default_url("civicpoints_bench_offline")
    result = run(ns)
    if ns.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for n, r in enumerate(result["rounds"], start=1):
        on, off = r["online"], r["offline_sync"]
        print(f"round {n}: online {on['per_second']}/s (p50 {on['p50_ms']} ms, p99 "
              f"{on['p99_ms']} ms); offline sync {off['per_second']}/s (p50 {off['p50_ms']} ms, "
              f"p99 {off['p99_ms']} ms); ratio {r['ratio']}; floors: bearer "
              f"{r['bearer_floor']['per_second']}/s, session {r['session_floor']['per_second']}/s "
              f"(ratio {r['floor_ratio']})")  # fmt: skip
    print(
        f"sync / online, median of rounds = {result['ratio_sync_vs_online_median']} (goal >= 0.8)"
    )
    retry = result["sync_retried"]
    print(f"sync retried: {retry['replayed']} replays, {retry['per_second']}/s")
    snap = result["snapshot"]
    print(f"snapshot: {snap['households']} households, {snap['bytes']} bytes "
          f"(gzip {snap['bytes_gzip']}), built in {snap['server_ms_median']} ms")  # fmt: skip
    if result["browser"]:
        b = result["browser"]
        print(f"chromium ({b['chromium']}): online fetch+keep+index ms "
              f"{b['online_fetch_keep_index_ms']}; offline ready ms "
              f"{b['offline_ready_from_navigation_ms']} (index {b['offline_index_ms']})")  # fmt: skip


if __name__ == "__main__":
    main()
