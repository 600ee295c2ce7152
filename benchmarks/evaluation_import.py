"""A county's monthly evaluation sheet, from upload to posted points, against a set-based bound.

    .venv/bin/python benchmarks/evaluation_import.py [--households 20000] [--rows 50000]
        [--rounds 3] [--approve-sample 1000] [--database-url URL] [--json] [--keep] [--reuse]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench_import``, else
   ``postgres://postgres@127.0.0.1:5432/civicpoints_bench_import``; the name must contain
   ``bench``), migrates it with ``civicpoints migrate`` and, in a child process, loads a county
   (10 townships x 20 villages), the demo rule catalogue, N households
   (``households_bulk_create``) and a county admin; then writes the sheet: R rows (every
   household gets 回收农药瓶, then 参加村集体义务劳动, then 邻里互助 with a witness, ...) as an
   .xlsx the way the template is filled in.
2. ``notice``: in a fresh child process (its peak RSS from ``os.wait4`` is the memory figure),
   from the file's bytes: ``claim_import_preview`` (read, check, keep the upload) and
   ``claim_import_commit`` with ``approve`` (the set-based village approval: claims go straight
   to notice). The database as it stands then is kept as ``<name>_notice`` (a template copy).
3. ``rounds`` (default 3), each on a fresh file copy of ``<name>_notice`` for each side, the
   order alternating between rounds:
   * product: ``notices_finalize(at=far future)`` until nothing is left, in a fresh process;
     its wall time, its own CPU and its PostgreSQL backend's CPU (``/proc``) per claim;
   * bound: the same rows written by a handful of set-based statements in one transaction
     (``BOUND`` below), with the product's triggers and constraints in force.
   Prints both times, their ratio (goal: finalize <= 1.5 x the bound) and upload -> posted
   (preview + commit + that round's finalize).
4. ``claim_approve`` per claim, for comparison (``--approve-sample`` further rows), and the
   same R rows through PostgreSQL ``COPY`` into a plain table, for the record.
5. Both databases are dropped at the end unless ``--keep``; ``--reuse`` starts again from a
   ``<name>_notice`` kept earlier (no set-up, no import).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _pg
from _pg import admin_sql as _admin_sql
from _pg import bench_env as _bench_env
from _pg import conninfo as _conninfo
from _pg import db_name as _db_name
from _pg import log as _log

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/civicpoints_bench_import"
HEADER = [
    "乡镇",
    "村",
    "户主姓名",
    "身份证号",
    "手机号",
    "细则编号",
    "细则名称",
    "数量",
    "发生日期",
    "说明",
    "证明人",
]
# (code, name, quantity, note, witness): in this order each household gets one row per pass.
PASSES = [
    ("B01", "回收农药瓶", 40, "", ""),
    ("V02", "参加村集体义务劳动", 1, "", ""),
    ("H01", "邻里互助（帮工）", 2, "", "王会计"),
    ("E03", "环境卫生整治", 3, "", ""),
    ("D01", "违反村规民约", 1, "焚烧秸秆", ""),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"


# --------------------------------------------------------------------------- databases


# --------------------------------------------------------------------------- child phases


def _default_url() -> str:
    return _pg.default_url(_db_name(DEFAULT_URL))


def _django() -> None:
    sys.path.insert(0, str(REPO / "src"))
    import django

    django.setup()


def _an_id(n: int) -> str:
    from civicpoints.households import idcard

    born = dt.date(1940, 1, 1) + dt.timedelta(days=n)
    return idcard.make(f"220822{born:%Y%m%d}{n % 1000:03d}")


def _name(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + "考评" + str(n)


def phase_setup(households: int, rows: int, workdir: Path) -> dict[str, Any]:
    """County, rules, households, a county admin; the sheet as .xlsx and as CSV."""
    _django()
    import xlsxwriter
    from django.utils import timezone

    from civicpoints.households.services import NewHousehold, households_bulk_create
    from civicpoints.rules.catalogue import load_catalogue
    from civicpoints.schemes.models import Region, RegionLevel, Role, User
    from civicpoints.schemes.services import region_create, role_grant, scheme_create

    t0 = time.perf_counter()
    province = region_create(code="220000000000", name="吉林省", level=RegionLevel.PROVINCE)
    city = region_create(
        code="220800000000", name="白城市", level=RegionLevel.CITY, parent=province
    )
    county = region_create(
        code="220822000000", name="通榆县", level=RegionLevel.COUNTY, parent=city
    )
    villages: list[Region] = []
    for t in range(10):
        township = region_create(
            code=f"2208221{t:02d}000",
            name=f"第{t + 1}镇",
            level=RegionLevel.TOWNSHIP,
            parent=county,
        )
        for v in range(20):
            villages.append(
                region_create(
                    code=f"2208221{t:02d}2{v:02d}",
                    name=f"第{t + 1}镇{v + 1}村",
                    level=RegionLevel.VILLAGE,
                    parent=township,
                )
            )
    scheme = scheme_create(name="通榆县文明积分", operator_region=county)
    load_catalogue(scheme=scheme)
    admin = User.objects.create_user(username="bench-county", password="bench-county-password")
    role_grant(user=admin, scheme=scheme, region=county, role=Role.COUNTY_ADMIN)
    home = [villages[n % len(villages)] for n in range(households)]
    households_bulk_create(
        actor_id=None,
        scheme=scheme,
        rows=[
            NewHousehold(village_id=home[n].pk, head_name=_name(n), id_number=_an_id(n))
            for n in range(households)
        ],
    )
    loaded = time.perf_counter() - t0

    day = timezone.localdate() - dt.timedelta(days=1)
    township_of = {
        v.pk: v.parent.name
        for v in Region.objects.filter(pk__in=[v.pk for v in villages]).select_related("parent")
    }

    def sheet_row(n: int, offset: int = 0) -> list[Any]:
        code, rule_name, quantity, note, witness = PASSES[(n // households + offset) % len(PASSES)]
        h = n % households
        village = home[h]
        return [
            township_of[village.pk],
            village.name,
            _name(h),
            _an_id(h),
            "",
            code,
            rule_name,
            quantity,
            day,
            note,
            witness,
        ]

    def write_xlsx(path: Path, lines: list[list[Any]]) -> None:
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        sheet = book.add_worksheet("积分申报")
        text = book.add_format({"num_format": "@"})
        date = book.add_format({"num_format": "yyyy-mm-dd"})
        for c, header in enumerate(HEADER):
            sheet.write_string(0, c, header, text)
        for r, cells in enumerate(lines, start=1):
            for c, value in enumerate(cells):
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, value, date)
                elif isinstance(value, int):
                    sheet.write_number(r, c, value)
                elif value:
                    sheet.write_string(r, c, value, text)
        book.close()

    lines = [sheet_row(n) for n in range(rows)]
    write_xlsx(workdir / "sheet.xlsx", lines)
    with (workdir / "sheet.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows([*r[:8], f"{r[8]:%Y-%m-%d}", *r[9:]] for r in lines)
    # The approve sample: later passes for the first households, so no duplicates.
    sample = [sheet_row(n, offset=rows // households + 1) for n in range(min(rows, 1000))]
    write_xlsx(workdir / "sample.xlsx", sample)
    return {
        "scheme": scheme.pk,
        "user": admin.username,
        "households": households,
        "rows": rows,
        "villages": len(villages),
        "load_seconds": round(loaded, 2),
        "xlsx_bytes": (workdir / "sheet.xlsx").stat().st_size,
        "csv_bytes": (workdir / "sheet.csv").stat().st_size,
    }


def _backend_cpu(connection: Any) -> tuple[int, float]:
    """This process's PostgreSQL backend: its pid and CPU seconds so far (from /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid, _proc_cpu(pid)


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # the server runs elsewhere
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def phase_notice(scheme_id: int, username: str, workdir: Path) -> dict[str, Any]:
    """Upload to on notice: preview and commit with approval, in this (fresh) process."""
    _django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicpoints.awards.importing import claim_import_commit, claim_import_preview
    from civicpoints.ledger.models import AccountKind
    from civicpoints.ledger.services import system_account
    from civicpoints.schemes.models import Scheme, User
    from civicpoints.schemes.scope import actor_for_user

    scheme = Scheme.objects.select_related("operator_region").get(pk=scheme_id)
    actor = actor_for_user(User.objects.get(username=username))
    data = (workdir / "sheet.xlsx").read_bytes()
    t0 = time.perf_counter()
    preview = claim_import_preview(
        actor=actor, scheme=scheme, file_bytes=data, filename="sheet.xlsx", approve=True
    )
    t_preview = time.perf_counter() - t0
    if not preview.ok:
        raise SystemExit("preview failed: " + "; ".join(str(e) for e in preview.errors[:5]))
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as commit_queries:
        result = claim_import_commit(actor=actor, scheme=scheme, token=preview.token)
    t_commit = time.perf_counter() - t0
    # The issuance account exists before the first finalize in a running scheme; both the
    # product and the bound below start from the same state.
    system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE)
    return {
        "rows": preview.total_rows,
        "claims": result.created,
        "preview_seconds": round(t_preview, 2),
        "commit_seconds": round(t_commit, 2),
        "commit_queries": len(commit_queries.captured_queries),
        "rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def phase_finalize(scheme_id: int) -> dict[str, Any]:
    """On notice to posted: ``notices_finalize`` until nothing is left, in a fresh process."""
    _django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from civicpoints.awards.models import Claim, ClaimStatus
    from civicpoints.awards.services import notices_finalize

    far = timezone.now() + dt.timedelta(days=3650)
    connection.ensure_connection()
    backend, backend0 = _backend_cpu(connection)
    own0 = _own_cpu()
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as first_queries:
        first = notices_finalize(at=far, scheme_id=scheme_id, limit=200)
    posted = first.count
    while True:
        batch = notices_finalize(at=far, scheme_id=scheme_id)
        posted += batch.count
        if batch.count == 0:
            break
    seconds = time.perf_counter() - t0
    client = _own_cpu() - own0
    server = _proc_cpu(backend) - backend0
    in_db = Claim.objects.filter(scheme_id=scheme_id, status=ClaimStatus.POSTED).count()
    return {
        "posted": posted,
        "posted_in_db": in_db,
        "seconds": round(seconds, 2),
        "client_cpu_ms_per_claim": round(1000 * client / max(posted, 1), 3),
        "server_cpu_ms_per_claim": round(1000 * server / max(posted, 1), 3),
        "queries_per_claim": round(len(first_queries.captured_queries) / max(first.count, 1), 2),
    }


def phase_approve(scheme_id: int, username: str, workdir: Path, sample_size: int) -> dict[str, Any]:
    """``claim_approve`` one claim at a time, for comparison (a further small import)."""
    _django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicpoints.awards.importing import claim_import_commit, claim_import_preview
    from civicpoints.awards.models import Claim
    from civicpoints.awards.services import claim_approve
    from civicpoints.schemes.models import Scheme, User
    from civicpoints.schemes.scope import actor_for_user

    scheme = Scheme.objects.select_related("operator_region").get(pk=scheme_id)
    actor = actor_for_user(User.objects.get(username=username))
    sample = (workdir / "sample.xlsx").read_bytes()
    p = claim_import_preview(actor=actor, scheme=scheme, file_bytes=sample, filename="sample.xlsx")
    done = claim_import_commit(actor=actor, scheme=scheme, token=p.token)
    claims = list(Claim.objects.filter(origin_ref=f"import:{p.token}").order_by("pk")[:sample_size])
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as approve_queries:
        for claim in claims[:50]:
            claim_approve(actor=actor, claim=claim)
    for claim in claims[50:]:
        claim_approve(actor=actor, claim=claim)
    seconds = time.perf_counter() - t0
    return {
        "claims": len(claims),
        "created": done.created,
        "seconds": round(seconds, 2),
        "ms_per_claim": round(1000 * seconds / max(len(claims), 1), 2),
        "queries_per_claim": round(len(approve_queries.captured_queries) / 50, 1),
    }


# --------------------------------------------------------------------------- the bound

# The same rows ``notices_finalize`` writes for plain awards (postings, two entries each with
# the household's balance after, the balances, the claims marked posted with their posting, a
# ``post`` event each, one audit row), in one transaction of a few set-based statements, with
# the product's own triggers and constraints in force (deferred sum check, append-only guards,
# CHECKs, unique keys). Nothing here is per row: it is what "set-based" can do at best. The
# due claims go into a temporary table with its own statistics, so no plan here guesses; the
# posting ids are drawn from the sequence up front, so nothing joins on the idempotency key.
BOUND = [
    """
CREATE TEMP TABLE bound_due ON COMMIT DROP AS
SELECT c.id AS claim, c.scheme_id, a.id AS account, c.points, c.member_id, r.name AS memo,
       c.is_deduction, nextval(pg_get_serial_sequence('ledger_posting', 'id')) AS posting
  FROM awards_claim c
  JOIN ledger_account a ON a.household_id = c.household_id
  JOIN rules_rule r ON r.id = c.rule_id
 WHERE c.scheme_id = %(scheme)s AND c.status = 'on_notice' AND c.notice_ends_at <= %(at)s
 ORDER BY c.id
   FOR UPDATE OF c
""",
    "ANALYZE bound_due",
    """
SELECT 1 FROM ledger_account WHERE id IN (SELECT account FROM bound_due) ORDER BY id FOR UPDATE
""",
    """
INSERT INTO ledger_posting (id, scheme_id, kind, idempotency_key, request_hash, actor_id,
                            created_at, memo, reverses_id, ref_type, ref_id)
SELECT posting, scheme_id, 'award', 'claim:' || claim, 'claim', NULL, %(now)s, memo, NULL,
       'claim', claim::text
  FROM bound_due ORDER BY claim
ON CONFLICT (scheme_id, idempotency_key) DO NOTHING
""",
    """
CREATE TEMP TABLE bound_moved ON COMMIT DROP AS
SELECT account AS id, sum(points) AS total, 0::bigint AS before FROM bound_due GROUP BY account
""",
    """
WITH moved AS (
  UPDATE ledger_account AS acc SET balance = acc.balance + m.total
    FROM bound_moved m WHERE acc.id = m.id
  RETURNING acc.id, acc.balance - m.total AS before
)
UPDATE bound_moved SET before = moved.before FROM moved WHERE bound_moved.id = moved.id
""",
    "ANALYZE bound_moved",
    """
INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, balance_after, member_id)
SELECT scheme_id, posting, %(issuance)s, -points, NULL, NULL FROM bound_due
UNION ALL
SELECT d.scheme_id, d.posting, d.account, d.points,
       m.before + sum(d.points) OVER (PARTITION BY d.account ORDER BY d.claim), d.member_id
  FROM bound_due d JOIN bound_moved m ON m.id = d.account
""",
    """
UPDATE awards_claim AS c SET status = 'posted', posting_id = d.posting, updated_at = %(now)s
  FROM bound_due d WHERE c.id = d.claim
""",
    """
INSERT INTO awards_claimevent (scheme_id, claim_id, actor_id, actor_household_id, action,
                               from_status, to_status, reason, created_at)
SELECT scheme_id, claim, NULL, NULL, 'post', 'on_notice', 'posted', '公示期满，积分入账', %(now)s
  FROM bound_due ORDER BY claim
""",
    """
INSERT INTO audit_auditevent (actor_id, scheme_id, action, object_type, object_id, region_id,
                              detail, created_at)
VALUES (NULL, %(scheme)s, 'notice.finalize', '', '', NULL, '{"by": "bound"}', %(now)s)
""",
]
BOUND_CHECK = """
SELECT count(*), count(*) FILTER (WHERE is_deduction),
       (SELECT count(*) FROM ledger_entry WHERE posting_id IN (SELECT posting FROM bound_due))
  FROM bound_due
"""


def bound_finalize(url: str, scheme_id: int) -> dict[str, Any]:
    """The set-based bound (above) on the same data, timed from connect to commit."""
    import psycopg

    now = dt.datetime.now(dt.UTC)
    params: dict[str, Any] = {"scheme": scheme_id, "at": now + dt.timedelta(days=3650), "now": now}
    t0 = time.perf_counter()
    with psycopg.connect(_conninfo(url)) as conn:
        (backend,) = conn.execute("SELECT pg_backend_pid()").fetchone()  # type: ignore[misc]
        cpu0 = _proc_cpu(backend)
        (issuance,) = conn.execute(  # type: ignore[misc]
            "SELECT id FROM ledger_account WHERE scheme_id = %s AND kind = 'issuance' "
            "AND owner_ref = ''",
            [scheme_id],
        ).fetchone()
        params["issuance"] = issuance
        for sql in BOUND:
            conn.execute(sql, params if "%(" in sql else None)  # type: ignore[arg-type]
        t_check = time.perf_counter()
        claims, deductions, entries = conn.execute(BOUND_CHECK).fetchone()  # type: ignore[misc]
        checked = time.perf_counter() - t_check
        conn.commit()
        server = _proc_cpu(backend) - cpu0
    seconds = time.perf_counter() - t0 - checked
    if deductions or entries != 2 * claims:
        raise RuntimeError(f"bound: {claims} claims, {entries} entries, {deductions} deductions")
    return {
        "posted": claims,
        "seconds": round(seconds, 2),
        "server_cpu_ms_per_claim": round(1000 * server / max(claims, 1), 3),
    }


# --------------------------------------------------------------------------- COPY


def copy_rows(url: str, csv_path: Path) -> dict[str, Any]:
    """The same rows as CSV into a plain table of 11 text columns, one transaction."""
    import psycopg

    data = csv_path.read_bytes()
    rows = data.count(b"\n") - 1
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (" + ", ".join(f"c{i} text" for i in range(11)) + ")")
        conn.commit()
        best = None
        for _ in range(3):
            conn.execute("TRUNCATE bench_copy")
            conn.commit()
            t0 = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
            ):
                copy.write(data)
            conn.commit()
            seconds = time.perf_counter() - t0
            best = seconds if best is None else min(best, seconds)
        (count,) = conn.execute("SELECT count(*) FROM bench_copy").fetchone()  # type: ignore[misc]
    assert count == rows, (count, rows)
    return {
        "rows": rows,
        "seconds": round(best or 0, 3),
        "per_second": round(rows / (best or 1), 1),
    }


