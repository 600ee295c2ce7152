"""The journal follower: appends committed postings to the per-scheme hash chain.

One writer per scheme (a PostgreSQL advisory lock; SQLite serialises writers anyway) takes
postings not yet chained in id order, in batches, and appends ``(seq, prev_hash, hash)`` with
``hash = sha256(prev_hash + canonical JSON of the posting and its entries)``. It runs outside
every posting's transaction, so the chain head is never a hot row.

The same pass keeps what other apps derive from postings (the rollups of ``reports``): each
registers a follower (``follower_register``) that gets every batch as it is chained, inside
the batch's transaction. A posting is chained once, so each follower sees it exactly once; a
follower that fails rolls the batch back and the next run takes it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from civicpoints.ledger.models import ChainLink, Entry, Posting

GENESIS = "0" * 64
BATCH = 2000
# How far below the chain head's posting each batch looks for a posting that committed late
# (ids; at a county's busiest, minutes of postings: a transaction takes milliseconds).
STRAGGLER_WINDOW = 20_000
_LOCK_CLASS = 0x6C65  # "le": advisory lock namespace for the follower

# (scheme id, the batch's postings in chain order, their entries by posting id) -> None
Follower = Callable[[int, list[Posting], dict[int, list[Entry]]], None]
_followers: list[Follower] = []


def follower_register(follower: Follower) -> None:
    """Have ``follower`` see every batch of postings as the chain takes it (from an app's
    ``ready()``; the ledger imports no app that posts through it)."""
    if follower not in _followers:
        _followers.append(follower)


def canonical(posting: Posting, entries: Iterable[Entry]) -> bytes:
    body: dict[str, Any] = {
        "id": posting.pk,
        "scheme": posting.scheme_id,
        "kind": posting.kind,
        "created_at": posting.created_at.astimezone(dt.UTC).isoformat(),
        "memo": posting.memo,
        "reverses": posting.reverses_id,
        "key": posting.idempotency_key,
        "ref": [posting.ref_type, posting.ref_id],
        "entries": [
            [e.pk, e.account_id, e.amount, e.member_id] for e in sorted(entries, key=lambda e: e.pk)
        ],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(prev_hash: str, posting: Posting, entries: Iterable[Entry]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(posting, entries)).hexdigest()


def follower_hold(scheme_id: int) -> None:
    """Wait for the scheme's follower and keep it off until the caller's transaction ends
    (a rebuild of what the follower keeps)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, scheme_id])


def _try_lock(scheme_id: int) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, scheme_id])
        return bool(cursor.fetchone()[0])


def _unchained(scheme_id: int, above: int, batch: int) -> list[Posting]:
    """The first ``batch`` committed postings with an id above ``above`` not yet chained, in
    id order. The bound is on both sides of the anti-join, so it reads the postings and the
    links above ``above`` only, never the whole chain."""
    linked = ChainLink.objects.filter(posting_id=OuterRef("pk"), posting_id__gt=above)
    return list(
        Posting.objects.filter(scheme_id=scheme_id, pk__gt=above)
        .filter(~Exists(linked))
        .order_by("pk")[:batch]
    )


def chain_follow(
    *, scheme_id: int, batch: int = BATCH, max_batches: int | None = None, sweep: bool = False
) -> int:
    """Chain the committed postings not yet chained; return how many were added.

    A posting's id is taken when it is written and it is seen when it commits, so one may
    commit after higher ids were chained (its transaction was slower). Each batch looks for
    unchained postings from ``STRAGGLER_WINDOW`` ids below the chain head's posting: that
    finds new postings and late ones, reading a bounded stretch of the ledger however long
    the chain (reading it all, each batch cost O(chain): at 10 million postings a batch took
    seconds). ``sweep`` looks from the first posting instead, moving up as it goes: the
    scheduler's hourly sweep, and whatever needs every posting chained (a period's close,
    ``verify``, ``rollup``) use it, so a posting later than the window is chained within the
    hour, never lost."""
    added = 0
    batches = 0
    swept_to = 0  # sweep: every committed posting at or below this was chained
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            if not _try_lock(scheme_id):
                return added
            head = (
                ChainLink.objects.filter(scheme_id=scheme_id)
                .order_by("-seq")
                .values_list("seq", "hash", "posting_id")
                .first()
            )
            seq, prev, head_posting = head if head else (0, GENESIS, 0)
            above = swept_to if sweep else max(0, head_posting - STRAGGLER_WINDOW)
            postings = _unchained(scheme_id, above, batch)
            if not postings:
                return added
            swept_to = postings[0].pk - 1
            entries: dict[int, list[Entry]] = {p.pk: [] for p in postings}
            for entry in Entry.objects.filter(posting_id__in=entries.keys()):
                entries[entry.posting_id].append(entry)
            links = []
            for posting in postings:
                seq += 1
                digest = link_hash(prev, posting, entries[posting.pk])
                links.append(
                    ChainLink(
                        scheme_id=scheme_id, seq=seq, posting=posting, prev_hash=prev, hash=digest
                    )
                )
                prev = digest
            ChainLink.objects.bulk_create(links)
            for follower in _followers:
                follower(scheme_id, postings, entries)
            added += len(links)
            batches += 1
    return added


def chain_head(*, scheme_id: int) -> dict[str, Any]:
    head = ChainLink.objects.filter(scheme_id=scheme_id).order_by("-seq").first()
    return {"seq": head.seq if head else 0, "hash": head.hash if head else GENESIS}
