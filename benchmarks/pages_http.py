"""Everyday pages over HTTP on the production server, beside a minimal logged-in page (issue 8).

    .venv/bin/civicpoints bench pages [--households 52767] [--clients 8] [--duration 8]
        [--rounds 3] [--web-workers 2] [--web-threads 4] [--port 18091] [--rebuild]
        [--database-url URL] [--drop] [--json]

1. The database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server of
   ``DATABASE_URL`` with the database ``civicpoints_bench_pages``; the name must contain
   ``bench``) is KEPT between runs: building it takes 10-15 minutes. It is built when it is
   missing or holds another number of households, or with ``--rebuild``; a build that stopped
   half-way resumes at its next step. The build: ``civicpoints demo --households N`` (timed),
   then a county's evaluation months through the real import (``claim_import_file`` by the
   county admin): two months posted by ``notices_finalize`` (history), the current month on
   notice, 1 % awaiting township review, 10 % in review, objections to 100 claims on notice
   (back in review), then ``VACUUM`` (no ``ANALYZE``). The keys the data was written with (PIN
   hashes are keyed, sessions signed) are kept beside it in the table ``bench_pages_state``.
   Every run migrates first, so new migrations apply to the kept copy.
2. Logs in (through the real login views, in this process): ``--clients`` x 25 residents of
   villages across the county (card + the demo PIN), the demo village admin (晓光村) and the
   county admin, once per client each.
3. Starts the production server on 127.0.0.1:``--port`` (``civicpoints serve --no-scheduler``,
   ``CIVICPOINTS_ENV=production``, ``DEBUG`` off, the connection pool on, gunicorn
   ``--web-workers`` x ``--web-threads``) with ``CIVICPOINTS_BENCH=1``, which serves the floor
   page ``/bench/floor/`` (``ops/views.py``: session + user + two bytes).
4. ``--clients`` client processes, one keep-alive connection each, GET one endpoint at a time in
   equal back-to-back phases (``--warmup`` s not counted, then ``--duration`` s), the phases in
   turn for ``--rounds`` rounds so that a change of load on the machine hits every endpoint
   alike: ``floor`` (village admin's session), ``layout`` (the same with ``?layout=1``: an empty
   page in the staff layout, what every staff page costs before its own content), ``home``
   (``/m/``, each client cycling through its 25 residents), ``history`` (``/m/history/``, the
   same residents; no goal), ``queue`` (``/claims/`` as the
   village admin) and ``queue-county`` (``/claims/`` as the county admin). Every answer must be
   200.
5. Prints requests/s, p50/p95/p99 per endpoint and each page's rate and p99 against the floor's
   (goal: rate >= 0.5 of the floor's). ``--drop`` drops the database at the end.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import io
import json
import multiprocessing as mp
import os
import platform
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import _pg

DEMO_PASSWORD = "bench-pages-demo-password"
RESIDENTS_PER_CLIENT = 25
STATE_TABLE = "bench_pages_state"
DATA_VERSION = 1  # bump when the data below changes: kept databases are rebuilt
ENDPOINTS = ("floor", "layout", "home", "history", "queue", "queue-county")
PATHS = {
    "floor": "/bench/floor/",
    "layout": "/bench/floor/?layout=1",
    "home": "/m/",
    "history": "/m/history/",
    "queue": "/claims/",
    "queue-county": "/claims/",
}


# --------------------------------------------------------------------------- the database


def _state(url: str, households: int) -> dict[str, Any] | None:
    """The kept database's keys and finished build steps, if it is this benchmark's for
    ``households`` (a build that stopped half-way is resumed from its next step)."""
    import psycopg

    try:
        conn = psycopg.connect(_pg.conninfo(url), autocommit=True)
    except psycopg.OperationalError:
        return None
    with conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (STATE_TABLE,)).fetchone()
        if not row or not row[0]:
            return None
        found = conn.execute(
            f"SELECT households, version, secret_key, field_keys, built FROM {STATE_TABLE}"
        ).fetchone()
    if found is None or found[0] != households or found[1] != DATA_VERSION:
        return None
    return {
        "households": found[0],
        "secret_key": found[2],
        "field_keys": found[3],
        "built": found[4],
    }


def _save_state(url: str, state: dict[str, Any], *, create: bool = False) -> None:
    import psycopg

    with psycopg.connect(_pg.conninfo(url), autocommit=True) as conn:
        if create:
            conn.execute(
                f"CREATE TABLE {STATE_TABLE} (households int, version int, secret_key text,"
                " field_keys text, built jsonb)"
            )
            conn.execute(
                f"INSERT INTO {STATE_TABLE} VALUES (%s, %s, %s, %s, %s)",
                (
                    state["households"],
                    DATA_VERSION,
                    state["secret_key"],
                    state["field_keys"],
                    json.dumps(state["built"]),
                ),
            )
        else:
            conn.execute(f"UPDATE {STATE_TABLE} SET built = %s", (json.dumps(state["built"]),))


def _keys(state: dict[str, Any]) -> None:
    # The server and this process share them: sessions are signed, PIN hashes keyed.
    os.environ["SECRET_KEY"] = state["secret_key"]
    os.environ["FIELD_ENCRYPTION_KEYS"] = state["field_keys"]


def _prepare(url: str, households: int, rebuild: bool) -> tuple[dict[str, Any], bool]:
    """The database migrated and holding the data; (state, whether anything was built now)."""
    state = None if rebuild else _state(url, households)
    if state is None:
        state = {
            "households": households,
            "secret_key": secrets.token_urlsafe(60),
            "field_keys": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "built": {"steps": {}},
        }
        _pg.log(f"creating {_pg.db_name(url)}")
        _pg.create_db(url)
        _save_state(url, state, create=True)
    _keys(state)
    steps: dict[str, float] = state["built"]["steps"]
    env = _pg.bench_env(url)
    env["CIVICPOINTS_VAR_DIR"] = _var_dir()
    _pg.log(f"migrating {_pg.db_name(url)}")
    _pg.migrate(env)
    if state["built"].get("complete"):
        _pg.django_here(url)
        return state, False
    if "demo" not in steps:
        _pg.log(f"civicpoints demo --households {households}")
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "civicpoints.cli", "demo", "--households", str(households)]
        subprocess.run(
            [*cmd, "--password", DEMO_PASSWORD], env=env, check=True, stdout=subprocess.DEVNULL
        )
        steps["demo"] = round(time.perf_counter() - t0, 1)
        _save_state(url, state)
    _pg.django_here(url)
    for name, step in _steps():
        if name in steps:
            continue
        t0 = time.perf_counter()
        what = step()
        steps[name] = round(time.perf_counter() - t0, 1)
        _pg.log(f"{name}: {what} in {steps[name]} s")
        _save_state(url, state)
    from django.db import connection

    with connection.cursor() as cursor:
        # The visibility map (index-only scans) and row counts; no ANALYZE: with autovacuum off
        # no column statistics exist, and no plan may depend on them (docs/performance.md).
        cursor.execute("VACUUM")
    state["built"]["complete"] = True
    state["built"]["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    _save_state(url, state)
    return state, True


def _var_dir() -> str:
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "civicpoints-bench-pages-var")
    os.makedirs(path, exist_ok=True)
    return path


def _sheet(rows: list[list[Any]]) -> bytes:
    from civicpoints.awards.importing.sheet import write_xlsx

    out = io.BytesIO()
    write_xlsx(rows, out)
    return out.getvalue()


def _steps() -> list[tuple[str, Callable[[], str]]]:
    """A county's evaluation months through the real import (``claim_import_file`` by the
    county admin), each step one import or one finalize run: history, notice, review queue.
    Imported today (the demo's rules are in force from today) with earlier dates."""
    from django.utils import timezone

    today = timezone.localdate()
    now = timezone.now()
    two, one = today - dt.timedelta(days=61), today - dt.timedelta(days=31)
    # This month's claims are dated before the demo's own (its last five days).
    this = today - dt.timedelta(days=8)

    def load(
        code: str,
        name: str,
        qty: Any,
        day: dt.date,
        *,
        every: int = 1,
        note: str = "",
        witness: str = "",
        approve: bool = True,
    ) -> Callable[[], str]:
        return lambda: _import(code, name, qty, day, every, note, witness, approve)

    def finalize() -> str:
        from civicpoints.awards.services import notices_finalize

        posted = 0
        while True:
            batch = notices_finalize(at=now + dt.timedelta(days=30))
            posted += batch.count
            if batch.count == 0:
                return f"{posted} claims posted"

    return [
        # Two months back, posted: everyone's bottles; then village work, cleaning for a fifth.
        ("m-2-B01", load("B01", "回收农药瓶", lambda i: 10 + i % 50, two)),
        ("m-2-finalize", finalize),
        ("m-1-V02", load("V02", "参加村集体义务劳动", 1, one)),
        ("m-1-E03", load("E03", "环境卫生整治", 2, one, every=5)),
        ("m-1-finalize", finalize),
        # This month: on notice (mutual help for all, a deduction for one in 50), awaiting
        # township review (最美家庭, above its threshold) for one in 100, in review for one in 10.
        ("notice-H01", load("H01", "邻里互助（帮工）", 2, this, witness="王会计")),
        ("notice-D01", load("D01", "违反村规民约", 1, this, every=50, note="焚烧秸秆")),
        ("township-F02", load("F02", "最美家庭", 1, this, every=100, note="孝老爱亲，邻里和睦")),
        ("review-E03", load("E03", "环境卫生整治", 3, this, every=10, approve=False)),
        ("objections", _objections),
    ]


def _import(
    code: str,
    name: str,
    quantity: Any,
    day: dt.date,
    every: int,
    note: str,
    witness: str,
    approve: bool,
) -> str:
    from decimal import Decimal

    from civicpoints.awards.importing import claim_import_file
    from civicpoints.households.models import Household, HouseholdStatus
    from civicpoints.schemes.models import Scheme, User
    from civicpoints.schemes.scope import actor_for_user

    scheme = Scheme.objects.get()
    homes = (
        Household.objects.filter(scheme=scheme)
        .exclude(status=HouseholdStatus.CLOSED)
        .order_by("pk")
        .values_list("card_code", "head_name", "village__name", "village__parent__name")
    )
    rows = [
        [
            township,
            village,
            head,
            "",
            "",
            code,
            name,
            Decimal(quantity(i) if callable(quantity) else quantity),
            day,
            note,
            witness,
            card,
        ]
        for i, (card, head, village, township) in enumerate(homes)
        if i % every == 0
    ]
    result = claim_import_file(
        actor=actor_for_user(User.objects.get(username="county-admin")),
        scheme=scheme,
        file_bytes=_sheet(rows),
        filename=f"{code}-{day:%Y%m%d}.xlsx",
        approve=approve,
    )
    return f"{result.created} claims ({result.on_notice} on notice)"


def _objections() -> str:
    """A neighbour objects to some claims on notice (in the demo village and elsewhere)."""
    from civicpoints.awards.models import Claim, ClaimStatus
    from civicpoints.awards.services import claim_object
    from civicpoints.households.models import Household

    on_notice = Claim.objects.filter(status=ClaimStatus.ON_NOTICE).order_by("pk")
    demo_village = list(on_notice.filter(village__name="晓光村").values_list("pk", flat=True)[:40])
    county_wide = list(on_notice.values_list("pk", flat=True))[::997][:60]
    objected = 0
    for claim_id in [*demo_village, *county_wide]:
        claim = Claim.objects.select_related("village").get(pk=claim_id)
        neighbour = (
            Household.objects.filter(village_id=claim.village_id)
            .exclude(pk=claim.household_id)
            .order_by("pk")
            .first()
        )
        try:
            claim_object(claim=claim, objector=neighbour, reason="当天他不在村里，请村里核实")
        except Exception as exc:  # one refused objection must not stop the build
            _pg.log(f"objection to claim {claim_id} not recorded: {exc}")
            continue
        objected += 1
    return f"{objected} objections"


def _describe() -> dict[str, Any]:
    """What the pages have to show: rows by status, the demo village's share, history size."""
    from django.db.models import Count

    from civicpoints.awards.models import Claim, ClaimEvent
    from civicpoints.households.models import Household
    from civicpoints.ledger.models import Entry, Posting

    claims = dict(Claim.objects.values_list("status").annotate(n=Count("pk")))
    village = dict(
        Claim.objects.filter(village__name="晓光村").values_list("status").annotate(n=Count("pk"))
    )
    return {
        "households": Household.objects.count(),
        "demo_village_households": Household.objects.filter(village__name="晓光村").count(),
        "claims": claims,
        "demo_village_claims": village,
        "claim_events": ClaimEvent.objects.count(),
        "postings": Posting.objects.count(),
        "entries": Entry.objects.count(),
    }


# --------------------------------------------------------------------------- sessions


def _sessions(clients: int) -> list[dict[str, Any]]:
    """Per client: session cookies of its residents, the village admin and the county admin."""
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.test import Client

    from civicpoints.demo.county import DEMO_PIN
    from civicpoints.households.models import Household, HouseholdStatus
    from civicpoints.schemes.models import User

    Session.objects.all().delete()  # the last run's (this database is the benchmark's own)
    cookie = settings.SESSION_COOKIE_NAME
    wanted = clients * RESIDENTS_PER_CLIENT
    # Residents spread over the county: every k-th household, a fifth of them in the demo
    # village (it holds a tenth of the county, and its notice board is the longest).
    base = Household.objects.exclude(status=HouseholdStatus.CLOSED).order_by("pk")
    total = base.count()
    spread = list(
        base.values_list("pk", "card_code")[:: max(1, total // wanted)][: wanted - wanted // 5]
    )
    demo = list(
        base.filter(village__name="晓光村").values_list("pk", "card_code")[: wanted // 5 * 7 : 7]
    )
    picked = (spread + demo)[:wanted]
    resident_cookies = []
    for _pk, card in picked:
        c = Client()
        response = c.post("/m/login/", {"card": card, "pin": DEMO_PIN})
        if response.status_code != 302 or cookie not in c.cookies:
            raise RuntimeError(f"resident login failed for card {card}: {response.status_code}")
        resident_cookies.append(c.cookies[cookie].value)

    def staff(username: str) -> str:
        c = Client()
        c.force_login(User.objects.get(username=username))
        return c.cookies[cookie].value

    return [
        {
            "residents": resident_cookies[i::clients],
            "village": staff("village-admin"),
            "county": staff("county-admin"),
            "cookie": cookie,
        }
        for i in range(clients)
    ]


# --------------------------------------------------------------------------- the clients


def _schedule(ns: argparse.Namespace, start_at: float) -> list[tuple[str, float, float]]:
    """(endpoint, measure from, stop at) for every phase, back to back."""
    phases = []
    t = start_at
    for _ in range(ns.rounds):
        for name in ns.endpoints:
            phases.append((name, t + ns.warmup, t + ns.warmup + ns.duration))
            t += ns.warmup + ns.duration + ns.gap
    return phases


def _client(
    port: int, sessions: dict[str, Any], phases: list[tuple[str, float, float]], out: Any
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    residents = sessions["residents"]
    name = sessions["cookie"]
    latencies: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
    bytes_read: dict[str, int] = {e: 0 for e in ENDPOINTS}
    errors: dict[str, dict[str, int]] = {e: {} for e in ENDPOINTS}
    i = 0
    for endpoint, measure_from, stop_at in phases:
        while time.time() < measure_from - 0.5:  # the previous phase's gap
            time.sleep(0.01)
        path = PATHS[endpoint]
        while True:
            now = time.time()
            if now >= stop_at:
                break
            if endpoint in ("home", "history"):
                session = residents[i % len(residents)]
                i += 1
            elif endpoint == "queue-county":
                session = sessions["county"]
            else:
                session = sessions["village"]
            t0 = time.perf_counter()
            try:
                conn.request(
                    "GET",
                    path,
                    headers={"Cookie": f"{name}={session}", "Accept-Language": "zh-hans"},
                )
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, body = type(exc).__name__, b""
            elapsed = time.perf_counter() - t0
            if now < measure_from:
                continue
            if status != 200:
                errors[endpoint][str(status)] = errors[endpoint].get(str(status), 0) + 1
            else:
                latencies[endpoint].append(elapsed)
                bytes_read[endpoint] += len(body)
    out.put({"latencies": latencies, "bytes": bytes_read, "errors": errors})


# --------------------------------------------------------------------------- the run


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    if not _port_free(ns.port):
        raise SystemExit(f"port {ns.port} is in use: pass --port")
    state, built_now = _prepare(url, ns.households, ns.rebuild)
    server = None
    try:
        data = _describe()
        _pg.log(f"logging in {ns.clients * RESIDENTS_PER_CLIENT} residents and the staff")
        sessions = _sessions(ns.clients)
        from django.db import connections

        connections.close_all()
        server = _pg.start_server(
            _pg.bench_env(url),
            port=ns.port,
            workers=ns.web_workers,
            threads=ns.web_threads,
            var_dir=_var_dir(),
            task_worker=True,
        )
        _pg.admin_sql(url, "CHECKPOINT")
        load_before = _load()
        queue: Any = mp.Queue()
        start_at = time.time() + 2
        phases = _schedule(ns, start_at)
        total = phases[-1][2] - start_at
        _pg.log(
            f"{ns.clients} clients, {ns.rounds} rounds of {', '.join(ns.endpoints)}, "
            f"{ns.warmup}+{ns.duration} s each ({total:.0f} s)"
        )
        procs = [mp.Process(target=_client, args=(ns.port, s, phases, queue)) for s in sessions]
        for p in procs:
            p.start()
        results = [queue.get(timeout=total + 180) for _ in procs]
        for p in procs:
            p.join()
        load_after = _load()
    finally:
        if server is not None:
            _pg.stop_server(server)
        from django.db import connections

        connections.close_all()
        if ns.drop:
            _pg.drop_db(url)
    measured = ns.duration * ns.rounds
    endpoints: dict[str, Any] = {}
    for e in ns.endpoints:
        lat = sorted(x for r in results for x in r["latencies"][e])
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"][e].items():
                errors[k] = errors.get(k, 0) + v
        if not lat:
            raise RuntimeError(f"no request to {e} succeeded; errors: {errors}")

        def pct(q: float, lat: list[float] = lat) -> float:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)

        endpoints[e] = {
            "path": PATHS[e],
            "requests": len(lat),
            "rps": round(len(lat) / measured, 1),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "bytes_avg": round(sum(r["bytes"][e] for r in results) / len(lat)),
            "errors": errors,
        }
    floor = endpoints.get("floor")
    ratios = {}
    if floor:
        for e in ns.endpoints:
            if e != "floor":
                ratios[e] = {
                    "rps_vs_floor": round(endpoints[e]["rps"] / floor["rps"], 2),
                    "p99_ms": endpoints[e]["p99_ms"],
                    "floor_p99_ms": floor["p99_ms"],
                }
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": load_before,
            "load_after": load_after,
        },
        "database": {"name": _pg.db_name(url), "built_now": built_now, "built": state["built"]},
        "data": data,
        "clients": ns.clients,
        "web": {"workers": ns.web_workers, "threads": ns.web_threads},
        "phases": {"rounds": ns.rounds, "warmup": ns.warmup, "duration": ns.duration},
        "endpoints": endpoints,
        "vs_floor": ratios,
        "goal": "rps >= 0.5 x floor",
    }


def _table(r: dict[str, Any]) -> str:
    lines = [
        f"clients {r['clients']}, gunicorn {r['web']['workers']} workers x {r['web']['threads']} "
        f"threads, {r['phases']['rounds']} rounds x {r['phases']['duration']} s per endpoint, "
        f"load {r['machine']['load_before']} -> {r['machine']['load_after']}",
        f"data: {json.dumps(r['data'], ensure_ascii=False)}",
        "",
        f"{'endpoint':<14}{'path':<24}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'bytes':>8}  errors",
    ]
    for name, e in r["endpoints"].items():
        lines.append(
            f"{name:<14}{e['path']:<24}{e['rps']:>8}{e['p50_ms']:>9}{e['p95_ms']:>9}"
            f"{e['p99_ms']:>9}{e['bytes_avg']:>8}  {e['errors'] or '-'}"
        )
    lines.append("")
    for name, v in r["vs_floor"].items():
        met = "met" if v["rps_vs_floor"] >= 0.5 else "MISSED"
        if name in ("layout", "history"):
            met = "no goal"
        lines.append(
            f"{name:<14} rate/floor {v['rps_vs_floor']:>5}  (goal >= 0.5: {met});"
            f"  p99 {v['p99_ms']} ms vs floor {v['floor_p99_ms']} ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=52767)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--gap", type=float, default=1, help="seconds between phases")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINTS), help=f"some of {','.join(ENDPOINTS)}"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=18091)
    parser.add_argument("--database-url", default=_pg.default_url("civicpoints_bench_pages"))
    parser.add_argument("--rebuild", action="store_true", help="rebuild the kept database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args(argv)
    ns.endpoints = [e for e in ns.endpoints.split(",") if e]
    unknown = set(ns.endpoints) - set(ENDPOINTS)
    if unknown or not ns.endpoints:
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
