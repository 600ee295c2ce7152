"""The end of public notice: post every claim whose notice has ended.

Run by ``civicpoints finalize`` and by the scheduler. Each claim is posted in its own short
transaction behind a row lock and a status check, with the idempotency key ``claim:<id>``,
so two finalizers at once, a re-run or a catch-up after downtime post each claim once.
Awards first pay off owed deductions; a deduction takes what the balance allows and records
the rest as owed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus, OwedDeduction
from civicpoints.households.sms import send_sms
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.models import Account, AccountKind, Posting, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, system_account


@dataclass
class FinalizeResult:
    posted: list[int] = field(default_factory=list)
    owed: int = 0

    @property
    def count(self) -> int:
        return len(self.posted)


def notices_finalize(
    *, at: dt.datetime | None = None, scheme_id: int | None = None, limit: int = 10_000
) -> FinalizeResult:
    at = at or timezone.now()
    due = Claim.objects.filter(status=ClaimStatus.ON_NOTICE, notice_ends_at__lte=at)
    if scheme_id is not None:
        due = due.filter(scheme_id=scheme_id)
    result = FinalizeResult()
    for claim_id in due.order_by("notice_ends_at", "pk").values_list("pk", flat=True)[:limit]:
        owed = claim_post(claim_id=claim_id, at=at)
        if owed is not None:
            result.posted.append(claim_id)
            result.owed += owed
    return result


def claim_post(*, claim_id: int, at: dt.datetime) -> int | None:
    """Post one claim if it is still on notice and due; return what stays owed (or None)."""
    with transaction.atomic():
        locked = (
            Claim.objects.select_for_update()
            .filter(pk=claim_id, status=ClaimStatus.ON_NOTICE, notice_ends_at__lte=at)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None:
            return None  # another finalizer got there first, or an objection came in
        claim = Claim.objects.select_related("household", "rule").get(pk=locked)
        if claim.is_deduction:
            posting, owed = _post_deduction(claim)
        else:
            posting, owed = _post_award(claim), 0
        claim.status = ClaimStatus.POSTED
        claim.posting = posting
        claim.save(update_fields=["status", "posting", "updated_at"])
        ClaimEvent.objects.create(
            scheme_id=claim.scheme_id,
            claim=claim,
            action="post",
            from_status=ClaimStatus.ON_NOTICE,
            to_status=ClaimStatus.POSTED,
            reason=f"公示期满，{'扣分' if claim.is_deduction else '积分'}入账",
        )
        text = _message(claim, owed)
        phone = claim.household.phone
        transaction.on_commit(lambda: send_sms(phone=phone, text=text))
    return owed


def _post_award(claim: Claim) -> Posting:
    account = household_account(household=claim.household)
    issuance = system_account(scheme_id=claim.scheme_id, kind=AccountKind.ISSUANCE)
    legs = [Leg(issuance, -claim.points), Leg(account, claim.points, claim.member_id)]
    taken = _take_owed(claim)
    memo = claim.rule.name
    if taken:
        legs += [Leg(account, -taken), Leg(issuance, taken)]
        memo += f"（抵扣欠扣分 {format_points(taken)}）"
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
    account = Account.objects.select_for_update().get(household_id=claim.household_id)
    available = account.balance - account.held
    take = min(claim.points, max(available, 0))
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


def _message(claim: Claim, owed: int) -> str:
    points = format_points(claim.points)
    if claim.is_deduction:
        tail = f"，其中 {format_points(owed)} 分余额不足，将从以后的积分中扣除" if owed else ""
        return f"【文明积分】您家「{claim.rule.name}」扣 {points} 分已公示期满入账{tail}。"
    return f"【文明积分】您家「{claim.rule.name}」{points} 分已公示期满入账。"
