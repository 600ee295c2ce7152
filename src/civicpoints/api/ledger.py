"""Ledger endpoints: adjustment and reversal requests with their four-eyes approval (keyed where
points move), verification, and the public head check."""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from civicpoints.api.idempotency import IdempotencyKey, keyed_body, run_keyed
from civicpoints.api.schemas import ChainHead, ErrorOut, Id, SignedPoints, Trimmed, points_out
from civicpoints.errors import NotFound, PermissionDenied, invalid
from civicpoints.households.selectors import household_for
from civicpoints.ledger.adjustments import (
    APPROVERS,
    adjustment_request,
    approval_approve,
    approval_for,
    approval_reject,
    approval_withdraw,
    approvals_visible,
    reversal_request,
)
from civicpoints.ledger.amounts import parse_points
from civicpoints.ledger.idempotency import Slot
from civicpoints.ledger.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    Entry,
    Posting,
)
from civicpoints.ledger.verify import BadHead, check_head, verify, verify_head
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, parse_id, require_role
from civicpoints.schemes.selectors import schemes_governed

router = Router(tags=["ledger"])


class AdjustmentIn(Schema):
    household: Id
    points: SignedPoints
    reason: Trimmed = Field(min_length=1, max_length=200)


ADJUSTERS = APPROVERS


class ApprovalOut(Schema):
    id: int
    kind: ApprovalKind
    status: ApprovalStatus
    household: int
    points: float = Field(description="该户将收到（负数为扣回）的积分")
    reversal_of: int | None = Field(description="冲正的原记账号（人工调整为 null）")
    reason: str
    requested_by: int
    created_at: datetime
    needs_second: bool = Field(description="是否须另一位县级管理员复核")
    decided_by: int | None
    decided_at: datetime | None
    note: str
    last_error: str = Field(description="上次复核入账失败的原因（申请仍待复核）")
    posting: int | None
    balance_after: float | None = Field(description="入账后该户余额（未入账为 null）")


def approval_out(row: ApprovalRequest) -> dict:
    balance_after = None
    if row.posting_id is not None:
        leg = Entry.objects.filter(
            posting_id=row.posting_id, account__household_id=row.household_id
        ).first()
        balance_after = points_out(leg.balance_after or 0) if leg is not None else None
    return {
        "id": row.pk,
        "kind": row.kind,
        "status": row.status,
        "household": row.household_id,
        "points": points_out(row.amount),
        "reversal_of": row.target_id,
        "reason": row.reason,
        "requested_by": row.requested_by_id,
        "created_at": row.created_at.isoformat(),
        "needs_second": row.needs_second,
        "decided_by": row.decided_by_id,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "note": row.note,
        "last_error": row.last_error,
        "posting": row.posting_id,
        "balance_after": balance_after,
    }


ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post("/adjustments", response={202: ApprovalOut, **ERRORS})
def adjustments(
    request: HttpRequest, body: AdjustmentIn, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    """File a manual adjustment; it is posted only when another county admin approves it."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    # Who may do this is settled before the key is taken: a 404 or 403 is not an attempt,
    # so it is not stored for replay (and a later grant lets the same key go through).
    household = household_for(actor, body.household)
    require_role(
        actor,
        roles=ADJUSTERS,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action="adjustment.request",
    )
    payload = body.model_dump(mode="json")

    def act(key: str, slot: Slot) -> ApprovalRequest:
        return adjustment_request(
            actor=actor,
            household=household,
            amount=parse_points(body.points, allow_negative=True),
            reason=body.reason,
            slot=slot,
        )

    def render(row: ApprovalRequest) -> tuple[int, dict]:
        return 202, keyed_body(ApprovalOut, approval_out(row))

    return run_keyed(request, payload=payload, action=act, render=render)


class ReversalIn(Schema):
    posting: Id
    reason: Trimmed = Field(min_length=1, max_length=200)


@router.post("/reversals", response={201: ApprovalOut, 202: ApprovalOut, **ERRORS})
def reversals(
    request: HttpRequest, body: ReversalIn, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    """Reverse an award, deduction or adjustment: posted at once (201) at or below the
    scheme's threshold, otherwise filed for a second county admin (202)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    posting = Posting.objects.filter(pk=body.posting, scheme_id__in=actor.scheme_ids).first()
    if posting is None:
        raise NotFound("posting")

    def act(key: str, slot: Slot) -> ApprovalRequest:
        return reversal_request(actor=actor, posting=posting, reason=body.reason, slot=slot)

    def render(row: ApprovalRequest) -> tuple[int, dict]:
        status = 201 if row.status == ApprovalStatus.APPROVED else 202
        return status, keyed_body(ApprovalOut, approval_out(row))

    return run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)


class ApprovalFilter(Schema):
    status: ApprovalStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("/approvals", response={200: list[ApprovalOut], 403: ErrorOut, 422: ErrorOut})
