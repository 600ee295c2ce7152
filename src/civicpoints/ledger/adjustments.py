"""Four eyes: manual adjustments and large reversals wait for a second county admin.

A county admin files a request (what would be posted is fixed then); another county admin
approves it, and only then is it posted, through ``ledger.services``, in the same transaction
as the status change (the request row locked, the posting keyed by the request, so approving
twice, a retry or two admins at once give one posting). The requester never approves or
rejects their own request; they may withdraw it. Nothing here posts without that second pair
of eyes except a reversal at or below the scheme's threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import AuditNote, audit_record
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied, invalid
from civicpoints.ledger.idempotency import Slot, idempotency_fail, idempotency_succeed
from civicpoints.ledger.models import (
    DEFAULT_REVERSAL_THRESHOLD,
    STORED_TEXT,
    AccountKind,
    ApprovalKind,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStatus,
    Posting,
    PostingKind,
)
from civicpoints.ledger.services import Leg, household_account, post, reverse, system_account
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import STAFF_ROLES, Actor, get_scoped, require_role, scoped

if TYPE_CHECKING:  # households use the ledger, never the reverse (docs/architecture.md)
    from civicpoints.households.models import Household

APPROVERS = (Role.COUNTY_ADMIN,)
# Postings a county admin may ask to reverse here. Store returns, order captures and merchant
# payments/refunds have their own flows (stock, order and refund records must move with them).
REVERSIBLE = (PostingKind.AWARD, PostingKind.DEDUCTION, PostingKind.ADJUSTMENT)
MAX_REASON = 200
# How each request and decision is recorded in the audit log ("post": a reversal at or below
# the threshold, posted without a second admin).
DECISION_AUDIT: dict[tuple[str, str], AuditAction] = {
    (ApprovalKind.ADJUSTMENT, "request"): AuditAction.ADJUSTMENT_REQUEST,
    (ApprovalKind.ADJUSTMENT, "approve"): AuditAction.ADJUSTMENT_APPROVE,
    (ApprovalKind.ADJUSTMENT, "reject"): AuditAction.ADJUSTMENT_REJECT,
    (ApprovalKind.ADJUSTMENT, "withdraw"): AuditAction.ADJUSTMENT_WITHDRAW,
    (ApprovalKind.REVERSAL, "request"): AuditAction.REVERSAL_REQUEST,
    (ApprovalKind.REVERSAL, "approve"): AuditAction.REVERSAL_APPROVE,
    (ApprovalKind.REVERSAL, "post"): AuditAction.REVERSAL_POST,
    (ApprovalKind.REVERSAL, "reject"): AuditAction.REVERSAL_REJECT,
    (ApprovalKind.REVERSAL, "withdraw"): AuditAction.REVERSAL_WITHDRAW,
}


def reversal_threshold(*, scheme_id: int) -> int:
    """Hundredths above which a reversal waits for a second county admin."""
    found = (
        ApprovalPolicy.objects.filter(scheme_id=scheme_id)
        .values_list("reversal_threshold", flat=True)
        .first()
    )
    return DEFAULT_REVERSAL_THRESHOLD if found is None else found


def _clean_reason(reason: str, *, field: str = "reason", required: bool = True) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise invalid(_("请填写原因"), field=field)
    if len(reason) > MAX_REASON:
        raise invalid(_("原因太长（最多200个字）"), field=field)
    return reason


def _require_approver(actor: Actor, household: Household, action: str) -> int:
    """The acting county admin's user id, or PermissionDenied."""
    if actor.user_id is None:
        raise PermissionDenied(action)
    require_role(
        actor,
        roles=APPROVERS,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action=action,
    )
    return actor.user_id


# --- reading --------------------------------------------------------------------------------


def approvals_visible(actor: Actor) -> QuerySet[ApprovalRequest]:
    """Requests over households in the county admin's regions, newest first."""
    return scoped(
        actor,
        ApprovalRequest.objects.select_related(
            "household", "household__village", "requested_by", "decided_by", "target", "posting"
        ),
        region_path_field="household__village__path",
        roles=APPROVERS,
    ).order_by("-pk")


def approval_for(actor: Actor, approval_id: object, *, lock: bool = False) -> ApprovalRequest:
    """One request the actor's staff grants reach (404 otherwise); ``lock`` locks its row."""
    rows = ApprovalRequest.objects.select_related("household", "household__village")
    if lock:
        rows = rows.select_for_update(of=("self",))
    return get_scoped(
        actor,
        rows,
        approval_id,
        region_path_field="household__village__path",
        roles=STAFF_ROLES,
        what="approval",
    )


def pending_count(actor: Actor) -> int:
    return approvals_visible(actor).filter(status=ApprovalStatus.PENDING).count()


# --- requesting -----------------------------------------------------------------------------


def _duplicate(found: ApprovalRequest | None) -> ApplicationError:
    return ApplicationError(
        ErrorCode.DUPLICATE,
        _("同样的申请正在等待复核，请勿重复提交"),
        {"request": found.pk} if found is not None else {},
    )


