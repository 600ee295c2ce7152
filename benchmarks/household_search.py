"""Household search over HTTP beside the household detail page, at the demo county's size (issue 10).

    .venv/bin/civicpoints bench search [--households 52767] [--faces page,api] [--clients 8]
        [--duration 8] [--rounds 3] [--kinds one,two,...] [--web-workers 2] [--web-threads 4]
        [--port 18093] [--rebuild] [--database-url URL | --sqlite [PATH]] [--drop] [--json]

1. The database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server of
   ``DATABASE_URL`` with the database ``civicpoints_bench_search``; the name must contain
   ``bench``) is KEPT between runs. It is built when missing, when it holds another number of
   households, or with ``--rebuild``: ``civicpoints demo --households N``. Every run migrates it
   (new migrations, their backfills included, apply to the kept copy) and runs ``VACUUM`` (row
   counts, the visibility map), never ``ANALYZE``: autovacuum is off on this machine, so no
   column statistics exist and no plan may depend on them. The keys the data was written with
   (sessions are signed, ID-number digests keyed) are kept in the table ``bench_search_state``.
   With ``--sqlite`` the same runs on a kept SQLite file (default
   ``$TMPDIR/civicpoints_bench_search.sqlite3``, its keys in ``<file>.keys.json``).
2. Queries drawn from the data (fixed seed), one list per kind: ``one`` (one character of a
   name: a surname or a given-name character), ``two`` (a name's first two characters),
   ``three`` (a head's full three-character name), ``member`` (a spouse's or child's full
   name: found through the member), ``pinyin`` (a head's initials, such as ``wgq``),
   ``phone4`` (the last four digits of a phone on file), ``phone`` (a whole number) and
   ``card`` (a card code). Each client cycles through its own share of every list.
3. Starts the production server on 127.0.0.1:``--port`` (``civicpoints serve --no-scheduler``,
   ``CIVICPOINTS_ENV=production``, ``DEBUG`` off, the connection pool on, gunicorn
   ``--web-workers`` x ``--web-threads``).
4. For each face (``page``: the staff pages ``/households/?q=`` and ``/households/<id>/``;
   ``api``: ``GET /api/v1/households?q=`` and ``GET /api/v1/households/<id>``), all as the
   county admin (the whole county in scope), ``--clients`` client processes with one keep-alive
   connection each GET one endpoint at a time in equal back-to-back phases (``--warmup`` s not
   counted, then ``--duration`` s): ``detail`` (cycling through households), then each query
   kind; the phases in turn for ``--rounds`` rounds, so a change of load on the shared machine
   hits them alike. Every answer must be 200, and every search must find what it looks for.
5. Prints, per round and overall, each kind's requests/s and p99 beside the detail page's
   (goal: rate >= 0.5 x detail and p99 <= 2 x detail's), and CPU ms per request: the server's
   processes plus the PostgreSQL backends of this database, sampled from /proc at the phase's
   edges. ``--drop`` drops the database at the end.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import _pg

DEMO_PASSWORD = "bench-search-demo-password"
STATE_TABLE = "bench_search_state"
DATA_VERSION = 1  # bump when the data below changes: kept databases are rebuilt
KINDS = ("one", "two", "three", "member", "pinyin", "phone4", "phone", "card")
FACES = ("page", "api")
PER_KIND = 400  # queries drawn per kind (shared out among the clients)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the database


def _state(url: str, households: int) -> dict[str, Any] | None:
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


def _var_dir() -> str:
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "civicpoints-bench-search-var")
    os.makedirs(path, exist_ok=True)
    return path


def _env(ns: argparse.Namespace) -> dict[str, str]:
    """The product's production-like environment for this run's database."""
    if not ns.sqlite:
        return _pg.bench_env(ns.database_url)
    env = _pg.bench_env("")
    env.pop("DATABASE_URL", None)
    env["SQLITE_PATH"] = ns.sqlite
    return env


def _prepare_sqlite(ns: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """SQLite: the demo county in a kept file (``--sqlite PATH``), its keys beside it."""
    keys = ns.sqlite + ".keys.json"
    state = None
    if not ns.rebuild and os.path.exists(keys) and os.path.exists(ns.sqlite):
        with open(keys) as f:
            state = json.load(f)
        if state.get("households") != ns.households or state.get("version") != DATA_VERSION:
            state = None
    built_now = state is None
    if state is None:
        for leftover in (ns.sqlite, ns.sqlite + "-wal", ns.sqlite + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        state = {
            "households": ns.households,
            "version": DATA_VERSION,
            "secret_key": secrets.token_urlsafe(60),
            "field_keys": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "built": {},
        }
    os.environ["SECRET_KEY"] = state["secret_key"]
    os.environ["FIELD_ENCRYPTION_KEYS"] = state["field_keys"]
    env = _env(ns)
    env["CIVICPOINTS_VAR_DIR"] = _var_dir()
    _pg.log(f"migrating {ns.sqlite}")
    _pg.migrate(env)
    if built_now:
        _pg.log(f"civicpoints demo --households {ns.households} (SQLite)")
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "civicpoints.cli", "demo", "--households", str(ns.households)]
        subprocess.run(
            [*cmd, "--password", DEMO_PASSWORD], env=env, check=True, stdout=subprocess.DEVNULL
        )
        state["built"]["demo_s"] = round(time.perf_counter() - t0, 1)
        state["built"]["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with open(keys, "w") as f:
            json.dump(state, f)
    os.environ.update(env)
    sys.path.insert(0, str(_pg.REPO / "src"))
    import django

    django.setup()
    return state, built_now


def _prepare(url: str, households: int, rebuild: bool) -> tuple[dict[str, Any], bool]:
    """The database migrated, vacuumed (never analysed) and holding the demo county."""
    state = None if rebuild else _state(url, households)
    built_now = False
    if state is None:
        state = {
            "households": households,
            "secret_key": secrets.token_urlsafe(60),
            "field_keys": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "built": {},
        }
        _pg.log(f"creating {_pg.db_name(url)}")
        _pg.create_db(url)
        _save_state(url, state, create=True)
    # The server and this process share them: sessions are signed, ID-number digests keyed.
    os.environ["SECRET_KEY"] = state["secret_key"]
    os.environ["FIELD_ENCRYPTION_KEYS"] = state["field_keys"]
    env = _pg.bench_env(url)
    env["CIVICPOINTS_VAR_DIR"] = _var_dir()
    _pg.log(f"migrating {_pg.db_name(url)}")
    t0 = time.perf_counter()
    _pg.migrate(env)
    state["built"]["last_migrate_s"] = round(time.perf_counter() - t0, 1)
    if not state["built"].get("demo_s"):
        _pg.log(f"civicpoints demo --households {households}")
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "civicpoints.cli", "demo", "--households", str(households)]
        subprocess.run(
            [*cmd, "--password", DEMO_PASSWORD], env=env, check=True, stdout=subprocess.DEVNULL
        )
        state["built"]["demo_s"] = round(time.perf_counter() - t0, 1)
        state["built"]["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        built_now = True
    _save_state(url, state)
    # Row counts and the visibility map; no ANALYZE (docs/performance.md, "Query plans").
    import psycopg

    with psycopg.connect(_pg.conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM")
    _pg.django_here(url)
    return state, built_now


def _describe() -> dict[str, Any]:
    from django.db import connection

    from civicpoints.households.models import Household, Member

    out: dict[str, Any] = {
        "database": connection.vendor,
        "households": Household.objects.count(),
        "members": Member.objects.count(),
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stats WHERE tablename IN"
                " ('households_household', 'households_member')"
            )
            out["column_statistics_rows"] = cursor.fetchone()[0]  # 0: never analysed
    return out


# --------------------------------------------------------------------------- the queries


def _queries(seed: int = 10) -> dict[str, list[tuple[str, int | None]]]:
    """Per kind, (query, a household id it must find or None) drawn from the data."""
    from civicpoints.households.models import Household, Member, Relation

    rng = random.Random(seed)
    heads = list(
        Household.objects.order_by("pk").values_list("pk", "head_name", "phone", "card_code")
    )
    picked = rng.sample(heads, PER_KIND * 2)
    others = list(
        Member.objects.exclude(relation=Relation.HEAD)
        .order_by("pk")
        .values_list("household_id", "name", "phone")
    )
    members = rng.sample([m for m in others if len(m[1]) == 3], PER_KIND)
    first_keys = dict(
        Household.objects.filter(pk__in=[p[0] for p in picked]).values_list("pk", "search_keys")
    )
    three = [(name, pk) for pk, name, _phone, _card in picked if len(name) == 3][:PER_KIND]
    # A household to find only where the query is rare enough to put it on the first page.
    out: dict[str, list[tuple[str, int | None]]] = {
        "one": [(name[rng.randrange(len(name))], None) for _pk, name, _p, _c in picked[:PER_KIND]],
        "two": [(name[:2], None) for _pk, name, _p, _c in picked[:PER_KIND]],
        "three": three,
        "member": [(name, pk) for pk, name, _phone in members],
        "pinyin": [(first_keys[pk].split()[0], None) for pk, _n, _p, _c in picked[:PER_KIND]],
        "phone4": [(phone[-4:], None) for _pk, _n, phone, _c in picked[:PER_KIND]],
        "phone": [(phone, pk) for pk, _n, phone, _c in picked[:PER_KIND]],
        "card": [(card, pk) for pk, _n, _p, card in picked[:PER_KIND]],
    }
    return out


# --------------------------------------------------------------------------- sessions


def _credentials() -> dict[str, str]:
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.test import Client

    from civicpoints.schemes.models import User
    from civicpoints.schemes.services import api_token_issue

    Session.objects.all().delete()  # the last run's (this database is the benchmark's own)
    user = User.objects.get(username="county-admin")
    c = Client()
    c.force_login(user)
    raw, _row = api_token_issue(user=user)
    return {
        "cookie": f"{settings.SESSION_COOKIE_NAME}={c.cookies[settings.SESSION_COOKIE_NAME].value}",
        "token": raw,
    }


# --------------------------------------------------------------------------- the clients


def _path(face: str, endpoint: str, query: str | int) -> str:
    if endpoint == "detail":
        return f"/households/{query}/" if face == "page" else f"/api/v1/households/{query}"
    q = urllib.parse.quote(str(query))
    return f"/households/?q={q}" if face == "page" else f"/api/v1/households?q={q}"


def _found(face: str, body: bytes, household_id: int) -> bool:
    if face == "api":
        return any(row["id"] == household_id for row in json.loads(body))
    return f'href="/households/{household_id}/"'.encode() in body


def _client(
    port: int,
    credentials: dict[str, str],
    work: dict[str, list[Any]],
    phases: list[tuple[str, str, float, float]],
    out: Any,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: dict[str, list[float]] = {}
    errors: dict[str, dict[str, int]] = {}
    rounds: dict[str, list[int]] = {}
    position = {k: 0 for k in work}
    for face, endpoint, measure_from, stop_at in phases:
        while time.time() < measure_from - 0.5:  # the previous phase's gap
            time.sleep(0.01)
        key = f"{face}:{endpoint}"
        latencies.setdefault(key, [])
        errors.setdefault(key, {})
        rounds.setdefault(key, [])
        done = 0
        headers = {"Accept-Language": "zh-hans"}
        if face == "page":
            headers["Cookie"] = credentials["cookie"]
        else:
            headers["Authorization"] = f"Bearer {credentials['token']}"
        items = work[endpoint]
        while True:
            now = time.time()
            if now >= stop_at:
                break
            query, must_find = items[position[endpoint] % len(items)]
            position[endpoint] += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", _path(face, endpoint, query), headers=headers)
                response = conn.getresponse()
                body = response.read()
                status: int | str = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, body = type(exc).__name__, b""
            elapsed = time.perf_counter() - t0
            if now < measure_from:
                continue
            if status == 200 and must_find is not None and not _found(face, body, must_find):
                status = "not-found"
            if status != 200:
                errors[key][str(status)] = errors[key].get(str(status), 0) + 1
            else:
                latencies[key].append(elapsed)
                done += 1
        rounds[key].append(done)
    out.put({"latencies": latencies, "errors": errors, "rounds": rounds})


# --------------------------------------------------------------------------- CPU from /proc


def _ticks(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, user+system ticks, command line) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().decode(errors="replace").replace("\0", " ")
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), cmd


def _cpu_now(server_pid: int, db: str) -> dict[str, float]:
    """CPU seconds so far of the web server's processes (its session) and of the PostgreSQL
    backends connected to ``db`` (other databases' backends are not counted)."""
    web = pg = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            sid = os.getsid(pid)
        except OSError:
            continue
        found = _ticks(pid)
        if found is None:
            continue
        _ppid, ticks, cmd = found
        if sid == server_pid:
            web += ticks
        elif db and cmd.startswith("postgres: ") and f" {db} " in cmd:
            pg += ticks
    return {"web": web / CLK_TCK, "db": pg / CLK_TCK}


def _sample_cpu(
    server_pid: int, db: str, phases: list[tuple[str, str, float, float]]
) -> list[dict[str, float]]:
    """CPU used in each phase's measured seconds (sampled at its edges, in this process)."""
    used = []
    for _face, _endpoint, measure_from, stop_at in phases:
        time.sleep(max(0.0, measure_from - time.time()))
        before = _cpu_now(server_pid, db)
        time.sleep(max(0.0, stop_at - time.time()))
        after = _cpu_now(server_pid, db)
        used.append({k: after[k] - before[k] for k in before})
    return used


# --------------------------------------------------------------------------- the run


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _schedule(ns: argparse.Namespace, start_at: float) -> list[tuple[str, str, float, float]]:
    """(face, endpoint, measure from, stop at) for every phase, back to back."""
    phases = []
    t = start_at
    for _ in range(ns.rounds):
        for face in ns.faces:
            for endpoint in ("detail", *ns.kinds):
                phases.append((face, endpoint, t + ns.warmup, t + ns.warmup + ns.duration))
                t += ns.warmup + ns.duration + ns.gap
    return phases


def _pct(lat: list[float], q: float) -> float:
    return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    if not _port_free(ns.port):
        raise SystemExit(f"port {ns.port} is in use: pass --port")
    if ns.sqlite:
        state, built_now = _prepare_sqlite(ns)
    else:
        state, built_now = _prepare(url, ns.households, ns.rebuild)
    server = None
    try:
        data = _describe()
        queries = _queries()
        detail_ids = [(pk, None) for _q, pk in queries["card"]]
        credentials = _credentials()
        from django.db import connections

        connections.close_all()
        server = _pg.start_server(
            _env(ns),
            port=ns.port,
            workers=ns.web_workers,
            threads=ns.web_threads,
            var_dir=_var_dir(),
            task_worker=True,
        )
        if not ns.sqlite:
            _pg.admin_sql(url, "CHECKPOINT")
        load_before = round(os.getloadavg()[0], 1)
        queue: Any = mp.Queue()
        start_at = time.time() + 2
        phases = _schedule(ns, start_at)
        total = phases[-1][3] - start_at
        _pg.log(
            f"{ns.clients} clients, {ns.rounds} rounds of detail + {', '.join(ns.kinds)} on "
            f"{', '.join(ns.faces)}, {ns.warmup}+{ns.duration} s each ({total:.0f} s)"
        )
        procs = []
        for c in range(ns.clients):
            work: dict[str, list[Any]] = {"detail": detail_ids[c :: ns.clients]}
            for kind in ns.kinds:
                work[kind] = queries[kind][c :: ns.clients]
            procs.append(
                mp.Process(target=_client, args=(ns.port, credentials, work, phases, queue))
            )
        for p in procs:
            p.start()
        # On SQLite the database's work is done in the server's processes.
        cpu = _sample_cpu(server.pid, "" if ns.sqlite else _pg.db_name(url), phases)
        results = [queue.get(timeout=total + 180) for _ in procs]
        for p in procs:
            p.join()
        load_after = round(os.getloadavg()[0], 1)
    finally:
        if server is not None:
            _pg.stop_server(server)
        from django.db import connections

        connections.close_all()
        if ns.drop and not ns.sqlite:
            _pg.drop_db(url)
    return _summarise(ns, phases, results, cpu, queries) | {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": load_after,
        },
        "database": {
            "name": ns.sqlite or _pg.db_name(url),
            "built_now": built_now,
            "built": state["built"],
        },
        "data": data,
        "clients": ns.clients,
        "web": {"workers": ns.web_workers, "threads": ns.web_threads},
        "phases": {"rounds": ns.rounds, "warmup": ns.warmup, "duration": ns.duration},
        "goal": "rate >= 0.5 x detail and p99 <= 2 x detail's p99",
    }


