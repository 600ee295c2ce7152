"""Photos as evidence for claims: checked by content (not name), size-limited, stored outside
the web root under ``settings.EVIDENCE_ROOT`` and served only to those who may see the claim.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Claim, ClaimEvidence, ClaimSource, ClaimStatus
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household
from civicpoints.images import check_image, image_file, image_saved
from civicpoints.schemes.scope import Actor

MAX_PHOTOS = 6


def evidence_attach(
    *,
    claim: Claim,
    data: bytes,
    actor: Actor | None = None,
    household: Household | None = None,
) -> ClaimEvidence:
    """Attach a photo to a claim still under review (the caller found the claim in scope)."""
    check_image(data)
    if claim.status not in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED):
        raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("审核通过后不能再添加照片"))
    if household is not None:
        # A resident adds photos only to their own self-report.
        allowed = claim.household_id == household.pk and claim.source == ClaimSource.SELF_REPORT
    else:
        allowed = actor is not None and actor.covers(
            roles=("county_admin", "township_admin", "village_admin", "grid_worker"),
            scheme_id=claim.scheme_id,
            region_path=claim.village.path,
        )
    if not allowed:
        raise ApplicationError(ErrorCode.PERMISSION_DENIED, detail={"action": "claim.evidence"})
    if ClaimEvidence.objects.filter(claim=claim).count() >= MAX_PHOTOS:
        raise invalid(_("每条申报最多 %(n)d 张照片") % {"n": MAX_PHOTOS}, field="photo")
    with image_saved(data, scheme_id=claim.scheme_id) as image, transaction.atomic():
        evidence = ClaimEvidence.objects.create(
            scheme_id=claim.scheme_id,
            claim=claim,
            path=image.path,
            content_type=image.content_type,
            size=image.size,
            sha256=image.sha256,
            uploaded_by_id=actor.user_id if actor else None,
        )
        audit_record(
            actor_id=actor.user_id if actor else None,
            scheme_id=claim.scheme_id,
            action=AuditAction.CLAIM_EVIDENCE,
            obj=evidence,
            detail={"claim": claim.pk, "bytes": image.size},
        )
    return evidence


def evidence_file(evidence: ClaimEvidence) -> Path:
    return image_file(evidence.path)
