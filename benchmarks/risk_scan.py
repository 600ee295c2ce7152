"""The risk scan over the full demo county with two years of history, and posting throughput
with the audit and risk hooks on and off.

    .venv/bin/python benchmarks/risk_scan.py [--households 52767] [--claims 800000]
        [--redemptions 300000] [--payments 200000] [--days 730] [--workers 4]
        [--duration 10] [--rounds 3] [--database-url URL] [--reuse] [--keep] [--json]

1. Creates ``civicpoints_bench_risk`` (``--database-url``, else ``BENCH_DATABASE_URL``, else
   the server of ``DATABASE_URL``; the name must contain ``bench``), migrates it and loads the
   demo county (``build_demo``: 52,767 households, no history), one admin per village, one
   store (with a clerk and goods) per township and 30 signed merchants.
2. Two years of history, set-based (``INSERT ... SELECT`` over ``generate_series``, triggers
   off for the load): posted claims with their award postings, counter redemptions (lines,
   stock moves), merchant payments and refunds, each posting with its two entries and an audit
   row, plus stocktakes and code-guessing audit rows; a few planted patterns (admins with their
   household recorded, one admin approving at month end, one clerk doing many assisted
   redemptions, one merchant taking far more than its peers). About 1.3 M postings with the
   defaults. Household balances are not kept consistent (the scan never reads them): the
   database is for this benchmark only. ``--reuse`` keeps a database already loaded.
3. ``scan``: ``civicpoints risk_scan`` as its own process over the whole history (no watermark,
   no flags yet), then again (nothing new may be raised), then an incremental scan (watermark
   minus the look-back): wall time and peak RSS of each process (``wait4``). Goals: the full
   scan under 60 s and under 500 MB.
4. ``throughput``: W worker processes post award postings through ``ledger.services.post()``
   for ``--duration`` seconds in rounds of four phases: ``bare`` (``post()`` alone, autocommit),
   ``service`` (``post()`` in ``transaction.atomic(durable=True)``, the shape of every service
   that moves points), ``audit`` (the same with the action's audit row, written by ``post(audit=
   AuditNote(...))`` in the posting's own SQL call; the risk job is not in a posting's path) and ``audit+scan`` (the same while another process
   runs the risk scan back to back, each scan incremental: far more often than the scheduler's
   hourly scan, the worst case). Ratios audit/service (the goal >= 0.9), audit/bare and
   audit+scan/audit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import _pg

PASSWORD = "bench-risk-pass-1"


# --------------------------------------------------------------------------- the county


def _county(ns: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from civicpoints.demo.county import build_demo
    from civicpoints.households.models import Household
    from civicpoints.ledger.models import AccountKind
    from civicpoints.ledger.services import system_account
    from civicpoints.merchants.services import merchant_account, merchant_create
    from civicpoints.schemes.models import Region, RegionLevel, Role, RoleGrant, User
    from civicpoints.schemes.scope import actor_for_user
    from civicpoints.stores.models import Product
    from civicpoints.stores.services import store_create

    t0 = time.monotonic()
    demo = build_demo(households=ns.households, password=PASSWORD, history=0)
    scheme = demo.scheme
    _pg.log(f"demo county: {demo.households} households ({time.monotonic() - t0:.0f} s)")
    admin = actor_for_user(User.objects.get(username="county-admin"))
    county = scheme.operator_region
    villages = list(Region.objects.filter(level=RegionLevel.VILLAGE, path__startswith=county.path))
    townships = list(
        Region.objects.filter(level=RegionLevel.TOWNSHIP, parent=county).order_by("code")
    )
    unusable = make_password(None)
    with transaction.atomic():
        admins = User.objects.bulk_create(
            [
                User(
                    username=f"bench-cun-{v.code}", display_name=f"{v.name}书记", password=unusable
                )
                for v in villages
            ]
        )
        RoleGrant.objects.bulk_create(
            [
                RoleGrant(user=u, scheme=scheme, region=v, role=Role.VILLAGE_ADMIN)
                for u, v in zip(admins, villages, strict=True)
            ]
        )
    # Twenty admins record their own household (one in their village): the first rule's data.
    for u, v in list(zip(admins, villages, strict=True))[:20]:
        u.household = Household.objects.filter(scheme=scheme, village=v).order_by("pk").first()
        u.save(update_fields=["household"])
    stores = []
    for i, township in enumerate(townships):
        clerk = User.objects.create(
            username=f"bench-clerk-{i}", display_name=f"{township.name}店员", password=unusable
        )
        RoleGrant.objects.create(user=clerk, scheme=scheme, region=township, role=Role.STORE_CLERK)
        store = store_create(
            actor=admin,
            scheme_id=scheme.pk,
            region=township,
            name=f"{township.name}爱心超市",
            clerk_ids=[clerk.pk],
        )
        products = Product.objects.bulk_create(
            [
                Product(
                    scheme=scheme,
                    store=store,
                    name=f"商品{k}",
                    price=price,
                    stock=1_000_000,
                )
                for k, price in enumerate((500, 1000, 2000, 3000, 5000))
            ]
        )
        account = system_account(
            scheme_id=scheme.pk, kind=AccountKind.STORE, owner_ref=f"store:{store.pk}"
        )
        for p in products:
            stores.append((township.pk, store.pk, account.pk, clerk.pk, p.pk, p.price))
    cashier = User.objects.get(username="merchant-clerk")
    merchants = []
    for m in range(30):
        merchant = merchant_create(
            actor=admin,
            scheme_id=scheme.pk,
            legal_name=f"压测商家{m}有限公司",
            shop_name=f"压测商家{m}",
            bank_name="中国农业银行通榆县支行",
            account_name=f"压测商家{m}有限公司",
            bank_account="6228480123456789012",
            regions=[county],
            clerk_ids=[cashier.pk],
        )
        merchants.append((m, merchant.pk, merchant_account(merchant).pk))
    return {
        "scheme_id": scheme.pk,
        "issuance_id": system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE).pk,
        "county_admin_id": admin.user_id,
        "cashier_id": cashier.pk,
        "village_admins": [(v.pk, u.pk) for u, v in zip(admins, villages, strict=True)],
        "stores": stores,
        "merchants": merchants,
    }


def _load_postings(
    c: Any,
    params: dict[str, Any],
    table: str,
    *,
    kind: str,
    actor: str,
    memo: str,
    ref: tuple[str, str],
    legs: tuple[str, str],
    at: str = "at",
) -> None:
    """One posting per row of the temp ``table`` (its ``pid``) with its two entries, ``points``
    from the account ``legs[0]`` to ``legs[1]``. ``actor``, ``at``, ``ref[1]`` and ``legs`` are
    SQL over the table's columns (or a parameter); the rest are our own constants."""
    c.execute(
        f"""INSERT INTO ledger_posting (id, scheme_id, kind, request_hash, actor_id,
             created_at, memo, ref_type, ref_id)
           SELECT pid, %(s)s, '{kind}', '', {actor}, {at}, '{memo}', '{ref[0]}',
                  {ref[1]}::text FROM {table}""",
        params,
    )
    c.execute(
        f"""INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount)
           SELECT %(s)s, pid, {legs[0]}, -points FROM {table}
           UNION ALL SELECT %(s)s, pid, {legs[1]}, points FROM {table}""",
        params,
    )


