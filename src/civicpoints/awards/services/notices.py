"""The end of public notice: post every claim whose notice has ended.

Run by ``civicpoints finalize`` and by the scheduler. The due claims are listed once, then
taken in batches, each batch one transaction that locks its claims by primary key (``SKIP
LOCKED``: two finalizers share the work instead of waiting), posts each with the idempotency
key ``claim:<id>`` (plain awards set-based, in one ledger call) and marks them all posted in
one statement; a re-run or a catch-up after downtime posts each claim once.
Awards first pay off owed deductions; a deduction takes what the balance allows and records
the rest as owed. After the batches, each household gets one text for everything the run
posted for it (``notifications.events.claims_posted``, keyed so a re-run sends nothing).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus, OwedDeduction
from civicpoints.bulk import bound_cursor, update_many
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.models import Account, AccountKind, Posting, PostingKind
from civicpoints.ledger.selectors import household_account_ids
from civicpoints.ledger.services import (
    AwardRow,
    Leg,
    household_account,
    lock_household_accounts,
    post,
    post_award_rows,
    system_account,
)
from civicpoints.notifications import events as notify_events
from civicpoints.notifications.services import phones_for
from civicpoints.rules.models import Rule


class PostedClaim(NamedTuple):
    """What a finalize run keeps of each claim it posted (for its audit row and its texts)."""

    id: int
    scheme_id: int
    household_id: int
    rule_id: int
    rule_name: str
    points: int
    is_deduction: bool


@dataclass
class FinalizeResult:
    posted: list[int] = field(default_factory=list)
    owed: int = 0
    # The posted claims and what each left owed, for the run's audit rows and texts.
    claims: list[PostedClaim] = field(default_factory=list, repr=False)
    owed_by_claim: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.posted)


BATCH = 1000  # claims per transaction: the batch's households stay locked until it commits
NOTIFY_CHUNK = 500  # households per notification transaction
# Text written into claims' history and the ledger stays Chinese whatever the caller's language.
STORED_TEXT = {
    "posted": "公示期满，积分入账",
    "posted_deduction": "公示期满，扣分入账",
    "owed_taken": "（抵扣欠扣分 %(points)s）",
}


def notices_finalize(
    *,
    at: dt.datetime | None = None,
    scheme_id: int | None = None,
    limit: int = 1_000_000,
    actor_id: int | None = None,
    by: str = "system",
) -> FinalizeResult:
    """Post every due claim, a batch of up to ``BATCH`` claims per transaction.

    The due claims are listed once (by scheme, in notice order); each batch then locks its
    claims by primary key, skipping any another finalizer holds, and re-checks that they are
    still on notice. A run that posted something leaves one ``notice.finalize`` audit row per
    scheme saying who ran it: a staff user (``actor_id``, through the API) or a command
    (``by``: "system" for the scheduler, "civicpoints finalize" with the login that ran it).
    """
    at = at or timezone.now()
    result = FinalizeResult()
    schemes = [scheme_id] if scheme_id is not None else _schemes()
    for scheme in schemes:
        due = list(
            Claim.objects.filter(
                scheme_id=scheme, status=ClaimStatus.ON_NOTICE, notice_ends_at__lte=at
            )
            .order_by("notice_ends_at", "pk")
            .values_list("pk", flat=True)[: max(limit - result.count, 0)]
        )
        for start in range(0, len(due), BATCH):
            done = _finalize_batch(ids=due[start : start + BATCH], at=at, collect=result.claims)
            for claim_id, owed in done:
                result.posted.append(claim_id)
                result.owed += owed
                if owed:
                    result.owed_by_claim[claim_id] = owed
    _audit_run(result, at=at, actor_id=actor_id, by=by)
    _notify_posted(result)
    return result


def _schemes() -> list[int]:
    from civicpoints.schemes.models import Scheme

    return list(Scheme.objects.order_by("pk").values_list("pk", flat=True))


def _audit_run(result: FinalizeResult, *, at: dt.datetime, actor_id: int | None, by: str) -> None:
    claims_by_scheme: dict[int, list[int]] = defaultdict(list)
    for claim in result.claims:
        claims_by_scheme[claim.scheme_id].append(claim.id)
    if not claims_by_scheme:
        return
    with transaction.atomic():
        for scheme, claim_ids in sorted(claims_by_scheme.items()):
            owed = sum(result.owed_by_claim.get(pk, 0) for pk in claim_ids)
            audit_record(
                actor_id=actor_id,
                scheme_id=scheme,
                action=AuditAction.NOTICE_FINALIZE,
                detail={
                    "by": by,
                    "at": at.isoformat(),
                    "posted": len(claim_ids),
                    "owed": format_points(owed),
                    "first_claim": min(claim_ids),
                    "last_claim": max(claim_ids),
                },
            )


def _notify_posted(result: FinalizeResult) -> None:
    """One text per household for this run's claims, recorded and sent after commit.

    Households without a phone get nothing, so their claims are not turned into the ``Claim``
    objects the texts are written from (a county's month: tens of thousands of claims)."""
    by_household: dict[int, list[PostedClaim]] = defaultdict(list)
    for claim in result.claims:
        by_household[claim.household_id].append(claim)
    households = sorted(by_household)
    rules: dict[int, Rule] = {}
    for start in range(0, len(households), NOTIFY_CHUNK):
        reachable = phones_for(households[start : start + NOTIFY_CHUNK])
        chunk = [
            _claim_for_text(c, rules)
            for h in households[start : start + NOTIFY_CHUNK]
            if h in reachable
            for c in by_household[h]
        ]
        if chunk:
            with transaction.atomic():
                notify_events.claims_posted(chunk, result.owed_by_claim)


def _claim_for_text(posted: PostedClaim, rules: dict[int, Rule]) -> Claim:
    rule = rules.get(posted.rule_id)
    if rule is None:
        rule = rules[posted.rule_id] = Rule(pk=posted.rule_id, name=posted.rule_name)
    return Claim(
        pk=posted.id,
        scheme_id=posted.scheme_id,
        household_id=posted.household_id,
        rule=rule,
        points=posted.points,
        is_deduction=posted.is_deduction,
    )


def claim_post(*, claim_id: int, at: dt.datetime) -> int | None:
    """Post one claim if it is still on notice and due; return what stays owed (or None)."""
    result = FinalizeResult()
    done = _finalize_batch(ids=[claim_id], at=at, collect=result.claims)
    if not done:
        return None
    owed = done[0][1]
    if owed:
        result.owed_by_claim[claim_id] = owed
    _notify_posted(result)
    return owed


# The batch's claims, locked (PostgreSQL: skipping those another finalizer holds) and read in
# one statement, one primary key at a time: a LATERAL probe with LIMIT 1 stays an index lookup
# whatever the planner believes about the table (autovacuum may be off, the table never
# analysed: then "id = ANY (500 ids)" can look cheaper as a scan of the whole table). A claim
# posted meanwhile by another finalizer is locked and read, then left out by its status.
_LOCK_BATCH_POSTGRESQL = """
SELECT c.id, c.scheme_id, c.household_id, c.rule_id, r.name, c.points, c.is_deduction,
       c.member_id,
       EXISTS (SELECT 1 FROM awards_oweddeduction AS o
                WHERE o.household_id = c.household_id AND o.remaining > 0) AS owing
  FROM unnest(%b::bigint[]) AS u(id)
 CROSS JOIN LATERAL (SELECT * FROM awards_claim AS x WHERE x.id = u.id
                     LIMIT 1 FOR UPDATE SKIP LOCKED) AS c
  JOIN rules_rule AS r ON r.id = c.rule_id
 WHERE c.status = %s AND c.notice_ends_at <= %s
 ORDER BY c.id
"""
_LOCK_BATCH_PORTABLE = """
SELECT c.id, c.scheme_id, c.household_id, c.rule_id, r.name, c.points, c.is_deduction,
       c.member_id,
       EXISTS (SELECT 1 FROM awards_oweddeduction AS o
                WHERE o.household_id = c.household_id AND o.remaining > 0) AS owing
  FROM awards_claim AS c JOIN rules_rule AS r ON r.id = c.rule_id
 WHERE c.id IN ({ids}) AND c.status = %s AND c.notice_ends_at <= %s
 ORDER BY c.id
"""
# Mark the batch's claims posted and write their "post" events (PostgreSQL: one call of
# awards_claims_posted(), sql/claims_posted_postgresql.sql; elsewhere ``update_many`` and
# ``bulk_create``).
_MARK_POSTED = "SELECT awards_claims_posted(%b::bigint[], %b::bigint[], %s, %s, %s)"
REASON_AWARD = STORED_TEXT["posted"]
REASON_DEDUCTION = STORED_TEXT["posted_deduction"]


def _lock_batch(ids: list[int], at: dt.datetime) -> list[tuple[Any, ...]]:
    if connection.vendor == "postgresql":
        with bound_cursor() as cursor:
            cursor.execute(_LOCK_BATCH_POSTGRESQL, [ids, ClaimStatus.ON_NOTICE, at])
            return cursor.fetchall()
    # SQLite serialises writers: nothing to lock or skip.
    sql = _LOCK_BATCH_PORTABLE.format(ids=", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [*ids, ClaimStatus.ON_NOTICE, connection.ops.adapt_datetimefield_value(at)]
        )
        return [(*r[:6], bool(r[6]), r[7], bool(r[8])) for r in cursor.fetchall()]


def _finalize_batch(
    *, ids: list[int], at: dt.datetime, collect: list[PostedClaim]
) -> list[tuple[int, int]]:
    """Lock those of ``ids`` still due (skipping any another finalizer holds), post them, mark
    them posted; all in one transaction. Returns (claim id, points left owed) pairs.

    Plain awards (to households that owe nothing and have no deduction in the batch) go
    set-based through ``post_award_rows``; deductions, and awards that pay off owed points,
    one by one in claim order with every household of the batch locked first."""
    with transaction.atomic():
        rows = _lock_batch(ids, at)
        if not rows:
            return []
        households = {r[2] for r in rows}
        accounts = household_account_ids(household_ids=households)
        mixed = {r[2] for r in rows if r[6]}  # households with a deduction in this batch
        owing = {r[2] for r in rows if r[8]}
        plain: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        one_by_one: list[int] = []
        for r in rows:
            if r[6] or r[2] in mixed or r[2] in owing or r[2] not in accounts:
                one_by_one.append(r[0])
            else:
                plain[r[1]].append(r)
        posting_of: dict[int, int | None] = {}
        owed_of: dict[int, int] = {}
        if one_by_one:
            posting_of, owed_of = _post_one_by_one(one_by_one, households, owing)
        for scheme, batch in plain.items():
            issuance = system_account(scheme_id=scheme, kind=AccountKind.ISSUANCE)
            posted = post_award_rows(
                scheme_id=scheme,
                issuance_id=issuance.pk,
                rows=[
                    AwardRow(
                        accounts[r[2]],
                        r[5],
                        f"claim:{r[0]}",
                        r[7],
                        r[4],
                        "claim",
                        str(r[0]),
                        "claim",
                    )
                    for r in batch
                ],
            )
            for r in batch:
                posting_of[r[0]] = posted[f"claim:{r[0]}"]
        _mark_posted(rows, posting_of)
    collect.extend(PostedClaim(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows)
    return [(r[0], owed_of.get(r[0], 0)) for r in rows]


def _post_one_by_one(
    claim_ids: list[int], households: set[int], owing: set[int]
) -> tuple[dict[int, int | None], dict[int, int]]:
    """Deductions and the awards of households that owe or have a deduction in the batch, in
    claim order, after every household of the batch is locked (id order: no deadlock)."""
    locked = lock_household_accounts(households)
    claims = list(
        Claim.objects.filter(pk__in=claim_ids).select_related("household", "rule").order_by("pk")
    )
    posting_of: dict[int, int | None] = {}
    owed_of: dict[int, int] = {}
    for claim in claims:
        owed = 0
        if claim.is_deduction:
            posting, owed = _post_deduction(claim)
            if owed:
                owing.add(claim.household_id)
        else:
            issuance = system_account(scheme_id=claim.scheme_id, kind=AccountKind.ISSUANCE)
            posting = _post_award(
                claim,
                locked.get(claim.household_id) or household_account(household=claim.household),
                issuance,
                owing=claim.household_id in owing,
            )
        posting_of[claim.pk] = posting.pk if posting is not None else None
        if owed:
            owed_of[claim.pk] = owed
    return posting_of, owed_of


def _mark_posted(rows: list[tuple[Any, ...]], posting_of: dict[int, int | None]) -> None:
    now = timezone.now()
    if connection.vendor == "postgresql":
        ids = [r[0] for r in rows]
        with bound_cursor() as cursor:
            cursor.execute(
                _MARK_POSTED,
                [ids, [posting_of[i] for i in ids], now, REASON_AWARD, REASON_DEDUCTION],
            )
        return
    claims = [
        Claim(pk=r[0], status=ClaimStatus.POSTED, posting_id=posting_of[r[0]], updated_at=now)
        for r in rows
    ]
    update_many(Claim, claims, ["status", "posting", "updated_at"])
    ClaimEvent.objects.bulk_create(
        [
            ClaimEvent(
                scheme_id=r[1],
                claim_id=r[0],
                action="post",
                from_status=ClaimStatus.ON_NOTICE,
                to_status=ClaimStatus.POSTED,
                reason=REASON_DEDUCTION if r[6] else REASON_AWARD,
                created_at=now,
            )
            for r in rows
        ]
    )


def _post_award(claim: Claim, account: Account, issuance: Account, *, owing: bool) -> Posting:
    legs = [Leg(issuance, -claim.points), Leg(account, claim.points, claim.member_id)]
    taken = _take_owed(claim) if owing else 0
    memo = claim.rule.name
    if taken:
        legs += [Leg(account, -taken), Leg(issuance, taken)]
        memo += STORED_TEXT["owed_taken"] % {"points": format_points(taken)}
    return post(
        scheme_id=claim.scheme_id,
        kind=PostingKind.AWARD,
        legs=legs,
        memo=memo,
        idempotency_key=f"claim:{claim.pk}",
        request_hash="claim",
        ref=("claim", claim.pk),
    )


def _take_owed(claim: Claim) -> int:
    """Reduce this household's owed deductions (oldest first) by up to the award."""
    budget = claim.points
    taken = 0
    owed = OwedDeduction.objects.select_for_update().filter(
        household_id=claim.household_id, remaining__gt=0
    )
    for row in owed.order_by("pk"):
        if budget == 0:
            break
        take = min(budget, row.remaining)
        OwedDeduction.objects.filter(pk=row.pk).update(remaining=row.remaining - take)
        budget -= take
        taken += take
    return taken


def _post_deduction(claim: Claim) -> tuple[Posting | None, int]:
    household_account(household=claim.household)  # every household has one; make sure
    account = lock_household_accounts([claim.household_id])[claim.household_id]
    take = min(claim.points, max(account.available, 0))
    posting = None
    if take:
        issuance = system_account(scheme_id=claim.scheme_id, kind=AccountKind.ISSUANCE)
        posting = post(
            scheme_id=claim.scheme_id,
            kind=PostingKind.DEDUCTION,
            legs=[Leg(account, -take, claim.member_id), Leg(issuance, take)],
            memo=claim.rule.name,
            idempotency_key=f"claim:{claim.pk}",
            request_hash="claim",
            ref=("claim", claim.pk),
        )
    owed = claim.points - take
    if owed:
        OwedDeduction.objects.create(
            scheme_id=claim.scheme_id,
            household_id=claim.household_id,
            claim=claim,
            amount=owed,
            remaining=owed,
        )
    return posting, owed
