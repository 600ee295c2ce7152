"""Rankings from rollups against a GROUP BY over the ledger; posting with the follower keeping
rollups against without (issue 11).

    .venv/bin/python benchmarks/rankings.py [--households 52767] [--claims 800000]
        [--redemptions 300000] [--payments 200000] [--days 730] [--queries 200] [--rounds 3]
        [--workers 4] [--duration 10] [--reuse] [--keep] [--json]

1. The demo county with two years of history (``risk_scan.py``'s loader: claims with their
   award postings, redemptions, merchant payments and refunds, set-based; about 1.3 million
   postings at the defaults) in ``civicpoints_bench_rankings`` (``--reuse`` keeps a loaded one).
2. The journal follower chains every posting, keeping the rollups as it goes: its time.
3. A county ranking for this year (the top 100 households, ``honours.rankings.ranking``, as the
   API calls it) ``--queries`` times: p50 and p95; beside it the same ranking by one plain
   ``GROUP BY`` over the year's entries (the ledger as it is, no rollups), five times: the
   median; the ratio. Goal: p95 <= 50 ms and >= 100 x faster. Both answers must agree.
4. The year end (``--year-end``): the scheme's policy set to 年底清零 and ``civicpoints year_end
   --run`` in its own process: wall time and peak RSS (goal: under 60 s and 500 MB). It
   expires points, so it runs last and a reused database has nothing left to expire.
5. Throughput: W worker processes post awards through ``post()`` for D seconds while one
   follower process chains them back to back, in rounds of two phases: ``rollups`` (the
   follower as shipped) and ``bare`` (the same follower with its rollup pass taken out). The
   ratio rollups / bare (goal >= 0.8).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from typing import Any

import _pg
import risk_scan

GROUP_BY = """
SELECT a.household_id, sum(e.amount) AS points
  FROM ledger_entry e
  JOIN ledger_posting p ON p.id = e.posting_id
  JOIN ledger_account a ON a.id = e.account_id
  LEFT JOIN ledger_posting o ON o.id = p.reverses_id
 WHERE e.scheme_id = %(s)s AND a.kind = 'household'
   AND p.created_at >= %(start)s AND p.created_at < %(end)s
   AND (p.kind IN ('award', 'deduction', 'adjustment')
        OR (p.kind = 'reversal' AND o.kind IN ('award', 'deduction', 'adjustment')))
 GROUP BY a.household_id
 ORDER BY points DESC, a.household_id
 LIMIT 100
