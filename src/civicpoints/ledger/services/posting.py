"""One posting at a time: ``post()`` (the one write path for postings and entries) and
``reverse()``, with the legs' checks, the guarded household update and the idempotency replay.

Each call is one short transaction (or a savepoint inside the caller's): the posting row is
inserted first (its unique idempotency key is the gate for retries), then household balances
change by guarded ``UPDATE ... WHERE balance + :amount >= held`` in account-id order (no
read-modify-write, no deadlocks), then the entries. Nothing that every posting of a scheme
would touch (a counter, the chain head, a daily total) is written here: the journal follower
(``chain.py``) does that afterwards.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.services import AuditNote
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.ledger.models import STORED_TEXT, Account, AccountKind, Posting, PostingKind
from civicpoints.prepared import execute_prepared

# An AuditNote's columns: action code, object type and id ("" for the posting), region, detail.
AuditColumns = tuple[str, str, str, int | None, dict[str, Any]]


@dataclass(frozen=True)
class Leg:
    account: Account
    amount: int
    member_id: int | None = None


def _insufficient(account_id: int, needed: int) -> ApplicationError:
    row = Account.objects.filter(pk=account_id).values("balance", "held", "household_id").first()
    available = (row["balance"] - row["held"]) if row else 0
    return ApplicationError(
        ErrorCode.INSUFFICIENT_POINTS,
        detail={
            "household": row["household_id"] if row else None,
            "available": available / 100,
            "needed": needed / 100,
        },
    )


def household_balance_move(*, account_id: int, delta: int, held_delta: int) -> int:
    """Change one household balance (and held) if the result keeps balance >= held >= 0."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account SET balance = balance + %s, held = held + %s "
            "WHERE id = %s AND kind = 'household' "
            "AND balance + %s >= held + %s AND held + %s >= 0 RETURNING balance",
            [delta, held_delta, account_id, delta, held_delta, held_delta],
        )
        row = cursor.fetchone()
    if row is None:
        raise _insufficient(account_id, max(-delta, 0) + max(held_delta, 0))
    return int(row[0])


def legs_check(*, scheme_id: int, legs: Sequence[Leg]) -> None:
    """Refuse legs that cannot make a posting: fewer than two, zero or out-of-range amounts,
    another scheme's account, or a sum other than zero."""
    if len(legs) < 2:
        raise ApplicationError(ErrorCode.UNBALANCED_POSTING, _("一笔记账至少需要两条分录"))
    total = 0
    for leg in legs:
        amount = leg.amount
        if type(amount) is not int or amount == 0:  # bool is an int subclass: refused too
            raise ApplicationError(ErrorCode.UNBALANCED_POSTING, _("分录金额必须是非零整数"))
        if not -MAX_HUNDREDTHS <= amount <= MAX_HUNDREDTHS:
            raise ApplicationError(ErrorCode.INVALID_INPUT, _("积分超出允许范围"))
        if leg.account.scheme_id != scheme_id:
            raise ApplicationError(ErrorCode.UNBALANCED_POSTING, _("分录账户不属于同一方案"))
        total += amount
    if total != 0:
        raise ApplicationError(ErrorCode.UNBALANCED_POSTING)


