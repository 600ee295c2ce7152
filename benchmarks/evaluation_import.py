"""A county's monthly evaluation sheet, from upload to posted points, against PostgreSQL COPY.

    .venv/bin/python benchmarks/evaluation_import.py [--households 20000] [--rows 50000]
        [--approve-sample 1000] [--database-url URL] [--json] [--keep]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench_import``, else
   ``postgres://postgres@127.0.0.1:5432/civicpoints_bench_import``; the name must contain
   ``bench``), migrates it with ``civicpoints migrate`` and, in a child process, loads a county
   (10 townships x 20 villages), the demo rule catalogue, N households
   (``households_bulk_create``) and a county admin; then writes the sheet: R rows (every
   household gets 回收农药瓶, then 参加村集体义务劳动, then 邻里互助 with a witness, ...) as an
   .xlsx the way the template is filled in.
2. ``import``: in a fresh child process (its peak RSS from ``os.wait4`` is the memory figure),
   from the file's bytes: ``claim_import_preview`` (read, check, keep the upload),
   ``claim_import_commit`` with ``approve`` (the set-based village approval: claims go straight
   to notice), then ``notices_finalize(at=far future)`` until nothing is left. Each stage is
   timed; finalize's SQL statements per claim are counted on its first 200 claims.
3. ``claim_approve`` per claim, for comparison: a further ``--approve-sample`` rows are imported
   without approval and approved one by one.
4. ``COPY``: the same R rows as CSV (the sheet's 11 columns) into a plain table with psycopg's
   ``copy``, in one transaction, timed from the CSV bytes to commit.
5. Prints rows/s of each, the ratio (goal >= 0.2) and the import's peak memory (goal < 500 MB).
   The database is dropped at the end unless ``--keep``.
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
from _pg import bench_env as _env
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


def phase_import(
    scheme_id: int, username: str, workdir: Path, approve_sample: int
) -> dict[str, Any]:
    """Upload to posted points, stage by stage, in this (fresh) process."""
    _django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from civicpoints.awards.importing import claim_import_commit, claim_import_preview
    from civicpoints.awards.models import Claim, ClaimStatus
    from civicpoints.awards.services import claim_approve, notices_finalize
    from civicpoints.schemes.models import Scheme, User
    from civicpoints.schemes.scope import actor_for_user

    scheme = Scheme.objects.select_related("operator_region").get(pk=scheme_id)
    actor = actor_for_user(User.objects.get(username=username))
    data = (workdir / "sheet.xlsx").read_bytes()
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            marks.setdefault(f"{stage}@{len(marks)}", time.perf_counter() - started)

    t0 = time.perf_counter()
    preview = claim_import_preview(
        actor=actor,
        scheme=scheme,
        file_bytes=data,
        filename="sheet.xlsx",
        approve=True,
        progress=progress,
    )
    t_preview = time.perf_counter() - t0
    if not preview.ok:
        raise SystemExit("preview failed: " + "; ".join(str(e) for e in preview.errors[:5]))
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as commit_queries:
        result = claim_import_commit(
            actor=actor, scheme=scheme, token=preview.token, progress=progress
        )
    t_commit = time.perf_counter() - t0
    far = timezone.now() + dt.timedelta(days=3650)
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as finalize_queries:
        first = notices_finalize(at=far, scheme_id=scheme.pk, limit=200)
    posted = first.count
    while True:
        batch = notices_finalize(at=far, scheme_id=scheme.pk)
        posted += batch.count
        if batch.count == 0:
            break
    t_finalize = time.perf_counter() - t0
    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    approve: dict[str, Any] = {}
    if approve_sample:
        sample = (workdir / "sample.xlsx").read_bytes()
        p = claim_import_preview(
            actor=actor, scheme=scheme, file_bytes=sample, filename="sample.xlsx"
        )
        done = claim_import_commit(actor=actor, scheme=scheme, token=p.token)
        claims = list(
            Claim.objects.filter(origin_ref=f"import:{p.token}").order_by("pk")[:approve_sample]
        )
        t0 = time.perf_counter()
        with CaptureQueriesContext(connection) as approve_queries:
            for claim in claims[:50]:
                claim_approve(actor=actor, claim=claim)
        for claim in claims[50:]:
            claim_approve(actor=actor, claim=claim)
        seconds = time.perf_counter() - t0
        approve = {
            "claims": len(claims),
            "created": done.created,
            "seconds": round(seconds, 2),
            "ms_per_claim": round(1000 * seconds / max(len(claims), 1), 2),
            "queries_per_claim": round(len(approve_queries.captured_queries) / 50, 1),
        }
    on_notice = Claim.objects.filter(scheme=scheme, status=ClaimStatus.POSTED).count()
    return {
        "rows": preview.total_rows,
        "claims": result.created,
        "posted": posted,
        "posted_in_db": on_notice,
        "preview_seconds": round(t_preview, 2),
        "commit_seconds": round(t_commit, 2),
        "finalize_seconds": round(t_finalize, 2),
        "stage_marks": {k: round(v, 2) for k, v in marks.items()},
        "commit_queries": len(commit_queries.captured_queries),
        "finalize_queries_per_claim": round(
            len(finalize_queries.captured_queries) / max(first.count, 1), 1
        ),
        "rss_after_import_mib": round(rss_after_import / 1024, 1),
        "claim_approve": approve,
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


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url or _default_url()
    if "bench" not in _db_name(url):
        raise SystemExit(f"refusing to use {url}: the database name must contain 'bench'")
    env = _env(url)
    name = _db_name(url)
    _admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    result: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "database": urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl(),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env["CIVICPOINTS_VAR_DIR"] = str(workdir / "var")
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
                    "--phase",
                    "setup",
                    "--households",
                    str(ns.households),
                    "--rows",
                    str(ns.rows),
                    "--workdir",
                    str(workdir),
                ],
                env,
            )
            result["setup"] = setup
            _log("import: preview + commit (approve) + finalize, in a fresh process")
            imported, peak = _child(
                [
                    "--phase",
                    "import",
                    "--scheme",
                    str(setup["scheme"]),
                    "--user",
                    setup["user"],
                    "--workdir",
                    str(workdir),
                    "--approve-sample",
                    str(ns.approve_sample),
                ],
                env,
            )
            imported["peak_rss_mib"] = peak
            result["import"] = imported
            _log("COPY of the same rows")
            result["copy"] = copy_rows(url, workdir / "sheet.csv")
            with __import__("psycopg").connect(_conninfo(url)) as conn:
                result["machine"]["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    finally:
        if not ns.keep:
            _admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    i = result["import"]
    total = i["preview_seconds"] + i["commit_seconds"] + i["finalize_seconds"]
    i["total_seconds"] = round(total, 2)
    i["per_second"] = round(i["rows"] / total, 1)
    i["to_notice_seconds"] = round(i["preview_seconds"] + i["commit_seconds"], 2)
    i["to_notice_per_second"] = round(i["rows"] / i["to_notice_seconds"], 1)
    result["ratio_vs_copy"] = round(i["per_second"] / result["copy"]["per_second"], 4)
    result["ratio_to_notice_vs_copy"] = round(
        i["to_notice_per_second"] / result["copy"]["per_second"], 4
    )
    result["goals"] = {
        "ratio >= 0.2": result["ratio_vs_copy"] >= 0.2,
        "peak < 500 MB": i["peak_rss_mib"] < 500,
    }
    return result


def _table(r: dict[str, Any]) -> str:
    i, c = r["import"], r["copy"]
    lines = [
        f"rows: {i['rows']}  households: {r['setup']['households']}  "
        f"sheet: {r['setup']['xlsx_bytes'] / 1e6:.1f} MB xlsx",
        f"preview (read+check+keep)   {i['preview_seconds']:8.2f} s",
        f"commit (check+insert+approve){i['commit_seconds']:7.2f} s   {i['commit_queries']} queries",
        f"finalize (post each claim)  {i['finalize_seconds']:8.2f} s   "
        f"{i['finalize_queries_per_claim']} queries/claim",
        f"upload -> posted            {i['total_seconds']:8.2f} s   {i['per_second']:10.1f} rows/s",
        f"upload -> on notice         {i['to_notice_seconds']:8.2f} s   "
        f"{i['to_notice_per_second']:10.1f} rows/s",
        f"COPY of the same CSV        {c['seconds']:8.3f} s   {c['per_second']:10.1f} rows/s",
        f"ratio posted / COPY         {r['ratio_vs_copy']:.4f}   (goal >= 0.2)",
        f"ratio on notice / COPY      {r['ratio_to_notice_vs_copy']:.4f}",
        f"peak RSS of the import      {i['peak_rss_mib']:.1f} MiB (goal < 500)",
    ]
    if i.get("claim_approve"):
        a = i["claim_approve"]
        lines.append(
            f"claim_approve one by one    {a['ms_per_claim']:.2f} ms/claim, "
            f"{a['queries_per_claim']} queries/claim ({a['claims']} claims)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--approve-sample", type=int, default=1000)
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--phase", choices=["setup", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--scheme", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.phase == "setup":
        print(json.dumps(phase_setup(ns.households, ns.rows, Path(ns.workdir))))
        return 0
    if ns.phase == "import":
        print(json.dumps(phase_import(ns.scheme, ns.user, Path(ns.workdir), ns.approve_sample)))
        return 0
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
