"""Peak memory and time of ``civicpoints demo --households N`` on a fresh database.

    .venv/bin/python benchmarks/demo_memory.py [--households 52767] [--postgres] [--json]

SQLite (always): ``SQLITE_PATH`` and ``CIVICPOINTS_VAR_DIR`` point into a temporary directory,
``civicpoints migrate`` runs first (timed on its own), then ``civicpoints demo``. The peak
resident set size is the demo process's own ``ru_maxrss`` (``os.wait4``), so the migration does
not count. ``--postgres`` repeats the same on PostgreSQL in a database that is created and
dropped (``--database-url``, default ``postgres://postgres@127.0.0.1:5432/civicpoints_bench_demo``;
the name must contain ``bench``). ``DEBUG`` is left as ``scripts/run`` leaves it (on, the
development default) unless ``--no-debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/civicpoints_bench_demo"
PASSWORD = "bench-demo-password"


def _maxrss_mib(kib_or_bytes: int) -> float:
    # Linux reports kilobytes, macOS bytes.
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(kib_or_bytes / divisor, 1)


def _timed(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one command; wall time, CPU time and peak RSS of that process alone."""
    with log.open("ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed ({proc.returncode}); see {log}")
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": _maxrss_mib(usage.ru_maxrss),
    }


def _env(base: dict[str, str], debug: bool) -> dict[str, str]:
    env = dict(base)
    env.pop("CIVICPOINTS_TESTING", None)
    env["DJANGO_SETTINGS_MODULE"] = "civicpoints.settings"
    env["LOG_LEVEL"] = "WARNING"
    if debug:
        env.pop("DEBUG", None)
    else:
        env["DEBUG"] = "0"
    return env


def _run_demo(
    label: str, env: dict[str, str], args: argparse.Namespace, log: Path
) -> dict[str, Any]:
    cli = [sys.executable, "-m", "civicpoints.cli"]
    migrate = _timed([*cli, "migrate", "--no-input", "-v", "0"], env, log)
    demo_cmd = [*cli, "demo", "--households", str(args.households), "--password", PASSWORD]
    if args.history is not None:
        demo_cmd += ["--history", str(args.history)]
    print(f"... {label}: civicpoints demo --households {args.households}", file=sys.stderr)
    demo = _timed(demo_cmd, env, log)
    return {
        "database": label,
        "migrate": migrate,
        "demo": demo,
        "households_per_second": round(args.households / demo["seconds"], 1),
    }


def _sqlite(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="civicpoints-demo-bench-") as tmp:
        path = Path(tmp)
        env = _env(dict(os.environ), args.debug)
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(path / "demo.sqlite3")
        env["CIVICPOINTS_VAR_DIR"] = str(path / "var")
        log = path / "demo.log"
        try:
            result = _run_demo("sqlite", env, args, log)
        except RuntimeError:
            sys.stderr.write(log.read_text(errors="replace")[-4000:])
            raise
        result["database_mib"] = round(
            sum(p.stat().st_size for p in path.glob("demo.sqlite3*")) / 2**20, 1
        )
        result["output_tail"] = log.read_text(errors="replace").strip().splitlines()[-1:]
        return result


def _postgres(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    url = args.database_url
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    admin = admin.replace("postgres://", "postgresql://", 1)

    def sql(statement: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sql(f'CREATE DATABASE "{name}"')
    with tempfile.TemporaryDirectory(prefix="civicpoints-demo-bench-") as tmp:
        env = _env(dict(os.environ), args.debug)
        env["DATABASE_URL"] = url
        env["CIVICPOINTS_VAR_DIR"] = str(Path(tmp) / "var")
        log = Path(tmp) / "demo.log"
        try:
            return _run_demo("postgresql", env, args, log)
        except RuntimeError:
            sys.stderr.write(log.read_text(errors="replace")[-4000:])
            raise
        finally:
            if not args.keep:
                sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _table(results: list[dict[str, Any]], households: int) -> str:
    head = (
        f"{'database':<11} {'migrate s':>9} {'demo s':>8} {'demo cpu s':>10} "
        f"{'peak RSS MiB':>12} {'households/s':>12}"
    )
    lines = [f"civicpoints demo --households {households}", head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['database']:<11} {r['migrate']['seconds']:>9.1f} {r['demo']['seconds']:>8.1f} "
            f"{r['demo']['cpu_seconds']:>10.1f} {r['demo']['peak_rss_mib']:>12.1f} "
            f"{r['households_per_second']:>12.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--households", type=int, default=52767)
    parser.add_argument("--history", type=int, default=None, help="passed to civicpoints demo")
    parser.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DEMO_DATABASE_URL", DEFAULT_PG_URL),
        help="PostgreSQL database to CREATE and DROP for --postgres (name must contain 'bench')",
    )
    parser.add_argument("--no-debug", dest="debug", action="store_false", help="run with DEBUG=0")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.postgres and "bench" not in urlsplit(args.database_url).path:
        parser.error("refusing to create/drop a database whose name does not contain 'bench'")
    results = [_sqlite(args)]
    if args.postgres:
        results.append(_postgres(args))
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "households": args.households,
        "debug": args.debug,
        "results": results,
    }
    print(
        json.dumps(report, indent=2, ensure_ascii=False)
        if args.json
        else _table(results, args.households)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