def _summarise(
    ns: argparse.Namespace,
    phases: list[tuple[str, str, float, float]],
    results: list[dict[str, Any]],
    cpu: list[dict[str, float]],
    queries: dict[str, list[tuple[str, int | None]]],
) -> dict[str, Any]:
    keys = [f"{face}:{e}" for face in ns.faces for e in ("detail", *ns.kinds)]
    cpu_by_key: dict[str, list[dict[str, float]]] = {k: [] for k in keys}
    for (face, endpoint, _a, _b), used in zip(phases, cpu, strict=True):
        cpu_by_key[f"{face}:{endpoint}"].append(used)
    rounds: list[dict[str, Any]] = [{} for _ in range(ns.rounds)]
    overall: dict[str, Any] = {}
    for key in keys:
        lat = sorted(x for r in results for x in r["latencies"][key])
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"][key].items():
                errors[k] = errors.get(k, 0) + v
        if not lat:
            raise RuntimeError(f"no request to {key} succeeded; errors: {errors}")
        per_round = [sum(r["rounds"][key][i] for r in results) for i in range(ns.rounds)]
        web = sum(c["web"] for c in cpu_by_key[key])
        db = sum(c["db"] for c in cpu_by_key[key])
        overall[key] = {
            "requests": len(lat),
            "rps": round(len(lat) / (ns.duration * ns.rounds), 1),
            "p50_ms": _pct(lat, 0.50),
            "p95_ms": _pct(lat, 0.95),
            "p99_ms": _pct(lat, 0.99),
            "cpu_ms_per_request": round(1000 * (web + db) / len(lat), 2),
            "web_cpu_ms": round(1000 * web / len(lat), 2),
            "db_cpu_ms": round(1000 * db / len(lat), 2),
            "errors": errors,
        }
        # Per round: the rate and p99 of that round's phase alone.
        all_lat = [r["latencies"][key] for r in results]
        counts = [r["rounds"][key] for r in results]
        for i in range(ns.rounds):
            lat_i = sorted(
                x
                for client_lat, client_counts in zip(all_lat, counts, strict=True)
                for x in client_lat[sum(client_counts[:i]) : sum(client_counts[: i + 1])]
            )
            used = cpu_by_key[key][i]
            rounds[i][key] = {
                "rps": round(per_round[i] / ns.duration, 1),
                "p99_ms": _pct(lat_i, 0.99) if lat_i else None,
                "cpu_ms_per_request": round(
                    1000 * (used["web"] + used["db"]) / max(1, len(lat_i)), 2
                ),
            }
    return {
        "overall": overall,
        "rounds": rounds,
        "examples": {k: [q for q, _pk in v[:5]] for k, v in queries.items() if k in ns.kinds},
    }