def _replay(scheme_id: int, idempotency_key: str, request_hash: str) -> Posting | None:
    existing = Posting.objects.filter(scheme_id=scheme_id, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_hash != request_hash:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return existing


def post_replay(*, scheme_id: int, idempotency_key: str, request_hash: str) -> Posting | None:
    """The posting made earlier under this key, for services that wrap ``post()``."""
    return _replay(scheme_id, idempotency_key, request_hash)


# ON CONFLICT on the idempotency key: a retry (or a concurrent twin, after it commits) inserts
# nothing and finds the earlier posting; any other unique violation still raises.
_INSERT_POSTING = (
    "INSERT INTO ledger_posting (scheme_id, kind, idempotency_key, request_hash, actor_id, "
    "created_at, memo, reverses_id, ref_type, ref_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (scheme_id, idempotency_key) DO NOTHING RETURNING id"
)
_ENTRY_ROW = "(%s, %s, %s, %s, %s, %s)"


def _insert_entries_sql(count: int) -> str:
    rows = ", ".join([_ENTRY_ROW] * count)  # placeholders only: values go as parameters
    head = "INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, balance_after, "
    return head + "member_id) VALUES " + rows


def _bigints(values: Sequence[int | None]) -> str:
    """An array literal of integers for a ``::bigint[]`` parameter: psycopg's list dumper
    inspects every element in Python, and this is the hottest call in the system."""
    if None in values:
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
    return "{" + ",".join(map(str, values)) + "}"


_POST_SQL = (
    "SELECT ledger_post(%s::bigint, %s::text, %s::text, %s::text, %s::bigint, "
    "%s::timestamptz, %s::text, %s::bigint, %s::text, %s::text, %s::bigint[], "
    "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]"
)
_POST = _POST_SQL + ")"
_POST_AUDITED = _POST_SQL + ", %s::text, %s::text, %s::text, %s::bigint, %s::jsonb)"


# A server-binding cursor kept per thread (Django's connections are per thread) for as long as
# the thread's psycopg connection stays the same: creating one per posting was a measurable
# part of a posting's client time.
_kept = threading.local()


def _cursor(raw: Any) -> psycopg.Cursor[Any]:
    cursor: psycopg.Cursor[Any] | None = getattr(_kept, "cursor", None)
    if cursor is None or cursor.connection is not raw or cursor.closed:
        cursor = _kept.cursor = psycopg.Cursor(raw)
    return cursor


def _post_postgresql(
    db: Any,
    row: tuple[Any, ...],
    ref: tuple[str, str],
    legs: Sequence[Leg],
    moves: list[tuple[int, int, int]],
    audit: AuditColumns | None,
) -> int | None:
    """One call of ledger_post() (sql/post_audited_postgresql.sql); None when the key was used."""
    scheme_id, kind, key, digest, actor_id, now, memo, reverses_id = row
    params: list[Any] = [
        scheme_id,
        kind,
        key,
        digest,
        actor_id,
        now,
        memo,
        reverses_id,
        ref[0],
        ref[1],
        _bigints([leg.account.pk for leg in legs]),
        _bigints([leg.amount for leg in legs]),
        _bigints([leg.member_id for leg in legs]),
        _bigints([m[0] for m in moves]),
        _bigints([m[1] for m in moves]),
        _bigints([m[2] for m in moves]),
    ]
    sql = _POST
    if audit is not None:
        code, object_type, object_id, region_id, detail = audit
        params += [code, object_type, object_id, region_id, json.dumps(detail, ensure_ascii=False)]
        sql = _POST_AUDITED
    # Inside a caller's transaction a refusal must not abort it: run in a savepoint. On its
    # own, the single statement is its own transaction (and its own round trip).
    block = transaction.atomic() if db.in_atomic_block else nullcontext()
    db.ensure_connection()
    try:
        # A server-side-binding psycopg cursor (Django's own cursors bind on the client, which
        # quotes every parameter in Python), the statement prepared once per connection;
        # errors still come out as Django's classes.
        with block, db.wrap_database_errors:
            cursor = _cursor(db.connection)
            execute_prepared(cursor, sql, params)
            fetched = cursor.fetchone()
            result = fetched[0] if fetched else None
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "CP001":
            account_id = int(str(exc.__cause__).split()[0])
            needed = next(max(-m[1], 0) + max(m[2], 0) for m in moves if m[0] == account_id)
            raise _insufficient(account_id, needed) from None
        raise
    return None if result is None else int(result)


def _post_portable(
    row: tuple[Any, ...],
    ref: tuple[str, str],
    legs: Sequence[Leg],
    moves: list[tuple[int, int, int]],
    audit: AuditColumns | None,
) -> int | None:
    """The same steps as ledger_post(), statement by statement (SQLite)."""
    scheme_id, kind, key, digest, actor_id, now, memo, reverses_id = row
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _INSERT_POSTING,
            [
                scheme_id,
                kind,
                key,
                digest,
                actor_id,
                connection.ops.adapt_datetimefield_value(now),
                memo,
                reverses_id,
                ref[0],
                ref[1],
            ],
        )
        inserted = cursor.fetchone()
        if inserted is None:
            return None
        posting_id = int(inserted[0])
        balance_after = {
            account_id: household_balance_move(account_id=account_id, delta=delta, held_delta=held)
            for account_id, delta, held in moves
        }
        params: list[Any] = []
        for leg in legs:
            params += [
                scheme_id,
                posting_id,
                leg.account.pk,
                leg.amount,
                balance_after.get(leg.account.pk),
                leg.member_id,
            ]
        cursor.execute(_insert_entries_sql(len(legs)), params)
        if audit is not None:
            code, object_type, object_id, region_id, detail = audit
            cursor.execute(
                _INSERT_AUDIT,
                [
                    actor_id,
                    scheme_id,
                    code,
                    object_type or "Posting",
                    object_id if object_type else str(posting_id),
                    region_id,
                    json.dumps({**detail, "posting": posting_id}, ensure_ascii=False),
                    connection.ops.adapt_datetimefield_value(now),
                ],
            )
    return posting_id