# --------------------------------------------------------------------------- driver


def _child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run this script as a child phase; its JSON and its own peak RSS in MiB."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, __file__, *args], env=env, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"phase {args[1]} failed:\n{text[-2000:]}")
    return json.loads(text.strip().splitlines()[-1]), round(usage.ru_maxrss / 1024, 1)


def _restore(url: str, snapshot: str) -> None:
    """The database as it was when every claim had gone on notice (a file copy of it)."""
    name = _db_name(url)
    _admin_sql(
        url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{snapshot}" STRATEGY = FILE_COPY',
    )
    _admin_sql(url, "CHECKPOINT")


def _state(url: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the set-up and the import left, kept in the database beside the data."""
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn:
        if data is not None:
            conn.execute("CREATE TABLE bench_import_state (data jsonb)")
            conn.execute("INSERT INTO bench_import_state VALUES (%s)", [json.dumps(data)])
            return data
        (found,) = conn.execute("SELECT data FROM bench_import_state").fetchone()  # type: ignore[misc]
        return dict(found)


def _server_settings(url: str) -> dict[str, Any]:
    import psycopg

    names = ("server_version", "autovacuum", "track_counts", "shared_buffers")
    names += ("synchronous_commit", "fsync", "max_wal_size")
    with psycopg.connect(_conninfo(url)) as conn:
        return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url or _default_url()
    if "bench" not in _db_name(url):
        raise SystemExit(f"refusing to use {url}: the database name must contain 'bench'")
    env = _bench_env(url)
    name = _db_name(url)
    snapshot = name + "_notice"
    snapshot_url = _pg.db_url(url, snapshot)
    result: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "database": urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl(),
        "rounds": [],
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env["CIVICPOINTS_VAR_DIR"] = str(workdir / "var")
            if ns.reuse:
                _log(f"reusing {snapshot} (claims on notice)")
                state = _state(snapshot_url)
            else:
                _admin_sql(
                    url,
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                    f'DROP DATABASE IF EXISTS "{snapshot}" WITH (FORCE)',
                    f'CREATE DATABASE "{name}"',
                )
                _log("civicpoints migrate")
                subprocess.run(
                    [sys.executable, "-m", "civicpoints.cli", "migrate", "--no-input", "-v", "0"],
                    env=env,
                    check=True,
                    cwd=REPO,
                )
                _log(f"loading {ns.households} households, writing a {ns.rows}-row sheet")
                setup, _ = _child(
                    [
                        *("--phase", "setup", "--households", str(ns.households)),
                        *("--rows", str(ns.rows), "--workdir", str(workdir)),
                    ],
                    env,
                )
                _log("upload -> on notice: preview + commit (approve), in a fresh process")
                notice, peak = _child(
                    [
                        *("--phase", "notice", "--scheme", str(setup["scheme"])),
                        *("--user", setup["user"], "--workdir", str(workdir)),
                    ],
                    env,
                )
                notice["peak_rss_mib"] = peak
                state = _state(url, {"setup": setup, "notice": notice})
                _admin_sql(url, f'CREATE DATABASE "{snapshot}" TEMPLATE "{name}"')
            result["setup"], result["notice"] = state["setup"], state["notice"]
            result["server"] = _server_settings(snapshot_url)
            scheme = str(state["setup"]["scheme"])
            for n in range(ns.rounds):
                done: dict[str, Any] = {}
                # Alternate which goes first, so a change of load hits both alike.
                for which in ("product", "bound") if n % 2 == 0 else ("bound", "product"):
                    _restore(url, snapshot)
                    _log(f"round {n + 1}: {which} finalize")
                    if which == "product":
                        done[which], _ = _child(["--phase", "finalize", "--scheme", scheme], env)
                    else:
                        done[which] = bound_finalize(url, int(scheme))
                if done["product"]["posted"] != done["bound"]["posted"]:
                    raise RuntimeError(f"posted counts differ: {done}")
                done["ratio"] = round(done["product"]["seconds"] / done["bound"]["seconds"], 2)
                result["rounds"].append(done)
            if ns.approve_sample and not ns.reuse:
                _log("claim_approve one by one")
                result["claim_approve"], _ = _child(
                    [
                        *("--phase", "approve", "--scheme", scheme),
                        *("--user", state["setup"]["user"], "--workdir", str(workdir)),
                        *("--approve-sample", str(ns.approve_sample)),
                    ],
                    env,
                )
            if not ns.reuse:
                _log("COPY of the same rows")
                result["copy"] = copy_rows(url, workdir / "sheet.csv")
    finally:
        if not ns.keep:
            _admin_sql(
                url,
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{snapshot}" WITH (FORCE)',
            )
    notice = result["notice"]
    to_notice = notice["preview_seconds"] + notice["commit_seconds"]
    for r in result["rounds"]:
        r["upload_to_posted_seconds"] = round(to_notice + r["product"]["seconds"], 2)
    ratios = [r["ratio"] for r in result["rounds"]]
    result["to_notice_seconds"] = round(to_notice, 2)
    result["ratio_median"] = sorted(ratios)[len(ratios) // 2]
    result["goals"] = {
        "finalize <= 1.5 x set-based bound": result["ratio_median"] <= 1.5,
        "peak < 500 MB": notice.get("peak_rss_mib", 0) < 500,
    }
    return result


def _table(r: dict[str, Any]) -> str:
    n = r["notice"]
    srv = r["server"]
    lines = [
        f"rows: {n['rows']}  claims: {n['claims']}  households: {r['setup']['households']}  "
        f"PostgreSQL {srv['server_version']} (autovacuum {srv['autovacuum']}, "
        f"synchronous_commit {srv['synchronous_commit']}, shared_buffers {srv['shared_buffers']})",
        f"preview (read+check+keep)    {n['preview_seconds']:8.2f} s",
        f"commit (check+insert+approve){n['commit_seconds']:8.2f} s   {n['commit_queries']} queries",
        f"upload -> on notice          {r['to_notice_seconds']:8.2f} s   "
        f"{n['rows'] / r['to_notice_seconds']:10.1f} rows/s",
        "",
        "round  finalize (product)   set-based bound   ratio   upload->posted   "
        "cpu ms/claim product (py+pg) / bound (pg)",
    ]
    for i, x in enumerate(r["rounds"], 1):
        p, b = x["product"], x["bound"]
        lines.append(
            f"{i:>5}  {p['seconds']:>16.2f} s  {b['seconds']:>14.2f} s  {x['ratio']:>6.2f}  "
            f"{x['upload_to_posted_seconds']:>13.2f} s   "
            f"{p['client_cpu_ms_per_claim']:.3f}+{p['server_cpu_ms_per_claim']:.3f} / "
            f"{b['server_cpu_ms_per_claim']:.3f}"
        )
    goal = r["goals"]["finalize <= 1.5 x set-based bound"]
    lines.append(
        f"median ratio finalize / bound {r['ratio_median']:.2f}   (goal <= 1.5: "
        + ("met" if goal else "MISSED")
        + f"; {r['rounds'][0]['product']['queries_per_claim']} queries/claim)"
    )
    if "peak_rss_mib" in n:
        lines.append(f"peak RSS of the import       {n['peak_rss_mib']:.1f} MiB (goal < 500)")
    if r.get("copy"):
        c = r["copy"]
        lines.append(
            f"COPY of the same CSV         {c['seconds']:8.3f} s   {c['per_second']:10.1f} rows/s"
        )
    if r.get("claim_approve"):
        a = r["claim_approve"]
        lines.append(
            f"claim_approve one by one     {a['ms_per_claim']:.2f} ms/claim, "
            f"{a['queries_per_claim']} queries/claim ({a['claims']} claims)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--approve-sample", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep both databases afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="start from <name>_notice kept by an earlier --keep"
    )
    parser.add_argument(
        "--phase", choices=["setup", "notice", "finalize", "approve"], help=argparse.SUPPRESS
    )
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--scheme", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.phase == "setup":
        print(json.dumps(phase_setup(ns.households, ns.rows, Path(ns.workdir))))
        return 0
    if ns.phase == "notice":
        print(json.dumps(phase_notice(ns.scheme, ns.user, Path(ns.workdir))))
        return 0
    if ns.phase == "finalize":
        print(json.dumps(phase_finalize(ns.scheme)))
        return 0
    if ns.phase == "approve":
        print(json.dumps(phase_approve(ns.scheme, ns.user, Path(ns.workdir), ns.approve_sample)))
        return 0
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
