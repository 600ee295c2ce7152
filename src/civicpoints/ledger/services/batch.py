"""Many postings at once, set-based: ``post_awards`` (issuance -> households, notice
finalisation) and ``post_transfers`` (between system accounts: settlement, payouts).

Never a posting per row on PostgreSQL; the same guards as ``post()`` (balanced legs, one
scheme, keys not posted twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

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
    if not awards:
        return {}
    for award in awards:
        if award.account.kind != AccountKind.HOUSEHOLD or award.account.scheme_id != scheme_id:
            raise ApplicationError(ErrorCode.UNBALANCED_POSTING, _("奖励只能记入本方案的农户账户"))
        if not isinstance(award.amount, int) or not 0 < award.amount <= MAX_HUNDREDTHS:
            raise ApplicationError(ErrorCode.INVALID_INPUT, _("积分超出允许范围"))
    if len({a.idempotency_key for a in awards}) != len(awards):
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED, _("同一批次里有重复的键"))
    if connection.vendor != "postgresql":
        return {
            a.idempotency_key: post(
                scheme_id=scheme_id,
                kind=kind,
                legs=[Leg(issuance, -a.amount), Leg(a.account, a.amount, a.member_id)],
                actor_id=actor_id,
                memo=a.memo,
                idempotency_key=a.idempotency_key,
                request_hash=a.request_hash,
                ref=a.ref,
            ).pk
            for a in awards
        }
    params: list[Any] = [
        scheme_id,
        kind,
        actor_id,
        timezone.now(),
        issuance.pk,
        [a.account.pk for a in awards],
        [a.amount for a in awards],
        [a.member_id for a in awards],
        [a.idempotency_key for a in awards],
        [a.request_hash for a in awards],
        [a.memo[:200] for a in awards],
        [a.ref[0] for a in awards],
        [str(a.ref[1]) for a in awards],
    ]
    sql = (
        "SELECT key, posting_id, request_hash FROM ledger_post_awards(%s::bigint, %s::text, %s::bigint, "
        "%s::timestamptz, %s::bigint, %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], "
        "%s::text[], %s::text[], %s::text[], %s::text[])"
    )
    wanted = {a.idempotency_key: a.request_hash for a in awards}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        if any(wanted[key] != digest for key, _, digest in rows):
            # A key used before for a different request: refuse, as post() does.
            raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
        return {key: int(pk) for key, pk, _ in rows}


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