def _history(ns: argparse.Namespace, info: dict[str, Any]) -> dict[str, int]:
    """Two years of postings and the rows they belong to, set-based on PostgreSQL."""
    from django.db import connection, transaction

    s = info["scheme_id"]
    params = {
        "s": s,
        "iss": info["issuance_id"],
        "days": ns.days,
        "county_admin": info["county_admin_id"],
        "cashier": info["cashier_id"],
    }
    t0 = time.monotonic()
    with transaction.atomic(), connection.cursor() as c:
        # A bulk load: the per-row guards (zero-sum, no-update triggers) are for live writes.
        c.execute("SET LOCAL session_replication_role = replica")
        c.execute(
            """CREATE TEMP TABLE hh ON COMMIT DROP AS
               SELECT row_number() OVER (ORDER BY h.id) - 1 AS i, h.id, h.village_id,
                      a.id AS account_id, r.parent_id AS township_id
               FROM households_household h JOIN ledger_account a ON a.household_id = h.id
               JOIN schemes_region r ON r.id = h.village_id WHERE h.scheme_id = %(s)s""",
            params,
        )
        c.execute("CREATE INDEX ON hh (i)")
        c.execute("ANALYZE hh")
        c.execute("SELECT count(*) FROM hh")
        params["hn"] = c.fetchone()[0]
        c.execute(
            """CREATE TEMP TABLE rr ON COMMIT DROP AS
               SELECT row_number() OVER (ORDER BY id) - 1 AS i, id, points_per_unit AS ppu,
                      LEAST(COALESCE(cap_day, 2^62), COALESCE(cap_month, 2^62),
                            COALESCE(cap_year, 2^62))::bigint AS cap,
                      approval_level = 'township'
                        AND township_threshold IS NOT NULL AS thresholded,
                      approval_level, township_threshold
               FROM rules_rule WHERE scheme_id = %(s)s AND sign = 'award'
                 AND effective_to IS NULL""",
            params,
        )
        c.execute("SELECT count(*) FROM rr")
        params["rn"] = c.fetchone()[0]
        c.execute("CREATE TEMP TABLE va (village_id bigint, user_id bigint) ON COMMIT DROP")
        c.executemany("INSERT INTO va VALUES (%s, %s)", info["village_admins"])
        params["month_end_village"] = info["village_admins"][0][0]
        c.execute(
            """CREATE TEMP TABLE st (township_id bigint, store_id bigint, account_id bigint,
               clerk_id bigint, product_id bigint, price bigint, k int) ON COMMIT DROP"""
        )
        c.executemany(
            "INSERT INTO st VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(*row, k % 5) for k, row in enumerate(info["stores"])],
        )
        params["assisted_clerk"] = info["stores"][0][3]
        c.execute("CREATE TEMP TABLE mm (i int, id bigint, account_id bigint) ON COMMIT DROP")
        c.executemany("INSERT INTO mm VALUES (%s, %s, %s)", info["merchants"])
        params["mn"] = len(info["merchants"])

        # --- claims, posted, each with its award posting and two entries
        params["n"] = ns.claims
        c.execute(
            """CREATE TEMP TABLE gc ON COMMIT DROP AS
               SELECT nextval('ledger_posting_id_seq') AS pid,
                      nextval('awards_claim_id_seq') AS cid,
                      h.id AS household_id, h.village_id, h.account_id, r.id AS rule_id,
                      x.qty, LEAST(r.ppu * x.qty, r.cap) AS points,
                      r.approval_level = 'township' AND (r.township_threshold IS NULL
                        OR LEAST(r.ppu * x.qty, r.cap) > r.township_threshold) AS needs_township,
                      (CURRENT_DATE - x.dd) AS day, x.hour
               FROM (SELECT floor(random() * %(hn)s)::int AS hi,
                            floor(random() * %(rn)s)::int AS ri,
                            floor(random() * %(days)s)::int + 1 AS dd,
                            1 + floor(random() * 3)::int AS qty,
                            8 + floor(random() * 10)::int AS hour
                     FROM generate_series(1, %(n)s)) x
               JOIN hh h ON h.i = x.hi JOIN rr r ON r.i = x.ri""",
            params,
        )
        # One village's admin approves most of the month's awards at its very end.
        c.execute(
            """UPDATE gc SET day = (date_trunc('month', day) + interval '1 month'
                                   - interval '1 day')::date
               WHERE village_id = %(month_end_village)s AND random() < 0.7
                 AND (date_trunc('month', day) + interval '1 month' - interval '1 day')::date
                     < CURRENT_DATE""",
            params,
        )
        _load_postings(
            c,
            params,
            "gc",
            kind="award",
            actor="NULL",
            at="day + make_interval(days => 3, hours => hour)",
            memo="申报公示期满入账",
            ref=("claim", "cid"),
            legs=("%(iss)s", "account_id"),
        )
        c.execute(
            """INSERT INTO awards_claim (id, scheme_id, household_id, village_id, member_id,
                 rule_id, quantity, points, is_deduction, occurred_on, source, proposed_by_id,
                 note, witness, status, needs_township, village_approved_by_id,
                 township_approved_by_id, notice_ends_at, posting_id, origin_ref, created_at,
                 updated_at)
               SELECT cid, %(s)s, household_id, gc.village_id, NULL, rule_id, qty, points, false,
                      day, 'staff', NULL, '', '', 'posted', needs_township, va.user_id,
                      CASE WHEN needs_township THEN %(county_admin)s END,
                      day + make_interval(days => 3, hours => hour), pid, '',
                      day + make_interval(hours => hour),
                      day + make_interval(days => 3, hours => hour)
               FROM gc JOIN va ON va.village_id = gc.village_id""",
            params,
        )
        c.execute(
            """INSERT INTO audit_auditevent (scheme_id, actor_id, action, object_type, object_id,
                 detail, created_at)
               SELECT %(s)s, va.user_id, 'claim.approve', 'Claim', cid::text, '{}'::jsonb,
                      day + make_interval(hours => hour)
               FROM gc JOIN va ON va.village_id = gc.village_id""",
            params,
        )

        # --- counter redemptions at the household's township store
        params["n"] = ns.redemptions
        c.execute(
            """CREATE TEMP TABLE gr ON COMMIT DROP AS
               SELECT nextval('ledger_posting_id_seq') AS pid,
                      nextval('stores_redemption_id_seq') AS rid,
                      h.id AS household_id, h.account_id, st.store_id,
                      st.account_id AS store_account, st.clerk_id, st.product_id, st.price,
                      x.qty, st.price * x.qty AS points,
                      CASE WHEN random() < CASE WHEN st.clerk_id = %(assisted_clerk)s THEN 0.45
                                                ELSE 0.05 END
                           THEN 'assisted' ELSE 'pin' END AS mode,
                      (CURRENT_DATE - x.dd) + make_interval(hours => x.hour, mins => x.minute)
                        AS at
               FROM (SELECT floor(random() * %(hn)s)::int AS hi, floor(random() * 5)::int AS k,
                            floor(random() * %(days)s)::int + 1 AS dd,
                            1 + floor(random() * 2)::int AS qty,
                            8 + floor(random() * 10)::int AS hour,
                            floor(random() * 60)::int AS minute
                     FROM generate_series(1, %(n)s)) x
               JOIN hh h ON h.i = x.hi
               JOIN st ON st.township_id = h.township_id AND st.k = x.k""",
            params,
        )
        _load_postings(
            c,
            params,
            "gr",
            kind="redemption",
            actor="clerk_id",
            memo="爱心超市兑换",
            ref=("store", "store_id"),
            legs=("account_id", "store_account"),
        )
        c.execute(
            """INSERT INTO stores_redemption (id, scheme_id, store_id, household_id, posting_id,
                 points, cash_fen, mode, assisted_reason, source, actor_id, created_at,
                 return_reason)
               SELECT rid, %(s)s, store_id, household_id, pid, points, 0, mode,
                      CASE WHEN mode = 'assisted' THEN '老人忘记密码，本人在场' ELSE '' END,
                      'counter', clerk_id, at, '' FROM gr""",
            params,
        )
        c.execute(
            """INSERT INTO stores_redemptionline (scheme_id, redemption_id, product_id, quantity,
                 unit_price)
               SELECT %(s)s, rid, product_id, qty, price FROM gr""",
            params,
        )
        c.execute(
            """INSERT INTO stores_stockmove (scheme_id, store_id, product_id, kind, quantity,
                 donor, reason, redemption_id, actor_id, created_at)
               SELECT %(s)s, store_id, product_id, 'redemption', -qty, '', '', rid, clerk_id, at
               FROM gr""",
            params,
        )
        c.execute(
            """INSERT INTO audit_auditevent (scheme_id, actor_id, action, object_type, object_id,
                 detail, created_at)
               SELECT %(s)s, clerk_id, 'store.redeem', 'Redemption', rid::text, '{}'::jsonb, at
               FROM gr""",
            params,
        )

        # --- merchant payments (merchant 0 takes far more than its peers), a few refunds
        params["n"] = ns.payments
        c.execute(
            """CREATE TEMP TABLE gp ON COMMIT DROP AS
               SELECT nextval('ledger_posting_id_seq') AS pid,
                      nextval('merchants_payment_id_seq') AS payid,
                      h.id AS household_id, h.account_id, mm.id AS merchant_id,
                      mm.account_id AS merchant_account,
                      CASE WHEN (mm.i = 1 AND x.kind < 0.2) OR x.kind < 0.002
                           THEN 19000 + 1000 * floor(random() * 2)::bigint
                           ELSE 500 + floor(random() * 15000)::bigint END AS points,
                      (CURRENT_DATE - x.dd) + make_interval(hours => x.hour, mins => x.minute)
                        AS at
               FROM (SELECT floor(random() * %(hn)s)::int AS hi, random() AS kind,
                            LEAST(floor(random() * (%(mn)s + 12))::int, %(mn)s) AS mi,
                            floor(random() * %(days)s)::int + 1 AS dd,
                            8 + floor(random() * 12)::int AS hour,
                            floor(random() * 60)::int AS minute
                     FROM generate_series(1, %(n)s)) x
               JOIN hh h ON h.i = x.hi
               JOIN mm ON mm.i = CASE WHEN x.mi = %(mn)s THEN 0 ELSE x.mi END""",
            params,
        )
        _load_postings(
            c,
            params,
            "gp",
            kind="payment",
            actor="%(cashier)s",
            memo="商家消费",
            ref=("merchant", "merchant_id"),
            legs=("account_id", "merchant_account"),
        )
        c.execute(
            """INSERT INTO merchants_payment (id, scheme_id, merchant_id, household_id,
                 posting_id, points, refunded, via, actor_id, created_at)
               SELECT payid, %(s)s, merchant_id, household_id, pid, points, 0, 'card',
                      %(cashier)s, at FROM gp""",
            params,
        )
        c.execute(
            """INSERT INTO audit_auditevent (scheme_id, actor_id, action, object_type, object_id,
                 detail, created_at)
               SELECT %(s)s, %(cashier)s, 'merchant.payment', 'Payment', payid::text,
                      '{}'::jsonb, at FROM gp""",
            params,
        )
        params["n"] = max(ns.payments // 40, 1)
        c.execute(
            """CREATE TEMP TABLE gf ON COMMIT DROP AS
               SELECT nextval('ledger_posting_id_seq') AS pid, payid, household_id, account_id,
                      merchant_id, merchant_account, points, at + interval '40 minutes' AS at
               FROM gp ORDER BY random() LIMIT %(n)s""",
            params,
        )
        _load_postings(
            c,
            params,
            "gf",
            kind="refund",
            actor="%(cashier)s",
            memo="商家退款",
            ref=("merchant", "merchant_id"),
            legs=("merchant_account", "account_id"),
        )
        c.execute(
            """INSERT INTO merchants_refund (scheme_id, merchant_id, payment_id, posting_id,
                 points, reason, actor_id, created_at)
               SELECT %(s)s, merchant_id, payid, pid, points, '退货', %(cashier)s, at FROM gf""",
            params,
        )
        c.execute(
            """UPDATE merchants_payment p SET refunded = p.points FROM gf
               WHERE p.id = gf.payid"""
        )

        # --- stocktakes (one in ten with no real reason) and code-guessing bursts
        c.execute(
            """INSERT INTO stores_stockmove (scheme_id, store_id, product_id, kind, quantity,
                 donor, reason, actor_id, created_at)
               SELECT %(s)s, st.store_id, st.product_id, 'stocktake',
                      -1 - floor(random() * 3)::int, '',
                      CASE WHEN random() < 0.1 THEN '无' ELSE '过期变质，已拍照' END,
                      st.clerk_id,
                      CURRENT_DATE - (1 + floor(random() * %(days)s)::int) + interval '18 hours'
               FROM st, generate_series(1, 40)""",
            params,
        )
        c.execute(
            """INSERT INTO audit_auditevent (scheme_id, actor_id, action, object_type, object_id,
                 detail, created_at)
               SELECT %(s)s, %(cashier)s, 'merchant.code_guessing', 'Merchant', mm.id::text,
                      jsonb_build_object('merchant', mm.id, 'cashier', %(cashier)s,
                                         'count', 20 + g),
                      CURRENT_DATE - g * 7 + interval '15 hours'
               FROM mm, generate_series(1, 2) g WHERE mm.i < 20""",
            params,
        )
        c.execute("SELECT count(*) FROM ledger_posting WHERE scheme_id = %(s)s", params)
        postings = c.fetchone()[0]
    with connection.cursor() as c:
        # The visibility map and row counts; no ANALYZE: with autovacuum off no column
        # statistics exist in production either, and no plan may depend on them
        # (docs/performance.md, "Query plans").
        c.execute("VACUUM")
    counts = {"postings": postings, "seconds": round(time.monotonic() - t0, 1)}
    _pg.log(f"history: {postings} postings ({counts['seconds']} s)")
    return counts


# --------------------------------------------------------------------------- the scan


def _timed_scan(env: dict[str, str], scheme_id: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "civicpoints.cli", "risk_scan", "--scheme", str(scheme_id)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"risk_scan failed:\n{err}")
    inner = re.search(r"用时 ([\d.]+) 秒", out)
    return {
        "seconds": round(seconds, 2),  # the whole process: start-up, the scan, exit
        "scan_seconds": float(inner.group(1)) if inner else None,  # the scan alone
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "output": out.strip(),
    }


def _scan_phase(env: dict[str, str], scheme_id: int, count: Any) -> dict[str, Any]:
    from django.db import connection

    from civicpoints.risk.models import RiskEvidence, RiskFlag, RiskNote, RiskRun

    RiskNote.objects.all().delete()
    RiskEvidence.objects.all().delete()
    RiskFlag.objects.all().delete()
    RiskRun.objects.all().delete()
    connection.close()
    full = _timed_scan(env, scheme_id)
    _pg.log(f"full scan: {full}")
    flags = dict(RiskFlag.objects.values_list("rule").annotate(n=count("pk")).order_by("rule"))
    total = sum(flags.values())
    # Again from the start of history: the same findings, not one new flag.
    RiskRun.objects.all().delete()
    connection.close()
    again = _timed_scan(env, scheme_id)
    assert RiskFlag.objects.count() == total, "a rescan raised flags twice"
    incremental = _timed_scan(env, scheme_id)
    _pg.log(f"again: {again}; incremental: {incremental}")
    return {
        "full": full,
        "full_again": again,
        "incremental": incremental,
        "flags": total,
        "flags_by_rule": flags,
    }


# --------------------------------------------------------------------------- throughput


def _worker(
    index: int, env: dict[str, str], info: dict[str, Any], tasks: Any, results: Any
) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection, transaction

    from civicpoints.audit.models import AuditAction
    from civicpoints.audit.services import AuditNote
    from civicpoints.ledger.models import Account, Posting, PostingKind
    from civicpoints.ledger.services import Leg, post

    accounts = Account.objects.in_bulk([*info["accounts"][index], info["issuance_id"]])
    mine = [accounts[a] for a in info["accounts"][index]]
    issuance = accounts[info["issuance_id"]]

    def award(account: Account, key: str, audit: AuditNote | None = None) -> Posting:
        return post(
            scheme_id=info["scheme_id"],
            kind=PostingKind.AWARD,
            legs=[Leg(issuance, -1000), Leg(account, 1000)],
            memo="压测奖励",
            idempotency_key=key,
            actor_id=info["actor_id"],
            audit=audit,
        )

    results.put(("ready", index, None))
    serial = 0
    while True:
        task = tasks.get()
        if task is None:
            break
        phase, start_at, stop_at = task
        while time.time() < start_at:
            time.sleep(0.001)
        count = 0
        while time.time() < stop_at:
            account = mine[serial % len(mine)]
            serial += 1
            key = f"bench-risk:{os.getpid()}:{serial}"
            if phase == "bare":
                award(account, key)
            else:
                # The shape of every service that moves points: one durable transaction; the
                # audit row goes in the posting's own SQL call (post(audit=...)).
                note = None
                if phase != "service":
                    note = AuditNote(action=AuditAction.CLAIM_APPROVE, detail={"points": 10})
                with transaction.atomic(durable=True):
                    award(account, key, note)
            count += 1
        results.put(("done", index, count))
    connection.close()


def _scanner(env: dict[str, str], scheme_id: int, stop: Any, results: Any) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from civicpoints.risk.services import risk_scan

    scans = 0
    while not stop.is_set():
        risk_scan(scheme_id=scheme_id, force=True)
        scans += 1
    results.put(("scans", -1, scans))


def _throughput(
    ns: argparse.Namespace, env: dict[str, str], info: dict[str, Any]
) -> dict[str, Any]:
    from civicpoints.households.models import Household

    accounts = list(
        Household.objects.filter(scheme_id=info["scheme_id"])
        .order_by("pk")
        .values_list("account", flat=True)[: 500 * ns.workers]
    )
    ctx = mp.get_context("spawn")
    tasks = [ctx.Queue() for _ in range(ns.workers)]
    results = ctx.Queue()
    shared = {
        "scheme_id": info["scheme_id"],
        "issuance_id": info["issuance_id"],
        "actor_id": info["county_admin_id"],
        "accounts": [accounts[i :: ns.workers] for i in range(ns.workers)],
    }
    procs = [
        ctx.Process(target=_worker, args=(i, env, shared, tasks[i], results), daemon=True)
        for i in range(ns.workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        results.get(timeout=120)
    phases: dict[str, list[float]] = {"bare": [], "service": [], "audit": [], "audit+scan": []}
    scans: list[int] = []
    try:
        for _round in range(ns.rounds):
            for phase in phases:
                stop = ctx.Event()
                scanner = None
                if phase == "audit+scan":
                    scanner = ctx.Process(
                        target=_scanner, args=(env, info["scheme_id"], stop, results), daemon=True
                    )
                    scanner.start()
                    time.sleep(3)  # let it start scanning before the clock runs
                start_at = time.time() + 0.5
                stop_at = start_at + ns.duration
                for q in tasks:
                    q.put((phase, start_at, stop_at))
                counts = []
                while len(counts) < ns.workers:
                    kind, _index, payload = results.get(timeout=ns.duration + 120)
                    if kind == "done":
                        counts.append(payload)
                rate = sum(counts) / ns.duration
                phases[phase].append(rate)
                if scanner is not None:
                    stop.set()
                    while True:
                        kind, _index, payload = results.get(timeout=600)
                        if kind == "scans":
                            scans.append(payload)
                            break
                    scanner.join(timeout=60)
                _pg.log(f"throughput {phase}: {rate:.1f} postings/s")
    finally:
        for q in tasks:
            q.put(None)
        for p in procs:
            p.join(timeout=10)
    rate = {k: statistics.median(v) for k, v in phases.items()}

    def ratio(a: str, b: str) -> float | None:
        return round(rate[a] / rate[b], 3) if rate[b] else None

    return {
        "workers": ns.workers,
        "seconds_per_phase": ns.duration,
        "per_second": {k: [round(x, 1) for x in v] for k, v in phases.items()},
        "scans_during_audit_scan": scans,
        "ratio_audit_service": ratio("audit", "service"),
        "ratio_audit_bare": ratio("audit", "bare"),
        "ratio_scan_back_to_back_audit": ratio("audit+scan", "audit"),
    }


# --------------------------------------------------------------------------- main


def _info(scheme_id: int) -> dict[str, Any]:
    from civicpoints.ledger.models import AccountKind
    from civicpoints.ledger.services import system_account
    from civicpoints.schemes.models import User

    return {
        "scheme_id": scheme_id,
        "issuance_id": system_account(scheme_id=scheme_id, kind=AccountKind.ISSUANCE).pk,
        "county_admin_id": User.objects.get(username="county-admin").pk,
    }


def _env(url: str) -> dict[str, str]:
    """The product's environment, with this checkout's sources first (workers are spawned)."""
    env = _pg.bench_env(url)
    src = str(_pg.REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run(ns: argparse.Namespace) -> dict[str, Any]:
    from django.db.models import Count

    url = ns.database_url
    env = _env(url)
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
    history: dict[str, Any] = {"reused": True}
    if loaded is None:
        _pg.log(f"creating {_pg.db_name(url)} and migrating")
        _pg.create_db(url)
        _pg.migrate(env)
        info = _county(ns)
        history = _history(ns, info)
        loaded = info["scheme_id"]
    info = _info(loaded)
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM ledger_posting")
        postings = c.fetchone()[0]
        c.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = c.fetchone()[0]
        c.execute("CHECKPOINT")
    connection.close()
    scan = _scan_phase(env, loaded, Count)
    throughput = _throughput(ns, env, info) if ns.rounds else None
    return {
        "benchmark": "risk_scan",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": {"postings": postings, "size": size, **history},
        "scan": scan,
        "throughput": throughput,
        "goals": {
            "full_scan_under_60s": scan["full"]["seconds"] < 60,
            "full_scan_under_500mib": scan["full"]["peak_rss_mib"] < 500,
            "throughput_ratio_at_least_0_9": (
                throughput is not None and (throughput["ratio_audit_service"] or 0) >= 0.9
            ),
        },
    }


def _table(r: dict[str, Any]) -> str:
    s, t = r["scan"], r["throughput"]
    lines = [
        f"database: {r['database']['postings']:,} postings, {r['database']['size']}",
        f"{'scan':<14} {'process s':>10} {'scan s':>8} {'peak RSS MiB':>13}",
    ]
    for name in ("full", "full_again", "incremental"):
        x = s[name]
        lines.append(
            f"{name:<14} {x['seconds']:>10.2f} {x['scan_seconds'] or 0:>8.2f} "
            f"{x['peak_rss_mib']:>13.1f}"
        )
    lines.append(f"flags raised: {s['flags']} {s['flags_by_rule']}")
    if t:
        lines.append(f"throughput postings/s: {t['per_second']}")
        lines.append(
            f"ratios: audit/service {t['ratio_audit_service']}, audit/bare "
            f"{t['ratio_audit_bare']}, scan back to back/audit "
            f"{t['ratio_scan_back_to_back_audit']} (scans: {t['scans_during_audit_scan']})"
        )
    lines.append(f"goals: {r['goals']}")
    return "\n".join(lines)


def county_options(parser: argparse.ArgumentParser, database: str) -> None:
    """The options of the benchmarks that load the county and its history with this loader
    (this one, ``rankings.py``, ``stats.py``): its size, the throughput phases, the
    database."""
    parser.add_argument("--households", type=int, default=52767)
    parser.add_argument("--claims", type=int, default=800_000)
    parser.add_argument("--redemptions", type=int, default=300_000)
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="0: skip the throughput phases")
    parser.add_argument("--database-url", default=_pg.default_url(database))
    parser.add_argument("--reuse", action="store_true", help="keep a database already loaded")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    county_options(parser, "civicpoints_bench_risk")
    ns = parser.parse_args(argv)
    try:
        result = run(ns)
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not ns.keep:
            _pg.drop_db(ns.database_url)
    print(json.dumps(result, ensure_ascii=False, indent=2) if ns.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