def approvals(request: HttpRequest, filters: Query[ApprovalFilter]) -> list[dict]:
    """Adjustment and reversal requests over the county admin's households, newest first."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if not actor.grants_for(APPROVERS):
        raise PermissionDenied("approval.list")
    rows = approvals_visible(actor)
    if filters.status:
        rows = rows.filter(status=filters.status)
    return [approval_out(r) for r in rows[filters.offset : filters.offset + filters.limit]]


def _approver_row(actor: Actor, approval_id: str, action: str) -> ApprovalRequest:
    row = approval_for(actor, approval_id)
    require_role(
        actor,
        roles=APPROVERS,
        scheme_id=row.scheme_id,
        region_path=row.household.village.path,
        action=action,
    )
    return row


@router.get("/approvals/{approval_id}", response={200: ApprovalOut, 403: ErrorOut, 404: ErrorOut})
def approval(request: HttpRequest, approval_id: str) -> dict:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    return approval_out(_approver_row(actor, approval_id, "approval.read"))


class DecisionIn(Schema):
    note: Trimmed = Field(default="", max_length=200)


@router.post("/approvals/{approval_id}/approve", response={200: ApprovalOut, **ERRORS})
def approve(
    request: HttpRequest,
    approval_id: str,
    body: DecisionIn,
    idempotency_key: IdempotencyKey = None,
) -> JsonResponse:
    """Post the request (a county admin other than the requester). A refused posting (e.g.
    not enough points) answers its error and leaves the request pending with ``last_error``."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    row = _approver_row(actor, approval_id, "approval.approve")

    def act(key: str, slot: Slot) -> ApprovalRequest:
        return approval_approve(actor=actor, approval_id=row.pk, note=body.note, slot=slot)

    def render(done: ApprovalRequest) -> tuple[int, dict]:
        return 200, keyed_body(ApprovalOut, approval_out(done))

    return run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)


class RejectIn(Schema):
    note: Trimmed = Field(min_length=1, max_length=200)


@router.post("/approvals/{approval_id}/reject", response={200: ApprovalOut, **ERRORS})
def reject(request: HttpRequest, approval_id: str, body: RejectIn) -> dict:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    row = _approver_row(actor, approval_id, "approval.reject")
    return approval_out(approval_reject(actor=actor, approval_id=row.pk, note=body.note))


@router.post("/approvals/{approval_id}/withdraw", response={200: ApprovalOut, **ERRORS})
def withdraw(request: HttpRequest, approval_id: str, body: DecisionIn) -> dict:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    row = _approver_row(actor, approval_id, "approval.withdraw")
    return approval_out(approval_withdraw(actor=actor, approval_id=row.pk, note=body.note))


class VerifyOut(Schema):
    scheme: int
    ok: bool
    postings: int
    chained: int
    lag: int
    head: ChainHead
    first_bad_seq: int | None
    problems: list[dict]


VERIFIERS = (Role.AUDITOR, Role.COUNTY_ADMIN)


@router.get("/verify", response={200: list[VerifyOut], 403: ErrorOut})
def verify_ledger(request: HttpRequest) -> list[dict]:
    """Every invariant and the hash chain, for each scheme the caller audits."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    schemes = [s.pk for s in schemes_governed(actor, VERIFIERS)]
    if not schemes:
        raise PermissionDenied("ledger.verify")
    return [verify(scheme_id=s).as_dict() for s in schemes]


class HeadCheckOut(Schema):
    ok: bool
    seq: int
    hash: str
    scheme: int | None
    date: datetime | None
    first_bad_seq: int | None
    message: str


# A head that verified is remembered this long, so a crowd (or a script) asking about the
# same published head walks the chain once a minute, not once per request.
HEAD_CACHE_SECONDS = 60


@router.get(
    "/verify-head",
    auth=None,
    response={200: HeadCheckOut, 422: ErrorOut},
    summary="Check a published chain head (public)",
)
def verify_published_head(
    request: HttpRequest, seq: str = "", hash: str = "", scheme: str = ""
) -> dict:
    """Whether chain link ``seq`` still has ``hash`` and links 1..seq recompute to it.

    Public, no token: the village's public page (/open/<code>/) and its printed notice board
    publish the head, and anyone may check it. The answer reveals only whether that pair is
    in the chain and the chain up to it is intact, nothing about any posting; a hash cannot
    be guessed, so only published heads pass. ``ok: false`` with a Chinese ``message`` when
    it does not verify; 422 when seq or hash is malformed.
    """
    try:
        number, digest = check_head(seq, hash)
    except BadHead as exc:
        raise invalid(str(exc), field=exc.field) from None
    scheme_id = parse_id(scheme) if scheme else None
    if scheme and scheme_id is None:
        raise invalid(_("方案编号应为正整数"), field="scheme")
    key = f"verify-head:{scheme_id}:{number}:{digest}"
    found = cache.get(key)
    if found is not None:
        return found
    result = verify_head(seq=number, hash=digest, scheme_id=scheme_id).as_dict()
    if result["ok"]:
        cache.set(key, result, HEAD_CACHE_SECONDS)
    return result
