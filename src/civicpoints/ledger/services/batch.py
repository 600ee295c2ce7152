"""Many postings at once, set-based: ``post_awards`` (issuance -> households, notice
finalisation) and ``post_transfers`` (between system accounts: settlement, payouts).

Never a posting per row on PostgreSQL; the same guards as ``post()`` (balanced legs, one
scheme, keys not posted twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.bulk import bound_cursor
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.ledger.models import Account, AccountKind, Entry, Posting, PostingKind
from civicpoints.ledger.services.posting import Leg, legs_check, post


@dataclass(frozen=True)
class Award:
    """One credit posting issuance -> household, for ``post_awards``."""

    account: Account
    amount: int
    idempotency_key: str
    member_id: int | None = None
    memo: str = ""
    ref: tuple[str, Any] = ("", "")
    request_hash: str = ""


class AwardRow(NamedTuple):
    """One credit posting issuance -> household account (by id), for ``post_award_rows``: what
    a batch job has in hand from one SQL read, without loading ``Account`` rows."""

    account_id: int
    amount: int
    idempotency_key: str
    member_id: int | None = None
    memo: str = ""
    ref_type: str = ""
    ref_id: str = ""
    request_hash: str = ""


def post_awards(
    *,
    scheme_id: int,
    issuance: Account,
    awards: Sequence[Award],
    kind: str = PostingKind.AWARD,
    actor_id: int | None = None,
) -> dict[str, int]:
    """Post many credits at once; return the posting id for every award's key.

    Set-based on PostgreSQL (``ledger_post_awards()``, a few statements for the whole batch);
    one ``post()`` each elsewhere. Keys already used are not posted again (a re-run).
    """
    for award in awards:
        if award.account.kind != AccountKind.HOUSEHOLD or award.account.scheme_id != scheme_id:
            raise _not_a_household()
    return post_award_rows(
        scheme_id=scheme_id,
        issuance_id=issuance.pk,
        kind=kind,
        actor_id=actor_id,
        rows=[
            AwardRow(
                a.account.pk,
                a.amount,
                a.idempotency_key,
                a.member_id,
                a.memo,
                a.ref[0],
                str(a.ref[1]),
                a.request_hash,
            )
            for a in awards
        ],
    )


_POST_AWARDS = (
    "SELECT key, posting_id, request_hash FROM ledger_post_awards(%s::bigint, %s::text, "
    "%s::bigint, %s::timestamptz, %s::bigint, %b::bigint[], %b::bigint[], %b::bigint[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[])"
)


def post_award_rows(
    *,
    scheme_id: int,
    issuance_id: int,
    rows: Sequence[AwardRow],
    kind: str = PostingKind.AWARD,
    actor_id: int | None = None,
) -> dict[str, int]:
    """``post_awards`` for rows that name accounts by id; returns posting id by key.

    On PostgreSQL one call of ``ledger_post_awards()``, which locks the accounts in id order and
    refuses any that is not a household account of this scheme; one ``post()`` each elsewhere.
    """
    if not rows:
        return {}
    if kind not in PostingKind.values:
        raise ValueError(f"unknown posting kind {kind}")
    for row in rows:
        if type(row.amount) is not int or not 0 < row.amount <= MAX_HUNDREDTHS:
            raise ApplicationError(ErrorCode.INVALID_INPUT, _("积分超出允许范围"))
    if len({r.idempotency_key for r in rows}) != len(rows):
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED, _("同一批次里有重复的键"))
    if connection.vendor != "postgresql":
        return _post_award_rows_portable(scheme_id, issuance_id, rows, kind, actor_id)
    accounts, amounts, keys, members, memos, ref_types, ref_ids, hashes = zip(*rows, strict=True)
    params: list[Any] = [
        scheme_id,
        kind,
        actor_id,
        timezone.now(),
        issuance_id,
        list(accounts),
        list(amounts),
        list(members),
        list(keys),
        list(hashes),
        [m[:200] for m in memos],
        list(ref_types),
        list(ref_ids),
    ]
    wanted = dict(zip(keys, hashes, strict=True))
    try:
        with transaction.atomic(), bound_cursor() as cursor:
            cursor.execute(_POST_AWARDS, params)
            found = cursor.fetchall()
            if any(wanted[key] != digest for key, _pk, digest in found):
                # A key used before for a different request: refuse, as post() does.
                raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    except IntegrityError as exc:
        # ledger_post_awards() refuses an account that is not a household of the scheme (and
        # an issuance account that is not the scheme's) before it writes anything.
        if getattr(exc.__cause__, "sqlstate", None) == "23503":
            raise _not_a_household() from None
        raise
    return {key: int(pk) for key, pk, _digest in found}


def _post_award_rows_portable(
    scheme_id: int, issuance_id: int, rows: Sequence[AwardRow], kind: str, actor_id: int | None
) -> dict[str, int]:
    """One ``post()`` per award (SQLite), after the checks ``ledger_post_awards()`` makes, all
    in one transaction."""
    accounts = Account.objects.in_bulk([issuance_id, *(r.account_id for r in rows)])
    issuance = accounts.get(issuance_id)
    if (
        issuance is None
        or issuance.scheme_id != scheme_id
        or issuance.kind == AccountKind.HOUSEHOLD
    ):
        raise _not_a_household()
    for r in rows:
        account = accounts.get(r.account_id)
        if (
            account is None
            or account.kind != AccountKind.HOUSEHOLD
            or account.scheme_id != scheme_id
        ):
            raise _not_a_household()
    with transaction.atomic():
        return {
            r.idempotency_key: post(
                scheme_id=scheme_id,
                kind=kind,
                legs=[Leg(issuance, -r.amount), Leg(accounts[r.account_id], r.amount, r.member_id)],
                actor_id=actor_id,
                memo=r.memo,
                idempotency_key=r.idempotency_key,
                request_hash=r.request_hash,
                ref=(r.ref_type, r.ref_id),
            ).pk
            for r in rows
        }


def _not_a_household() -> ApplicationError:
    return ApplicationError(ErrorCode.UNBALANCED_POSTING, _("奖励只能记入本方案的农户账户"))


@dataclass(frozen=True)
class Transfer:
    """One two-leg posting between accounts that keep no balance row, for ``post_transfers``."""

    source: Account
    target: Account
    amount: int
    idempotency_key: str
    memo: str = ""
    ref: tuple[str, Any] = ("", "")


def post_transfers(
    *, scheme_id: int, kind: str, transfers: Sequence[Transfer], actor_id: int | None = None
) -> list[int]:
    """Post many transfers between system accounts at once (settlement, payouts).

    No household balance moves, so nothing needs a guarded update: two bulk inserts, however
    many transfers (set-based, not a posting per row). Returns the posting ids in order.
    """
    if kind not in PostingKind.values:
        raise ValueError(f"unknown posting kind {kind}")
    for t in transfers:
        if AccountKind.HOUSEHOLD in (t.source.kind, t.target.kind):
            raise ValueError("post_transfers moves points between system accounts only")
        legs_check(scheme_id=scheme_id, legs=[Leg(t.source, -t.amount), Leg(t.target, t.amount)])
        if t.amount < 0:
            raise ApplicationError(ErrorCode.UNBALANCED_POSTING, _("转账金额必须为正数"))
    if not transfers:
        return []
    now = timezone.now()
    with transaction.atomic():
        postings = Posting.objects.bulk_create(
            [
                Posting(
                    scheme_id=scheme_id,
                    kind=kind,
                    idempotency_key=t.idempotency_key,
                    actor_id=actor_id,
                    created_at=now,
                    memo=t.memo[:200],
                    ref_type=t.ref[0],
                    ref_id=str(t.ref[1]),
                )
                for t in transfers
            ]
        )
        Entry.objects.bulk_create(
            [
                Entry(scheme_id=scheme_id, posting_id=p.pk, account_id=account.pk, amount=amount)
                for p, t in zip(postings, transfers, strict=True)
                for account, amount in ((t.source, -t.amount), (t.target, t.amount))
            ],
            batch_size=5000,
        )
    return [int(p.pk) for p in postings]