def adjustment_request(
    *, actor: Actor, household: Household, amount: int, reason: str, slot: Slot | None = None
) -> ApprovalRequest:
    """File a credit (amount > 0) or debit (amount < 0); posted only when another approves."""
    requester = _require_approver(actor, household, "adjustment.request")
    reason = _clean_reason(reason)
    if amount == 0:
        raise invalid(_("调整积分不能为0"), field="points")
    same = ApprovalRequest.objects.filter(
        kind=ApprovalKind.ADJUSTMENT,
        status=ApprovalStatus.PENDING,
        requested_by_id=requester,
        household=household,
        amount=amount,
    )
    if same.exists():
        raise _duplicate(same.first())
    row = ApprovalRequest(kind=ApprovalKind.ADJUSTMENT, household=household, amount=amount)
    detail = {"household": household.pk, "amount": amount, "reason": reason}
    return _file(
        actor, row, requester=requester, reason=reason, twins=same, detail=detail, slot=slot
    )


def _reversal_household_leg(posting: Posting) -> tuple[Household, int]:
    legs = list(
        posting.entries.filter(account__kind=AccountKind.HOUSEHOLD).select_related(
            "account__household__village"
        )
    )
    household = legs[0].account.household if len(legs) == 1 else None
    if household is None:
        raise invalid(_("只能冲正涉及一户积分的记账"), field="posting")
    return household, -legs[0].amount


def reversal_request(
    *, actor: Actor, posting: Posting, reason: str, slot: Slot | None = None
) -> ApprovalRequest:
    """Ask to reverse an award, deduction or adjustment. At or below the scheme's threshold it
    is posted at once (still recorded here, ``needs_second=False``); above, it waits."""
    household, amount = _reversal_household_leg(posting)
    if not actor.covers(
        roles=STAFF_ROLES, scheme_id=household.scheme_id, region_path=household.village.path
    ):
        raise NotFound("posting")
    requester = _require_approver(actor, household, "reversal.request")
    reason = _clean_reason(reason)
    if posting.kind not in REVERSIBLE:
        raise invalid(_("这类记账不能在这里冲正（退货、退款请在柜台办理）"), field="posting")
    if Posting.objects.filter(reverses=posting).exists():
        raise ApplicationError(ErrorCode.ALREADY_REVERSED)
    waiting = ApprovalRequest.objects.filter(target=posting, status=ApprovalStatus.PENDING)
    if waiting.exists():
        raise _duplicate(waiting.first())
    needs_second = abs(amount) > reversal_threshold(scheme_id=household.scheme_id)
    row = ApprovalRequest(
        kind=ApprovalKind.REVERSAL,
        household=household,
        amount=amount,
        target=posting,
        needs_second=needs_second,
    )
    detail = {
        "posting": posting.pk,
        "household": household.pk,
        "amount": amount,
        "reason": reason,
        "needs_second": needs_second,
    }
    return _file(
        actor, row, requester=requester, reason=reason, twins=waiting, detail=detail, slot=slot
    )


def _file(
    actor: Actor,
    row: ApprovalRequest,
    *,
    requester: int,
    reason: str,
    twins: QuerySet[ApprovalRequest],
    detail: dict[str, object],
    slot: Slot | None,
) -> ApprovalRequest:
    """Save a request with its audit row; one that needs no second admin is posted
    at once, in the same transaction. ``twins`` finds the pending request a concurrent twin
    filed (the partial unique index lets one through)."""
    row.scheme_id = row.household.scheme_id
    row.requested_by_id = requester
    row.reason = reason
    try:
        with transaction.atomic(durable=True):
            row.save(force_insert=True)
            audit_record(
                actor_id=actor.user_id,
                scheme_id=row.scheme_id,
                action=DECISION_AUDIT[(row.kind, "request")],
                obj=row,
                detail=detail,
            )
            if not row.needs_second:
                _post_and_mark(row, actor=actor, note="")
            idempotency_succeed(slot=slot, result=row)
    except IntegrityError:
        # A concurrent twin won the partial unique index.
        raise _duplicate(twins.first()) from None
    return row


# --- deciding -------------------------------------------------------------------------------


def _post(row: ApprovalRequest, actor: Actor, audit: AuditNote) -> Posting:
    key = f"approval:{row.pk}"
    if row.kind == ApprovalKind.REVERSAL:
        assert row.target is not None
        return reverse(
            posting=row.target,
            actor_id=actor.user_id,
            memo=(
                STORED_TEXT["reversal_because"] % {"posting": row.target_id, "reason": row.reason}
            )[:200],
            idempotency_key=key,
            request_hash=key,
            audit=audit,
        )
    return post(
        scheme_id=row.scheme_id,
        kind=PostingKind.ADJUSTMENT,
        legs=[
            Leg(household_account(household=row.household), row.amount),
            Leg(system_account(scheme_id=row.scheme_id, kind=AccountKind.ADJUSTMENT), -row.amount),
        ],
        actor_id=actor.user_id,
        memo=row.reason,
        idempotency_key=key,
        request_hash=key,
        ref=("household", row.household_id),
        audit=audit,
    )


