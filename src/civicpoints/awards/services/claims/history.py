"""A claim's history: each move is a ``ClaimEvent`` row and, when staff made it, an audit row,
written in the mover's transaction. Never changes a claim itself."""

from __future__ import annotations

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Claim, ClaimEvent

# A claim's move (``ClaimEvent.action``) as an audit action.
CLAIM_AUDIT = {
    "submit": AuditAction.CLAIM_SUBMIT,
    "approve": AuditAction.CLAIM_APPROVE,
    "reject": AuditAction.CLAIM_REJECT,
    "withdraw": AuditAction.CLAIM_WITHDRAW,
    "object": AuditAction.CLAIM_OBJECT,
}


def claim_event_record(
    claim: Claim,
    *,
    actor_id: int | None,
    action: str,
    from_status: str,
    reason: str = "",
    household_id: int | None = None,
) -> ClaimEvent:
    """Record the move ``action`` the claim just made from ``from_status`` (to its status now);
    a resident's objection names their household instead of a staff actor."""
    event = ClaimEvent.objects.create(
        scheme_id=claim.scheme_id,
        claim=claim,
        actor_id=actor_id,
        actor_household_id=household_id,
        action=action,
        from_status=from_status,
        to_status=claim.status,
        reason=reason[:500],
    )
    if actor_id is not None:
        audit_record(
            actor_id=actor_id,
            scheme_id=claim.scheme_id,
            action=CLAIM_AUDIT[action],
            obj=claim,
            detail={"from": from_status, "to": claim.status, "reason": reason[:200]},
        )
    return event