def _table(r: dict[str, Any], ns: argparse.Namespace) -> str:
    lines = [
        f"clients {r['clients']}, gunicorn {r['web']['workers']} workers x "
        f"{r['web']['threads']} threads, {r['phases']['rounds']} rounds x "
        f"{r['phases']['duration']} s per endpoint, load {r['machine']['load_before']} -> "
        f"{r['machine']['load_after']}",
        f"data: {json.dumps(r['data'], ensure_ascii=False)}",
        f"queries, e.g.: {json.dumps(r['examples'], ensure_ascii=False)}",
    ]

    def block(title: str, rows: dict[str, Any], full: bool) -> None:
        lines.append("")
        lines.append(title)
        head = f"{'face':<6}{'kind':<8}{'req/s':>8}{'/detail':>9}{'p99 ms':>9}{'/detail':>9}"
        head += f"{'cpu ms':>9}"
        if full:
            head += f"{'p50 ms':>9}{'p95 ms':>9}{'web ms':>8}{'db ms':>8}  goal"
        lines.append(head)
        for face in ns.faces:
            detail = rows[f"{face}:detail"]
            for endpoint in ("detail", *ns.kinds):
                e = rows[f"{face}:{endpoint}"]
                rate = e["rps"] / detail["rps"] if detail["rps"] else 0.0
                p99 = (e["p99_ms"] or 0) / detail["p99_ms"] if detail["p99_ms"] else 0.0
                line = (
                    f"{face:<6}{endpoint:<8}{e['rps']:>8}{rate:>9.2f}{e['p99_ms']:>9}"
                    f"{p99:>9.2f}{e['cpu_ms_per_request']:>9}"
                )
                if full:
                    met = (
                        "-"
                        if endpoint == "detail"
                        else ("met" if rate >= 0.5 and p99 <= 2 else "MISSED")
                    )
                    line += (
                        f"{e['p50_ms']:>9}{e['p95_ms']:>9}{e['web_cpu_ms']:>8}"
                        f"{e['db_cpu_ms']:>8}  {met}"
                        + (f"  errors {e['errors']}" if e["errors"] else "")
                    )
                lines.append(line)

    for i, rows in enumerate(r["rounds"], 1):
        block(f"round {i}", rows, full=False)
    block("all rounds", r["overall"], full=True)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=52767)
    parser.add_argument("--faces", default=",".join(FACES), help=f"some of {','.join(FACES)}")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"some of {','.join(KINDS)}")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--gap", type=float, default=1, help="seconds between phases")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=18093)
    parser.add_argument("--database-url", default=_pg.default_url("civicpoints_bench_search"))
    parser.add_argument(
        "--sqlite",
        nargs="?",
        const=os.path.join(os.environ.get("TMPDIR", "/tmp"), "civicpoints_bench_search.sqlite3"),
        help="run on a kept SQLite file instead (default path in $TMPDIR)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the kept database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args(argv)
    ns.faces = [f for f in ns.faces.split(",") if f]
    ns.kinds = [k for k in ns.kinds.split(",") if k]
    if set(ns.faces) - set(FACES) or not ns.faces:
        parser.error(f"--faces: some of {','.join(FACES)}")
    if set(ns.kinds) - set(KINDS) or not ns.kinds:
        parser.error(f"--kinds: some of {','.join(KINDS)}")
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result, ns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