"""


def _rankings(ns: argparse.Namespace, scheme_id: int) -> dict[str, Any]:
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from civicpoints.honours.rankings import period_for, ranking
    from civicpoints.schemes.models import Scheme

    county = Scheme.objects.get(pk=scheme_id).operator_region
    today = timezone.localdate()
    year = period_for("year", today)
    tz = timezone.get_default_timezone()
    bounds = {
        "s": scheme_id,
        "start": dt.datetime.combine(year.start, dt.time.min, tzinfo=tz),
        "end": dt.datetime.combine(year.end or today, dt.time.min, tzinfo=tz),
    }
    ranking(scheme_id=scheme_id, region=county, period=year, today=today)  # warm
    times = []
    for _ in range(ns.queries):
        t0 = time.perf_counter()
        answer = ranking(scheme_id=scheme_id, region=county, period=year, today=today)
        times.append(time.perf_counter() - t0)
    times.sort()
    plain = []
    rows: list[tuple[int, int]] = []
    for _ in range(5):
        t0 = time.perf_counter()
        with connection.cursor() as c:
            c.execute(GROUP_BY, bounds)
            rows = [(int(h), int(p)) for h, p in c.fetchall()]
        plain.append(time.perf_counter() - t0)
    ours = [(r.household_id, r.points) for r in answer.rows]
    p50 = statistics.median(times) * 1000
    p95 = times[int(0.95 * (len(times) - 1))] * 1000
    group_by = statistics.median(plain) * 1000
    return {
        "ranked": answer.total,
        "ranking_ms_p50": round(p50, 2),
        "ranking_ms_p95": round(p95, 2),
        "group_by_ms_median": round(group_by, 1),
        "group_by_ms": [round(x * 1000, 1) for x in plain],
        "faster": round(group_by / p50, 1),
        "agree": ours == rows,
    }


def _poster(
    index: int, env: dict[str, str], info: dict[str, Any], tasks: Any, results: Any
) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from civicpoints.ledger.models import Account, PostingKind
    from civicpoints.ledger.services import Leg, post

    accounts = Account.objects.in_bulk([*info["accounts"][index], info["issuance_id"]])
    mine = [accounts[a] for a in info["accounts"][index]]
    issuance = accounts[info["issuance_id"]]
    results.put(("ready", index, None))
    serial = 0
    while (task := tasks.get()) is not None:
        _phase, start_at, stop_at = task
        while time.time() < start_at:
            time.sleep(0.001)
        count = 0
        while time.time() < stop_at:
            serial += 1
            post(
                scheme_id=info["scheme_id"],
                kind=PostingKind.AWARD,
                legs=[Leg(issuance, -1500), Leg(mine[serial % len(mine)], 1500)],
                memo="压测奖励",
                idempotency_key=f"bench-rank:{os.getpid()}:{serial}",
                ref=("claim", str(info["claims"][serial % len(info["claims"])])),
            )
            count += 1
        results.put(("done", index, count))
    connection.close()


def _follower(env: dict[str, str], scheme_id: int, rollups: bool, stop: Any, out: Any) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from civicpoints.ledger import chain

    if not rollups:
        chain._followers.clear()  # the same follower without its rollup pass
    chained = 0
    while not stop.is_set():
        chained += chain.chain_follow(scheme_id=scheme_id)
        time.sleep(0.05)
    chained += chain.chain_follow(scheme_id=scheme_id)
    out.put(("chained", -1, chained))


def _throughput(
    ns: argparse.Namespace, env: dict[str, str], info: dict[str, Any]
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    tasks = [ctx.Queue() for _ in range(ns.workers)]
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_poster, args=(i, env, info, tasks[i], results), daemon=True)
        for i in range(ns.workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        results.get(timeout=120)
    phases: dict[str, list[float]] = {"rollups": [], "bare": []}
    try:
        for n in range(ns.rounds):
            for phase in ("rollups", "bare") if n % 2 == 0 else ("bare", "rollups"):
                stop = ctx.Event()
                follower = ctx.Process(
                    target=_follower,
                    args=(env, info["scheme_id"], phase == "rollups", stop, results),
                    daemon=True,
                )
                follower.start()
                time.sleep(3)  # let it start following before the clock runs
                start_at = time.time() + 0.5
                for q in tasks:
                    q.put((phase, start_at, start_at + ns.duration))
                counts = []
                while len(counts) < ns.workers:
                    kind, _i, payload = results.get(timeout=ns.duration + 120)
                    if kind == "done":
                        counts.append(payload)
                stop.set()
                while results.get(timeout=600)[0] != "chained":
                    pass
                follower.join(timeout=60)
                rate = sum(counts) / ns.duration
                phases[phase].append(rate)
                _pg.log(f"round {n + 1} {phase}: {rate:.1f} postings/s")
    finally:
        for q in tasks:
            q.put(None)
        for p in procs:
            p.join(timeout=10)
    medians = {k: statistics.median(v) for k, v in phases.items()}
    return {
        "workers": ns.workers,
        "seconds": ns.duration,
        "per_second": {k: [round(x, 1) for x in v] for k, v in phases.items()},
        "ratio_rollups_bare": round(medians["rollups"] / medians["bare"], 3),
    }


def _year_end(env: dict[str, str], scheme_id: int) -> dict[str, Any]:
    """The year-end run for the whole county in its own process: wall time, peak RSS."""
    import subprocess

    from civicpoints.schemes.models import Scheme, YearEndPolicy

    Scheme.objects.filter(pk=scheme_id).update(year_end_policy=YearEndPolicy.YEAR_END)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicpoints.cli", "year_end", "--scheme", str(scheme_id), "--run"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    if status != 0:
        raise RuntimeError(f"year_end failed: {out}")
    _pg.log(f"year end: {out.strip()} ({seconds:.1f} s)")
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "output": out.strip(),
    }


def bulk_follow_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bulk-follow",
        action="store_true",
        help="chain the loaded history without the rollup followers, then rebuild the rollups",
    )


def county_followed(ns: argparse.Namespace) -> dict[str, Any]:
    """The county with its history in ``ns.database_url`` (loaded now, or one already there
    with ``--reuse``), every posting chained and rolled up: the scheme, the environment, the
    postings and the follower's time. Shared with ``stats.py``."""
    url = ns.database_url
    env = risk_scan._env(url)
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]
    _pg.django_here(url)
    from django.db import connection

    loaded = None
    if ns.reuse:
        try:
            from civicpoints.schemes.models import Scheme

            loaded = Scheme.objects.order_by("pk").values_list("pk", flat=True).first()
        except Exception:
            connection.close()
    if loaded is None:
        _pg.log(f"creating {_pg.db_name(url)} and migrating")
        _pg.create_db(url)
        _pg.migrate(env)
        county = risk_scan._county(ns)
        risk_scan._history(ns, county)
        loaded = county["scheme_id"]
    from civicpoints.ledger import chain

    t0 = time.monotonic()
    if ns.bulk_follow:
        # A history import's way: chain without the rollup followers, then rebuild the
        # rollups set-based from the chained ledger (`civicpoints rollup --rebuild`; the same
        # rows, tests/reports/test_rollups.py). The follower chains ~1,800 a second here.
        from civicpoints.reports.rollups import rollups_rebuild

        followers = list(chain._followers)
        chain._followers.clear()
        try:
            chained = chain.chain_follow(scheme_id=loaded, batch=10_000)
        finally:
            chain._followers.extend(followers)
        _pg.log(f"chained {chained} without followers in {time.monotonic() - t0:.0f} s")
        rollups_rebuild(scheme_id=loaded)
    else:
        chained = chain.chain_follow(scheme_id=loaded)
    follow_seconds = time.monotonic() - t0
    _pg.log(f"follower: chained {chained} postings in {follow_seconds:.0f} s")
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM ledger_posting WHERE scheme_id = %s", [loaded])
        postings = c.fetchone()[0]
        c.execute("CHECKPOINT")
    return {
        "scheme_id": loaded,
        "env": env,
        "postings": postings,
        "chained": chained,
        "follow_seconds": follow_seconds,
    }


