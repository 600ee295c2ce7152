"""The claim workflow: approve (village, then township when needed), reject, withdraw,
object. Each move locks the claim, checks who may make it and from which status, and records
it (``history``); approval runs the limits (``limits.check_limits``) under the household's lock.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services.claims.history import claim_event_record
from civicpoints.awards.services.claims.intake import PROPOSERS
from civicpoints.awards.services.claims.limits import check_limits
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household
from civicpoints.notifications import events as notify_events
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role

TOWNSHIP_REVIEWERS = frozenset({Role.TOWNSHIP_ADMIN, Role.COUNTY_ADMIN})


def _locked(claim: Claim) -> Claim:
    fresh = Claim.objects.select_for_update().filter(pk=claim.pk).first()
    if fresh is None:
        raise ApplicationError(ErrorCode.NOT_FOUND)
    return Claim.objects.select_related("rule", "village", "household", "scheme").get(pk=fresh.pk)


def claim_approve(*, actor: Actor, claim: Claim, at: dt.datetime | None = None) -> Claim:
    now = at or timezone.now()
    with transaction.atomic():
        # Lock the household first (caps are per household), then the claim: one order always.
        Household.objects.select_for_update().filter(pk=claim.household_id).first()
        claim = _locked(claim)
        before = claim.status
        if before == ClaimStatus.SUBMITTED:
            require_role(
                actor,
                roles=ADMIN_ROLES,
                scheme_id=claim.scheme_id,
                region_path=claim.village.path,
                action="claim.approve",
            )
            # An activity's attendance record (scanned in and out) is its evidence.
            photo_due = claim.rule.needs_photo and claim.source != ClaimSource.ACTIVITY
            if photo_due and not claim.evidence.exists():
                raise ApplicationError(
                    ErrorCode.EVIDENCE_REQUIRED, _("该细则需要上传照片"), {"field": "photo"}
                )
            check_limits(claim)
            claim.village_approved_by_id = actor.user_id
            fields = ["village_approved_by", "status", "notice_ends_at", "updated_at"]
        elif before == ClaimStatus.APPROVED:
            require_role(
                actor,
                roles=TOWNSHIP_REVIEWERS,
                scheme_id=claim.scheme_id,
                region_path=claim.village.path,
                action="claim.approve_township",
            )
            if actor.user_id == claim.village_approved_by_id:
                raise ApplicationError(ErrorCode.SAME_APPROVER)
            claim.township_approved_by_id = actor.user_id
            fields = ["township_approved_by", "status", "notice_ends_at", "updated_at"]
        else:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, detail={"status": before, "action": "approve"}
            )
        if before == ClaimStatus.SUBMITTED and claim.needs_township:
            claim.status = ClaimStatus.APPROVED
        else:
            claim.status = ClaimStatus.ON_NOTICE
            claim.notice_ends_at = now + dt.timedelta(days=claim.scheme.notice_days)
        claim.save(update_fields=fields)
        claim_event_record(claim, actor_id=actor.user_id, action="approve", from_status=before)
    return claim


def _require_reviewer(actor: Actor, claim: Claim, action: str) -> None:
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=claim.scheme_id,
        region_path=claim.village.path,
        action=action,
    )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise invalid(_("请填写原因"), field="reason")
    if len(reason) > 500:
        raise invalid(_("原因太长（最多500个字）"), field="reason")
    return reason


def claim_reject(*, actor: Actor, claim: Claim, reason: str) -> Claim:
    reason = _reason(reason)
    with transaction.atomic():
        claim = _locked(claim)
        _require_reviewer(actor, claim, "claim.reject")
        before = claim.status
        if before not in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED, ClaimStatus.ON_NOTICE):
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, detail={"status": before, "action": "reject"}
            )
        claim.status = ClaimStatus.REJECTED
        claim.notice_ends_at = None
        claim.save(update_fields=["status", "notice_ends_at", "updated_at"])
        claim_event_record(
            claim, actor_id=actor.user_id, action="reject", from_status=before, reason=reason
        )
        notify_events.claim_rejected(claim, reason=reason)
    return claim


def claim_withdraw(*, actor: Actor, claim: Claim, reason: str = "") -> Claim:
    with transaction.atomic():
        claim = _locked(claim)
        if claim.proposed_by_id != actor.user_id:
            _require_reviewer(actor, claim, "claim.withdraw")
        before = claim.status
        if before not in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED):
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, detail={"status": before, "action": "withdraw"}
            )
        claim.status = ClaimStatus.WITHDRAWN
        claim.save(update_fields=["status", "updated_at"])
        claim_event_record(
            claim, actor_id=actor.user_id, action="withdraw", from_status=before, reason=reason
        )
    return claim


def claim_object(
    *,
    claim: Claim,
    reason: str,
    actor: Actor | None = None,
    objector: Household | None = None,
    at: dt.datetime | None = None,
) -> Claim:
    """An objection during notice sends the claim back to review (any resident of the village,
    or staff of the village who propose claims; auditors read, they never write)."""
    now = at or timezone.now()
    reason = _reason(reason)
    with transaction.atomic():
        claim = _locked(claim)
        if objector is not None:
            if objector.village_id != claim.village_id or objector.scheme_id != claim.scheme_id:
                raise ApplicationError(ErrorCode.NOT_FOUND)
            if objector.pk == claim.household_id:
                raise ApplicationError(
                    ErrorCode.PERMISSION_DENIED,
                    _("不能对自己家的申报提出异议"),
                    {"action": "claim.object", "field": "reason"},
                )
        elif actor is None or not actor.covers(
            roles=PROPOSERS,
            scheme_id=claim.scheme_id,
            region_path=claim.village.path,
        ):
            raise ApplicationError(ErrorCode.PERMISSION_DENIED, detail={"action": "claim.object"})
        before = claim.status
        if before != ClaimStatus.ON_NOTICE or (
            claim.notice_ends_at and claim.notice_ends_at <= now
        ):
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION,
                _("只能在公示期内提出异议"),
                {"status": before, "action": "object"},
            )
        claim.status = ClaimStatus.SUBMITTED
        claim.notice_ends_at = None
        claim.village_approved_by_id = None
        claim.township_approved_by_id = None
        claim.save(
            update_fields=[
                "status",
                "notice_ends_at",
                "village_approved_by",
                "township_approved_by",
                "updated_at",
            ]
        )
        event = claim_event_record(
            claim,
            actor_id=actor.user_id if actor else None,
            household_id=objector.pk if objector else None,
            action="object",
            from_status=before,
            reason=reason,
        )
        notify_events.claim_objected(claim, event_id=event.pk)
    return claim
