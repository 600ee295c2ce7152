"""Points that expire: what each household would lose at a cutoff, oldest points first, and the
expiry postings (household -> the scheme's expiry account).

First in, first out: points credited before the cutoff are spent before newer ones, so what is
still left of them is ``credited before the cutoff - everything ever debited`` (spending,
deductions, reversals, earlier expiries), never below zero and never more than the household
can spend now (``balance - held``: points held by an open order are never expired). An expiry
is itself a debit, so a second run at the same cutoff finds nothing left; each posting also
carries the key ``expiry:<cutoff>:<account>``, so even two runs at once expire once.

When a scheme's points expire (its year-end policy) is the scheme's business
(``honours/year_end.py``); this module only counts and posts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import Account, AccountKind, Entry, Posting, PostingKind
from civicpoints.ledger.services import Leg, post, system_account

STORED_TEXT = {"expiry": "积分过期（%(cutoff)s 之前获得的积分）"}


@dataclass(frozen=True)
class Expiring:
    account_id: int
    household_id: int
    points: int  # hundredths that expire


def expiry_due(*, scheme_id: int, cutoff: dt.datetime) -> list[Expiring]:
    """Each household's points credited before ``cutoff`` and still unspent, in account order
    (one grouped query over the scheme's household entries)."""
    entry, posting, account = (m._meta.db_table for m in (Entry, Posting, Account))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT a.id, a.household_id, a.balance - a.held,
                       COALESCE(SUM(CASE WHEN e.amount > 0 AND p.created_at < %s
                                         THEN e.amount END), 0),
                       COALESCE(SUM(CASE WHEN e.amount < 0 THEN -e.amount END), 0)
                  FROM {account} a
                  JOIN {entry} e ON e.account_id = a.id
                  JOIN {posting} p ON p.id = e.posting_id
                 WHERE a.scheme_id = %s AND a.kind = %s
                 GROUP BY a.id, a.household_id, a.balance, a.held
                 ORDER BY a.id""",  # noqa: S608 (table names from the models)
            [
                connection.ops.adapt_datetimefield_value(cutoff),
                scheme_id,
                AccountKind.HOUSEHOLD.value,
            ],
        )
        rows = cursor.fetchall()
    due = []
    for account_id, household_id, available, credited_before, debited in rows:
        points = min(int(credited_before) - int(debited), int(available))
        if points > 0:
            due.append(Expiring(int(account_id), int(household_id), points))
    return due


def expiry_post(
    *, scheme_id: int, cutoff: dt.datetime, due: list[Expiring], actor_id: int | None = None
) -> tuple[int, int]:
    """Post each household's expiry, each its own posting; returns (households, points).

    A household that spent in the meantime is skipped (the next run counts it again); a
    retry of the same cutoff replays the earlier posting (its key) and moves nothing."""
    if not due:
        return 0, 0
    expiry = system_account(scheme_id=scheme_id, kind=AccountKind.EXPIRY)
    accounts = Account.objects.in_bulk([d.account_id for d in due])
    day = timezone.localtime(cutoff).date().isoformat()
    households = points = 0
    for d in due:
        key = f"expiry:{day}:{d.account_id}"
        try:
            post(
                scheme_id=scheme_id,
                kind=PostingKind.EXPIRY,
                legs=[Leg(accounts[d.account_id], -d.points), Leg(expiry, d.points)],
                actor_id=actor_id,
                memo=STORED_TEXT["expiry"] % {"cutoff": day},
                idempotency_key=key,
                request_hash=key,
                ref=("expiry", day),
            )
        except ApplicationError as exc:
            if exc.code != ErrorCode.INSUFFICIENT_POINTS:
                raise
            continue
        households += 1
        points += d.points
    return households, points
