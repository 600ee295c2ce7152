"""Settlement of one county day, set-based, against the single-posting rate in the same run.

    .venv/bin/python benchmarks/settlement.py [--payments 5000] [--refunds 200]
        [--merchants 300] [--households 3000] [--database-url URL] [--json] [--keep]

1. Creates a fresh database (``--database-url``, else ``BENCH_DATABASE_URL``, else the server
   of ``DATABASE_URL`` with the database ``civicpoints_bench_settle``; the name must contain
   ``bench``), migrates it and loads a county (4 townships x 5 villages), H funded households
   and M merchants (``merchant_create``, serving the whole county, one cashier each).
2. ``per-row``: P payments of yesterday, each a payment code issued and taken through
   ``merchant_payment_take`` (one posting household -> merchant_payable each), then R partial
   refunds (``refund_create``). Timed: the single-posting rate, rows per second.
3. ``settle``: ``settle(scheme, yesterday)`` once: M statements, their postings
   merchant_payable -> settlement_clearing, every payment and refund claimed. Timed: rows
   (payments + refunds) per second; the ratio settle rows/s over per-row rows/s (goal >= 10).
4. ``settle`` again (changes nothing; timed) and ``reconcile`` (every difference must be 0).
5. ``post``: P bare ``ledger.services.post()`` calls household -> merchant_payable (after the
   settlement, so they do not change it): the ledger's own single-posting rate, for a second,
   stricter ratio.
Prints a table, or JSON with ``--json``. The database is dropped unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from typing import Any

import _pg


def run(ns: argparse.Namespace) -> dict[str, Any]:
    url = ns.database_url
    _pg.log(f"creating {_pg.db_name(url)} and migrating")
    _pg.create_db(url)
    try:
        _pg.migrate(_pg.bench_env(url))
        _pg.django_here(url)
        return _measure(ns)
    finally:
        from django.db import connections

        connections.close_all()
        if not ns.keep:
            _pg.drop_db(url)


def _measure(ns: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from civicpoints.households.models import Household
    from civicpoints.merchants.models import Payment, Statement
    from civicpoints.merchants.services import (
        merchant_create,
        payment_code_issue,
        payment_take,
        refund_create,
    )
    from civicpoints.merchants.settlement import reconcile, settle
    from civicpoints.schemes.models import Role, User
    from civicpoints.schemes.scope import actor_for_user
    from civicpoints.schemes.services import role_grant

    rng = random.Random(7)
    scheme, county, villages = _pg.county()
    _pg.log(f"{ns.households} households, {ns.merchants} merchants")
    ids = _pg.funded_households(scheme, villages, ns.households, 10_000_000)
    households = list(Household.objects.filter(pk__in=ids).select_related("village"))
    admin = User.objects.create_user(username="bench-admin", password="x" * 20)
    role_grant(user=admin, scheme=scheme, region=county, role=Role.COUNTY_ADMIN)
    admin_actor = actor_for_user(admin)
    merchants, cashiers = [], []
    for m in range(ns.merchants):
        cashier = User.objects.create_user(username=f"bench-cashier-{m}", password="x" * 20)
        role_grant(user=cashier, scheme=scheme, region=county, role=Role.MERCHANT_CLERK)
        merchants.append(
            merchant_create(
                actor=admin_actor,
                scheme_id=scheme.pk,
                legal_name=f"压测商户{m}有限公司",
                shop_name=f"压测商户{m}",
                bank_name="中国农业银行",
                account_name=f"压测商户{m}有限公司",
                bank_account=f"62284801{m:011d}",
                regions=[county],
                clerk_ids=[cashier.pk],
            )
        )
        cashiers.append(actor_for_user(cashier))
    with connection.cursor() as cursor:
        # The visibility map and row counts; no ANALYZE: with autovacuum off no column
        # statistics exist in production either, and no plan may depend on them
        # (docs/performance.md, "Query plans").
        cursor.execute("VACUUM")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    base = timezone.make_aware(dt.datetime.combine(yesterday, dt.time(8, 0)))
    step = dt.timedelta(seconds=12 * 3600 / ns.payments)

    _pg.log(f"per-row: {ns.payments} payments and {ns.refunds} refunds")
    started = time.perf_counter()
    payments = []
    for i in range(ns.payments):
        m = i % ns.merchants
        at = base + step * i
        code = payment_code_issue(household=rng.choice(households), at=at)
        payments.append(
            payment_take(
                actor=cashiers[m],
                merchant=merchants[m],
                code=code.code,
                points=rng.choice((1850, 3650, 5200, 12800, 990)),
                at=at + dt.timedelta(seconds=3),
            )
        )
    pay_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for i, payment in enumerate(rng.sample(payments, ns.refunds)):
        refund_create(
            actor=cashiers[payment.merchant_id - merchants[0].pk],
            payment=payment,
            points=500,
            reason="压测退款",
            at=payment.created_at + dt.timedelta(minutes=1 + i % 30),
        )
    refund_seconds = time.perf_counter() - started
    per_row = (ns.payments + ns.refunds) / (pay_seconds + refund_seconds)

    _pg.log("settle")
    profiler = None
    if ns.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    first = settle(scheme=scheme, day=yesterday)
    settle_seconds = time.perf_counter() - started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    started = time.perf_counter()
    second = settle(scheme=scheme, day=yesterday)
    rerun_seconds = time.perf_counter() - started
    checks = reconcile(scheme=scheme, day=yesterday)
    rows = ns.payments + ns.refunds
    settle_rate = rows / settle_seconds
    post_rate = _post_rate(households, merchants, ns.payments)
    claimed = Payment.objects.filter(statement__isnull=False).count()
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "payments": ns.payments,
        "refunds": ns.refunds,
        "merchants": ns.merchants,
        "per_row": {
            "payments_seconds": round(pay_seconds, 2),
            "refunds_seconds": round(refund_seconds, 2),
            "rows_per_second": round(per_row, 1),
        },
        "settle": {
            "seconds": round(settle_seconds, 3),
            "statements": len(first.statements),
            "rows_per_second": round(settle_rate, 1),
            "rerun_seconds": round(rerun_seconds, 3),
            "rerun_statements": len(second.statements),
            "payments_claimed": claimed,
        },
        "post_per_second": round(post_rate, 1),
        "ratio_settle_vs_per_row": round(settle_rate / per_row, 1),
        "ratio_settle_vs_post": round(settle_rate / post_rate, 1),
        "goal": ">= 10",
        "reconcile_differences": [c.difference for c in checks],
        "statements_total": Statement.objects.count(),
    }


def _post_rate(households: list[Any], merchants: list[Any], count: int) -> float:
    """Bare ``ledger.services.post()`` household -> merchant_payable: the single-posting rate."""
    from civicpoints.ledger.models import PostingKind
    from civicpoints.ledger.services import Leg, household_account, post
    from civicpoints.merchants.services import merchant_account

    legs = [
        (household_account(household=h), merchant_account(merchants[i % len(merchants)]))
        for i, h in enumerate(households[:count])
    ]
    started = time.perf_counter()
    for i in range(count):
        source, target = legs[i % len(legs)]
        post(
            scheme_id=source.scheme_id,
            kind=PostingKind.PAYMENT,
            legs=[Leg(source, -100), Leg(target, 100)],
            memo="压测",
            idempotency_key=f"bench:post:{i}",
        )
    return count / (time.perf_counter() - started)


def _table(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"payments {r['payments']}, refunds {r['refunds']}, merchants {r['merchants']}",
            f"per-row (payment_take/refund_create): {r['per_row']['rows_per_second']} rows/s "
            f"({r['per_row']['payments_seconds']} s + {r['per_row']['refunds_seconds']} s)",
            f"settle: {r['settle']['seconds']} s for {r['settle']['statements']} statements, "
            f"{r['settle']['rows_per_second']} rows/s; re-run {r['settle']['rerun_seconds']} s, "
            f"{r['settle']['rerun_statements']} new statements",
            f"bare post(): {r['post_per_second']} postings/s",
            f"ratio settle/per-row: {r['ratio_settle_vs_per_row']} (goal {r['goal']}); "
            f"settle/bare post(): {r['ratio_settle_vs_post']}",
            f"reconcile differences: {r['reconcile_differences']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=5000)
    parser.add_argument("--refunds", type=int, default=200)
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--database-url", default=_pg.default_url("civicpoints_bench_settle"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile of settle() to stderr")
    ns = parser.parse_args(argv)
    result = run(ns)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
