"""The county's figures (``GET /api/v1/stats``) from rollups against the same figures by plain
GROUP BY over the ledger; posting with the follower keeping rollups against without (issue 12).

    .venv/bin/python benchmarks/stats.py [--households 52767] [--claims 800000]
        [--redemptions 300000] [--payments 200000] [--days 730] [--queries 200] [--rounds 3]
        [--workers 4] [--duration 10] [--database-url URL] [--reuse] [--keep] [--json]

1. The demo county with two years of history (``risk_scan.py``'s set-based loader: about 1.3
   million postings at the defaults; ``--claims 6000000 ...`` for ten million) in
   ``civicpoints_bench_stats`` (``--reuse`` keeps one loaded; ``--database-url`` may name the
   rankings benchmark's database, the same county).
2. The journal follower chains every posting, keeping the rollups: its time.
3. ``GET /api/v1/stats`` for the county and this year, as a county admin (bearer token), in
   process through Django's test client (the whole framework, no network) ``--queries``
   times: p50 and p95. Beside it the same figures (the seven flows, households taking part
   by status, outstanding points, the 12 months, the categories and the townships) by plain
   GROUP BY over the entries, five times: the median, the ratio. Goal: p95 <= 50 ms and
   >= 100 x faster. The two answers must agree.
4. Throughput with the follower keeping rollups (the flows of ``RegionDay`` included) against
   the same follower without its rollup pass: ``rankings.py``'s phases (goal >= 0.8).
5. ``--browser``: the dashboard's first render in headless Chromium (Debian's, as the tests
   drive it) against the production server (``civicpoints serve``, gunicorn) on this
   database: from navigation to the four charts drawn, five times with a cold page each
   (a new browser context), logged in as the county admin. Goal: under 1 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

import _pg
import rankings
import risk_scan

# The figures straight from the ledger, set-based: every household leg of the period with its
# posting's kind (a reversal's: the reversed posting's), its household's status and township,
# and the claim's category; one pass, grouped.
FLOWS_BY_GROUP_BY = """
WITH legs AS (
  SELECT e.amount,
         CASE WHEN p.kind = 'reversal' THEN o.kind ELSE p.kind END AS base,
         p.kind = 'reversal' AS reversal,
         (p.created_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
         a.household_id, h.status, v.parent_id AS township, r.category
    FROM ledger_entry e
    JOIN ledger_posting p ON p.id = e.posting_id
    JOIN ledger_account a ON a.id = e.account_id
    JOIN households_household h ON h.id = a.household_id
    JOIN schemes_region v ON v.id = h.village_id
    LEFT JOIN ledger_posting o ON o.id = p.reverses_id
    -- the category of the claim the posting names (as the rollups take it)
    LEFT JOIN awards_claim c
           ON p.ref_type = 'claim' AND p.ref_id ~ '^[0-9]+$' AND c.id = p.ref_id::bigint
    LEFT JOIN rules_rule r ON r.id = c.rule_id
   WHERE e.scheme_id = %(s)s AND a.kind = 'household'
     AND p.created_at >= %(start)s AND p.created_at < %(end)s
)
SELECT base, township, COALESCE(category, ''), date_trunc('month', day)::date,
       sum(amount), count(DISTINCT household_id)
  FROM legs GROUP BY 1, 2, 3, 4
"""
TAKING_PART_BY_GROUP_BY = """
SELECT h.status, count(DISTINCT a.household_id)
  FROM ledger_entry e
  JOIN ledger_posting p ON p.id = e.posting_id
  JOIN ledger_account a ON a.id = e.account_id
  JOIN households_household h ON h.id = a.household_id
 WHERE e.scheme_id = %(s)s AND a.kind = 'household'
   AND p.created_at >= %(start)s AND p.created_at < %(end)s
 GROUP BY 1
"""
# Outstanding points are the households' balances, which post() keeps with every entry. The
# set-based history loader (risk_scan.py) writes entries without balances, so on its database
# the figure is compared with the balances, and the entries' sum is reported beside it.
OUTSTANDING_BY_GROUP_BY = """
SELECT (SELECT sum(balance) FROM ledger_account WHERE scheme_id = %(s)s AND kind = 'household'),
       (SELECT sum(e.amount) FROM ledger_entry e JOIN ledger_account a ON a.id = e.account_id
         WHERE e.scheme_id = %(s)s AND a.kind = 'household')
"""


def _by_group_by(scheme_id: int, bounds: dict[str, Any]) -> dict[str, Any]:
    """The stats API's main figures by plain GROUP BY over the entries."""
    from django.db import connection

    from civicpoints.reports.rollups import FLOW_OF, SIGN

    flows: dict[str, int] = defaultdict(int)
    townships: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    categories: dict[str, int] = defaultdict(int)
    with connection.cursor() as c:
        c.execute(FLOWS_BY_GROUP_BY, bounds)
        for base, township, category, _month, amount, _homes in c.fetchall():
            if base not in FLOW_OF:
                continue
            flow = FLOW_OF[base]
            value = SIGN[base] * int(amount)
            flows[flow] += value
            townships[township][flow] += value
            if flow == "awarded":
                categories[category] += value
        c.execute(TAKING_PART_BY_GROUP_BY, bounds)
        taking_part = {status: int(n) for status, n in c.fetchall()}
        c.execute(OUTSTANDING_BY_GROUP_BY, bounds)
        balances, entries = c.fetchone()
        outstanding = int(balances or 0)
    return {
        "flows": {f: v for f, v in flows.items() if v},
        "taking_part": taking_part,
        "outstanding": outstanding,
        "outstanding_by_entries": int(entries or 0),
        "townships": {t: dict(v) for t, v in townships.items()},
        "categories": dict(categories),
    }


def _stats(ns: argparse.Namespace, scheme_id: int) -> dict[str, Any]:
    import datetime as dt

    from django.test import Client
    from django.utils import timezone

    from civicpoints.ledger.amounts import to_points
    from civicpoints.reports.periods import period_for
    from civicpoints.schemes.models import Scheme, User
    from civicpoints.schemes.services import api_token_issue

    scheme = Scheme.objects.get(pk=scheme_id)
    county = scheme.operator_region
    today = timezone.localdate()
    year = period_for("year", today)
    tz = timezone.get_default_timezone()
    bounds = {
        "s": scheme_id,
        "start": dt.datetime.combine(year.start, dt.time.min, tzinfo=tz),
        "end": dt.datetime.combine(year.end or today, dt.time.min, tzinfo=tz),
    }
    token, _ = api_token_issue(user=User.objects.get(username="county-admin"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    query = {"region": county.pk, "period": "year"}
    first = client.get("/api/v1/stats", query)  # warm
    assert first.status_code == 200, first.content
    times = []
    for _ in range(ns.queries):
        t0 = time.perf_counter()
        answer = client.get("/api/v1/stats", query)
        times.append(time.perf_counter() - t0)
    times.sort()
    ours = answer.json()
    plain = []
    theirs: dict[str, Any] = {}
    for _ in range(5):
        t0 = time.perf_counter()
        theirs = _by_group_by(scheme_id, bounds)
        plain.append(time.perf_counter() - t0)

    def points(hundredths: int) -> float:
        return float(to_points(hundredths))

    h = ours["households"]
    agree = {
        "flows": {f: v for f, v in ours["flows"].items() if v}
        == {f: points(v) for f, v in theirs["flows"].items()},
        "taking_part": [h["active_taking_part"], h["away_taking_part"], h["unable_taking_part"]]
        == [theirs["taking_part"].get(s, 0) for s in ("active", "away", "unable")],
        "outstanding": ours["outstanding"] == points(theirs["outstanding"]),
        "townships": {c["region"]: c["awarded"] for c in ours["children"] if c["awarded"]}
        == {t: points(v["awarded"]) for t, v in theirs["townships"].items() if v.get("awarded")},
        "categories": {c["category"]: c["awarded"] for c in ours["categories"]}
        == {c: points(v) for c, v in theirs["categories"].items() if v},
    }
    p50 = statistics.median(times) * 1000
    p95 = times[int(0.95 * (len(times) - 1))] * 1000
    group_by = statistics.median(plain) * 1000
    return {
        "stats_ms_p50": round(p50, 2),
        "stats_ms_p95": round(p95, 2),
        "group_by_ms_median": round(group_by, 1),
        "group_by_ms": [round(x * 1000, 1) for x in plain],
        "faster": round(group_by / p95, 1),
        "agree": agree,
        "awarded_this_year": ours["flows"]["awarded"],
    }


def _first_render(ns: argparse.Namespace, url: str) -> dict[str, Any]:
    """The dashboard's first render in Chromium against the production server."""
    import pages_http
    from playwright.sync_api import sync_playwright

    from civicpoints.schemes.models import User

    admin = User.objects.get(username="county-admin")
    admin.set_password(risk_scan.PASSWORD)
    admin.save(update_fields=["password"])
    # The production server's keys (the dashboard decrypts nothing; staff sign in by password).
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(60))
    os.environ.setdefault(
        "FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode()
    )
    server = pages_http._server(url, ns)
    times = []
    try:
        pages_http._wait_for(ns.port, server)
        base = f"http://127.0.0.1:{ns.port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            for _ in range(6):  # the first warms the server's caches; five are timed
                context = browser.new_context(
                    locale="zh-CN", viewport={"width": 1920, "height": 1080}
                )
                page = context.new_page()
                page.goto(base + "/login/")
                page.get_by_label("用户名").fill("county-admin")
                page.get_by_label("密码").fill(risk_scan.PASSWORD)
                page.get_by_role("button", name="登录").click()
                page.wait_for_url(base + "/")
                t0 = time.perf_counter()
                page.goto(base + "/dashboard/")
                for chart in ("trend", "categories", "children", "households"):
                    page.locator(f"#chart-{chart} canvas").wait_for(timeout=30_000)
                times.append(time.perf_counter() - t0)
                context.close()
            browser.close()
    finally:
        _pg.stop_server(server)
    timed = sorted(times[1:])
    return {
        "first_after_start_ms": round(times[0] * 1000),  # the server's caches cold
        "first_render_ms": [round(t * 1000) for t in times[1:]],
        "first_render_ms_median": round(statistics.median(timed) * 1000),
        "first_render_ms_max": round(timed[-1] * 1000),
    }


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    county = rankings.county_followed(ns)
    loaded, env = county["scheme_id"], county["env"]
    postings, chained = county["postings"], county["chained"]
    follow_seconds = county["follow_seconds"]
    from django.db import connection

    from civicpoints.awards.models import Claim
    from civicpoints.households.models import Household

    figures = _stats(ns, loaded)
    _pg.log(f"stats: {figures}")
    browser = _first_render(ns, url) if ns.browser else None
    if browser:
        _pg.log(f"dashboard in Chromium: {browser}")
    throughput = None
    if ns.rounds:
        info = risk_scan._info(loaded)
        accounts = list(
            Household.objects.filter(scheme_id=loaded)
            .order_by("pk")
            .values_list("account", flat=True)[: 500 * ns.workers]
        )
        info["accounts"] = [accounts[i :: ns.workers] for i in range(ns.workers)]
        info["claims"] = list(
            Claim.objects.filter(scheme_id=loaded)
            .order_by("pk")
            .values_list("pk", flat=True)[:1000]
        )
        connection.close()
        throughput = rankings._throughput(ns, env, info)
        from civicpoints.reports.rollups import rollups_rebuild

        t0 = time.monotonic()
        throughput["rebuilt_rows"] = rollups_rebuild(scheme_id=loaded)
        throughput["rebuild_seconds"] = round(time.monotonic() - t0, 1)
    return {
        "benchmark": "stats",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postings": postings,
        "chained_now": chained,
        "follow_seconds": round(follow_seconds, 1),
        "stats": figures,
        "throughput": throughput,
        "browser": browser,
        "goals": {
            "dashboard_first_render_under_1s": bool(
                browser and browser["first_render_ms_max"] < 1000
            ),
            "stats_p95_under_50ms": figures["stats_ms_p95"] <= 50,
            "stats_100x_faster": figures["faster"] >= 100,
            "answers_agree": all(figures["agree"].values()),
            "throughput_ratio_at_least_0_8": bool(
                throughput and throughput["ratio_rollups_bare"] >= 0.8
            ),
        },
    }


def _table(r: dict[str, Any]) -> str:
    s, t = r["stats"], r["throughput"]
    lines = [
        f"database: {r['postings']:,} postings; the follower chained {r['chained_now']:,} "
        f"(and rolled them up) in {r['follow_seconds']} s",
        f"GET /api/v1/stats (county, this year) from rollups: p50 {s['stats_ms_p50']} ms, "
        f"p95 {s['stats_ms_p95']} ms",
        f"the same figures by GROUP BY over the entries: median {s['group_by_ms_median']} ms "
        f"{s['group_by_ms']}; {s['faster']}x the p95; answers agree: {s['agree']}",
    ]
    if r.get("browser"):
        b = r["browser"]
        lines.append(
            f"dashboard first render in Chromium (1920x1080, cold page): median "
            f"{b['first_render_ms_median']} ms, max {b['first_render_ms_max']} ms "
            f"{b['first_render_ms']}; the first after the server started (caches cold): "
            f"{b['first_after_start_ms']} ms"
        )
    if t:
        lines.append(f"postings/s with the follower ({t['workers']} workers): {t['per_second']}")
        lines.append(f"ratio rollups / bare follower: {t['ratio_rollups_bare']}")
    lines.append(f"goals: {r['goals']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    risk_scan.county_options(parser, "civicpoints_bench_stats")
    rankings.bulk_follow_option(parser)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--browser", action="store_true", help="time the dashboard in Chromium")
    parser.add_argument("--port", type=int, default=18093)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
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