# The audit row ledger_post() writes on PostgreSQL (post(audit=...)), for SQLite.
_INSERT_AUDIT = (
    "INSERT INTO audit_auditevent (actor_id, scheme_id, action, object_type, object_id, "
    "region_id, detail, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def post(
    *,
    scheme_id: int,
    kind: str,
    legs: Sequence[Leg],
    actor_id: int | None = None,
    memo: str = "",
    idempotency_key: str | None = None,
    request_hash: str = "",
    reverses: Posting | None = None,
    ref: tuple[str, Any] = ("", ""),
    release_held: dict[int, int] | None = None,
    audit: AuditNote | None = None,
) -> Posting:
    """Write one balanced posting; return the earlier one for a repeated idempotency key.

    ``release_held`` maps household account ids to held amounts this posting consumes
    (a hold's capture), applied in the same guarded update as the balance change.

    ``audit`` is the audit row of the action this posting is: written with the posting (one
    SQL call on PostgreSQL), never for a replay of an earlier posting.

    The writes are plain SQL, three statements for a two-leg posting: this is the hottest
    path in the system and the ORM's per-call cost was most of a posting's CPU
    (docs/performance.md). Only this function writes ``ledger_posting`` and ``ledger_entry``.
    """
    legs_check(scheme_id=scheme_id, legs=legs)
    if kind not in _KINDS:
        raise ValueError(f"unknown posting kind {kind}")
    now = timezone.now()
    memo = memo[:200]
    ref_type, ref_id = ref[0], str(ref[1])
    reverses_id = reverses.pk if reverses is not None else None
    deltas: dict[int, int] = {}
    for leg in legs:
        account = leg.account
        if account.kind == _HOUSEHOLD:
            deltas[account.pk] = deltas.get(account.pk, 0) + leg.amount
    if release_held:
        held = {k: -v for k, v in release_held.items()}
        moves = [(a, deltas.get(a, 0), held.get(a, 0)) for a in sorted(deltas.keys() | held)]
    else:
        moves = [(a, deltas[a], 0) for a in sorted(deltas)]
    row = (scheme_id, kind, idempotency_key, request_hash, actor_id, now, memo, reverses_id)
    columns = audit.columns() if audit is not None else None
    db = connections[DEFAULT_DB_ALIAS]
    try:
        if db.vendor == "postgresql":
            posting_id = _post_postgresql(db, row, (ref_type, ref_id), legs, moves, columns)
        else:
            posting_id = _post_portable(row, (ref_type, ref_id), legs, moves, columns)
    except IntegrityError:
        # A concurrent call with the same key won the insert; its posting is the answer.
        if idempotency_key is None:
            raise
        posting_id = None
    if posting_id is None:
        earlier = _replay(scheme_id, idempotency_key or "", request_hash)
        if earlier is None:
            raise IntegrityError("posting insert conflicted without an earlier posting")
        return earlier
    # from_db() with every column in order: the model's fast positional constructor.
    return Posting.from_db(
        DEFAULT_DB_ALIAS,
        _POSTING_COLUMNS,
        [
            posting_id,
            scheme_id,
            kind,
            idempotency_key,
            request_hash,
            actor_id,
            now,
            memo,
            reverses_id,
            ref_type,
            ref_id,
        ],
    )


_KINDS = frozenset(PostingKind.values)
_HOUSEHOLD = AccountKind.HOUSEHOLD.value
_POSTING_COLUMNS = [f.attname for f in Posting._meta.concrete_fields]


def reverse(
    *,
    posting: Posting,
    actor_id: int | None = None,
    memo: str = "",
    idempotency_key: str | None = None,
    request_hash: str = "",
    audit: AuditNote | None = None,
) -> Posting:
    """Undo a posting with its mirror image; a posting is reversed at most once. ``audit`` as
    for ``post()``."""
    if idempotency_key is not None:
        # A retry gets its first reversal back, not "already reversed" (as post() does).
        earlier = _replay(posting.scheme_id, idempotency_key, request_hash)
        if earlier is not None:
            return earlier
    if posting.kind == PostingKind.REVERSAL:
        raise ApplicationError(ErrorCode.ALREADY_REVERSED, _("冲正记录不能再冲正"))
    if Posting.objects.filter(reverses=posting).exists():
        raise ApplicationError(ErrorCode.ALREADY_REVERSED)
    legs = [
        Leg(account=entry.account, amount=-entry.amount, member_id=entry.member_id)
        for entry in posting.entries.select_related("account").order_by("pk")
    ]
    try:
        with transaction.atomic():
            return post(
                scheme_id=posting.scheme_id,
                kind=PostingKind.REVERSAL,
                legs=legs,
                actor_id=actor_id,
                memo=memo or STORED_TEXT["reversal"] % {"posting": posting.pk},
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                reverses=posting,
                ref=(posting.ref_type, posting.ref_id),
                audit=audit,
            )
    except IntegrityError:
        # The unique ``reverses`` column refused a second, concurrent reversal.
        raise ApplicationError(ErrorCode.ALREADY_REVERSED) from None
