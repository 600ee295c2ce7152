"""The end of public notice: post every claim whose notice has ended.

Run by ``civicpoints finalize`` and by the scheduler. Claims are taken in batches, each batch
one transaction that locks its claims (``SKIP LOCKED``: two finalizers share the work instead
of waiting), posts each with the idempotency key ``claim:<id>`` and marks them all posted in
one statement; a re-run or a catch-up after downtime posts each claim once.
Awards first pay off owed deductions; a deduction takes what the balance allows and records
the rest as owed. After the batches, each household gets one text for everything the run
posted for it (``notifications.events.claims_posted``, keyed so a re-run sends nothing).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus, OwedDeduction
from civicpoints.bulk import update_many
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.models import Account, AccountKind, Posting, PostingKind
from civicpoints.ledger.services import (
    Award,
    Leg,
    household_account,
    lock_household_accounts,
    post,
    post_awards,
    system_account,
)
from civicpoints.notifications import events as notify_events


@dataclass
class FinalizeResult:
    posted: list[int] = field(default_factory=list)
    owed: int = 0
    # The posted claims (with their rules) and what each left owed, for the run's texts.
    claims: list[Claim] = field(default_factory=list, repr=False)
    owed_by_claim: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.posted)


BATCH = 500
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

    A run that posted something leaves one ``notice.finalize`` audit row per scheme saying who
    ran it: a staff user (``actor_id``, through the API) or a command (``by``: "system" for the
    scheduler, "civicpoints finalize" with the login that ran it).
    """
    at = at or timezone.now()
    result = FinalizeResult()
    while result.count < limit:
        done = _finalize_batch(
            at=at,
            scheme_id=scheme_id,
            size=min(BATCH, limit - result.count),
            collect=result.claims,
        )
        if not done:
            break
        for claim_id, owed in done:
            result.posted.append(claim_id)
            result.owed += owed
            if owed:
                result.owed_by_claim[claim_id] = owed
    _audit_run(result, at=at, actor_id=actor_id, by=by)
    _notify_posted(result)
    return result


def _audit_run(result: FinalizeResult, *, at: dt.datetime, actor_id: int | None, by: str) -> None:
    claims_by_scheme: dict[int, list[int]] = defaultdict(list)
    for claim in result.claims:
        claims_by_scheme[claim.scheme_id].append(claim.pk)
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
    """One text per household for this run's claims, recorded and sent after commit."""
    by_household: dict[int, list[Claim]] = defaultdict(list)
    for claim in result.claims:
        by_household[claim.household_id].append(claim)
    households = sorted(by_household)
    for start in range(0, len(households), NOTIFY_CHUNK):
        chunk = [c for h in households[start : start + NOTIFY_CHUNK] for c in by_household[h]]
        with transaction.atomic():
            notify_events.claims_posted(chunk, result.owed_by_claim)


def claim_post(*, claim_id: int, at: dt.datetime) -> int | None:
    """Post one claim if it is still on notice and due; return what stays owed (or None)."""
    collect: list[Claim] = []
    done = _finalize_batch(at=at, scheme_id=None, size=1, claim_id=claim_id, collect=collect)
    if not done:
        return None
    with transaction.atomic():
        notify_events.claims_posted(collect, {claim_id: done[0][1]} if done[0][1] else {})
    return done[0][1]


def _finalize_batch(
    *,
    at: dt.datetime,
    scheme_id: int | None,
    size: int,
    claim_id: int | None = None,
    collect: list[Claim] | None = None,
) -> list[tuple[int, int]]:
    """Lock up to ``size`` due claims (skipping any another finalizer holds), post them, mark
    them posted; all in one transaction. Returns (claim id, points left owed) pairs."""
    with transaction.atomic():
        due = Claim.objects.filter(status=ClaimStatus.ON_NOTICE, notice_ends_at__lte=at)
        if scheme_id is not None:
            due = due.filter(scheme_id=scheme_id)
        if claim_id is not None:
            due = due.filter(pk=claim_id)
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("notice_ends_at", "pk")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return []
        claims = list(
            Claim.objects.filter(pk__in=ids).select_related("household", "rule").order_by("pk")
        )
        households = {c.household_id for c in claims}
        # Lock every household account of the batch in id order before any posting: the
        # postings below touch them in claim order, and two finalizers must not deadlock.
        accounts = lock_household_accounts(households)
        owing = set(
            OwedDeduction.objects.filter(household_id__in=households, remaining__gt=0).values_list(
                "household_id", flat=True
            )
        )
        issuance: dict[int, Account] = {}
        done: list[tuple[int, int]] = []
        # Plain awards to households that owe nothing go set-based, a batch per scheme;
        # deductions and awards that pay off owed points go one by one.
        plain: dict[int, list[Claim]] = defaultdict(list)
        # A household with a deduction in this batch has all its claims posted one by one,
        # in claim order, so awards and deductions see each other's effect.
        mixed = {c.household_id for c in claims if c.is_deduction}
        for claim in claims:
            if claim.scheme_id not in issuance:
                issuance[claim.scheme_id] = system_account(
                    scheme_id=claim.scheme_id, kind=AccountKind.ISSUANCE
                )
            owed = 0
            if claim.is_deduction:
                claim.posting, owed = _post_deduction(claim)
                if owed:
                    owing.add(claim.household_id)
            else:
                account = accounts.get(claim.household_id) or household_account(
                    household=claim.household
                )
                if claim.household_id in owing or claim.household_id in mixed:
                    claim.posting = _post_award(
                        claim,
                        account,
                        issuance[claim.scheme_id],
                        owing=claim.household_id in owing,
                    )
                else:
                    plain[claim.scheme_id].append(claim)
            claim.status = ClaimStatus.POSTED
            claim.updated_at = timezone.now()
            done.append((claim.pk, owed))
        for scheme, batch in plain.items():
            posted = post_awards(
                scheme_id=scheme,
                issuance=issuance[scheme],
                awards=[
                    Award(
                        account=accounts.get(c.household_id)
                        or household_account(household=c.household),
                        amount=c.points,
                        idempotency_key=f"claim:{c.pk}",
                        member_id=c.member_id,
                        memo=c.rule.name,
                        ref=("claim", c.pk),
                        request_hash="claim",
                    )
                    for c in batch
                ],
            )
            for c in batch:
                c.posting_id = posted[f"claim:{c.pk}"]
        update_many(Claim, claims, ["status", "posting", "updated_at"])
        ClaimEvent.objects.bulk_create(
            [
                ClaimEvent(
                    scheme_id=claim.scheme_id,
                    claim=claim,
                    action="post",
                    from_status=ClaimStatus.ON_NOTICE,
                    to_status=ClaimStatus.POSTED,
                    reason=STORED_TEXT["posted_deduction" if claim.is_deduction else "posted"],
                )
                for claim in claims
            ]
        )
    if collect is not None:
        collect.extend(claims)
    return done


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