def _post_and_mark(row: ApprovalRequest, *, actor: Actor, note: str) -> None:
    # The audit row goes with the posting, in its one SQL call; "posting" joins its detail.
    audit = AuditNote(
        action=DECISION_AUDIT[row.kind, "approve" if row.needs_second else "post"],
        obj=row,
        detail={"household": row.household_id, "amount": row.amount},
    )
    posting = _post(row, actor, audit)
    row.posting = posting
    row.status = ApprovalStatus.APPROVED
    row.decided_by_id = actor.user_id if row.needs_second else None
    row.decided_at = timezone.now()
    row.note = note
    row.last_error = ""
    row.save(update_fields=["posting", "status", "decided_by", "decided_at", "note", "last_error"])


def _not_yours(row: ApprovalRequest, actor: Actor) -> None:
    if row.requested_by_id == actor.user_id:
        raise ApplicationError(
            ErrorCode.SELF_APPROVAL, detail={"request": row.pk, "requested_by": actor.user_id}
        )


def _closed(row: ApprovalRequest) -> ApplicationError:
    return ApplicationError(
        ErrorCode.INVALID_TRANSITION,
        _("该申请已%(status)s，不能再处理") % {"status": row.get_status_display()},
        {"status": row.status},
    )


def _remember_failure(approval_id: int, message: str) -> None:
    ApprovalRequest.objects.filter(pk=approval_id, status=ApprovalStatus.PENDING).update(
        last_error=message[:200]
    )


def approval_approve(
    *, actor: Actor, approval_id: object, note: str = "", slot: Slot | None = None
) -> ApprovalRequest:
    """Post what the request says, as a county admin other than the requester.

    Approving an approved request returns it unchanged (one posting). If the posting is
    refused (e.g. the household no longer has the points), nothing is posted, the request
    stays pending and keeps the reason in ``last_error`` (written after the rollback, with the
    keyed request's stored refusal); the refusal is raised.
    """
    note = _clean_reason(note, field="note", required=False)
    row_id: int | None = None
    try:
        with transaction.atomic(durable=True):
            row = approval_for(actor, approval_id, lock=True)
            row_id = row.pk
            _require_approver(actor, row.household, f"{row.kind}.approve")
            _not_yours(row, actor)
            if row.status == ApprovalStatus.APPROVED:
                return row
            if row.status != ApprovalStatus.PENDING:
                raise _closed(row)
            try:
                with transaction.atomic():
                    _post_and_mark(row, actor=actor, note=note)
            except ApplicationError as exc:
                exc.posting_refused = True  # type: ignore[attr-defined]
                raise
            idempotency_succeed(slot=slot, result=row)
    except ApplicationError as exc:
        if row_id is not None and getattr(exc, "posting_refused", False):
            with transaction.atomic(durable=True):
                _remember_failure(row_id, exc.message)
                idempotency_fail(slot=slot, error=exc)
        raise
    return row


def approval_reject(*, actor: Actor, approval_id: object, note: str) -> ApprovalRequest:
    """Turn a request down, as a county admin other than the requester; nothing is posted."""
    note = _clean_reason(note, field="note")
    with transaction.atomic():
        row = approval_for(actor, approval_id, lock=True)
        _require_approver(actor, row.household, f"{row.kind}.reject")
        _not_yours(row, actor)
        if row.status == ApprovalStatus.REJECTED:
            return row
        if row.status != ApprovalStatus.PENDING:
            raise _closed(row)
        return _decide(row, actor=actor, status=ApprovalStatus.REJECTED, note=note)


def approval_withdraw(*, actor: Actor, approval_id: object, note: str = "") -> ApprovalRequest:
    """The requester takes back a request that still waits."""
    note = _clean_reason(note, field="note", required=False)
    with transaction.atomic():
        row = approval_for(actor, approval_id, lock=True)
        _require_approver(actor, row.household, f"{row.kind}.withdraw")
        if row.requested_by_id != actor.user_id:
            raise PermissionDenied(f"{row.kind}.withdraw")
        if row.status == ApprovalStatus.WITHDRAWN:
            return row
        if row.status != ApprovalStatus.PENDING:
            raise _closed(row)
        return _decide(row, actor=actor, status=ApprovalStatus.WITHDRAWN, note=note)


def _decide(row: ApprovalRequest, *, actor: Actor, status: str, note: str) -> ApprovalRequest:
    row.status = status
    row.decided_by_id = actor.user_id
    row.decided_at = timezone.now()
    row.note = note
    row.save(update_fields=["status", "decided_by", "decided_at", "note"])
    verb = "reject" if status == ApprovalStatus.REJECTED else "withdraw"
    audit_record(
        actor_id=actor.user_id,
        scheme_id=row.scheme_id,
        action=DECISION_AUDIT[row.kind, verb],
        obj=row,
        detail={"household": row.household_id, "amount": row.amount, "note": note},
    )
    return row