def run(ns: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    county = county_followed(ns)
    loaded, env = county["scheme_id"], county["env"]
    postings, chained = county["postings"], county["chained"]
    follow_seconds = county["follow_seconds"]
    from civicpoints.awards.models import Claim

    ranks = _rankings(ns, loaded)
    _pg.log(f"rankings: {ranks}")
    info = risk_scan._info(loaded)
    households = list(
        __import__("civicpoints.households.models", fromlist=["Household"])
        .Household.objects.filter(scheme_id=loaded)
        .order_by("pk")
        .values_list("account", flat=True)[: 500 * ns.workers]
    )
    info["accounts"] = [households[i :: ns.workers] for i in range(ns.workers)]
    info["claims"] = list(
        Claim.objects.filter(scheme_id=loaded).order_by("pk").values_list("pk", flat=True)[:1000]
    )
    connection.close()
    throughput = None
    if ns.rounds:
        throughput = _throughput(ns, env, info)
        # The bare phases chained their postings without rollups: put them in, so that a
        # later run on this database (--reuse) finds rollups that agree with the ledger.
        from civicpoints.reports.rollups import rollups_rebuild

        t0 = time.monotonic()
        throughput["rebuilt_rows"] = rollups_rebuild(scheme_id=loaded)
        throughput["rebuild_seconds"] = round(time.monotonic() - t0, 1)
    year_end = _year_end(env, loaded) if ns.year_end else None
    return {
        "benchmark": "rankings",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postings": postings,
        "chained_now": chained,
        "follow_seconds": round(follow_seconds, 1),
        "rankings": ranks,
        "throughput": throughput,
        "year_end": year_end,
        "goals": {
            "ranking_p95_under_50ms": ranks["ranking_ms_p95"] <= 50,
            "ranking_100x_faster": ranks["faster"] >= 100,
            "answers_agree": ranks["agree"],
            "throughput_ratio_at_least_0_8": bool(
                throughput and throughput["ratio_rollups_bare"] >= 0.8
            ),
            "year_end_under_60s_500mib": bool(
                year_end and year_end["seconds"] < 60 and year_end["peak_rss_mib"] < 500
            ),
        },
    }


def _table(r: dict[str, Any]) -> str:
    k, t = r["rankings"], r["throughput"]
    lines = [
        f"database: {r['postings']:,} postings; the follower chained {r['chained_now']:,} "
        f"(and rolled them up) in {r['follow_seconds']} s",
        f"county ranking this year (top 100 of {k['ranked']:,}) from rollups: "
        f"p50 {k['ranking_ms_p50']} ms, p95 {k['ranking_ms_p95']} ms",
        f"the same by GROUP BY over the entries: median {k['group_by_ms_median']} ms "
        f"{k['group_by_ms']}; {k['faster']}x; answers agree: {k['agree']}",
    ]
    if r.get("year_end"):
        y = r["year_end"]
        lines.append(
            f"year end (年底清零, whole county): {y['seconds']} s, peak {y['peak_rss_mib']} MiB; "
            f"{y['output']}"
        )
    if t:
        lines.append(f"postings/s with the follower ({t['workers']} workers): {t['per_second']}")
        lines.append(f"ratio rollups / bare follower: {t['ratio_rollups_bare']}")
    lines.append(f"goals: {r['goals']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    risk_scan.county_options(parser, "civicpoints_bench_rankings")
    bulk_follow_option(parser)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--year-end", action="store_true", help="also time the year-end run")
    ns = parser.parse_args(argv)
    if "bench" not in _pg.db_name(ns.database_url):
        parser.error("refusing a database whose name does not contain 'bench'")
    try:
        result = run(ns)
    finally:
        if not (ns.keep or ns.reuse):
            from django.db import connections

            connections.close_all()
            _pg.drop_db(ns.database_url)
    print(json.dumps(result, indent=2, ensure_ascii=False) if ns.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
