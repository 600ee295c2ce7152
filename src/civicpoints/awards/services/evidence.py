"""Photos as evidence for claims: checked by content (not name), size-limited, stored outside
the web root under ``settings.EVIDENCE_ROOT`` and served only to those who may see the claim.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Claim, ClaimEvidence, ClaimSource, ClaimStatus
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household
from civicpoints.schemes.scope import Actor

MAX_PHOTOS = 6


def image_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def evidence_attach(
    *,
    claim: Claim,
    data: bytes,
    actor: Actor | None = None,
    household: Household | None = None,
) -> ClaimEvidence:
    """Attach a photo to a claim still under review (the caller found the claim in scope)."""
    if not data:
        raise invalid("照片是空的", field="photo")
    if len(data) > settings.EVIDENCE_MAX_BYTES:
        raise invalid(
            f"照片太大（最大 {settings.EVIDENCE_MAX_BYTES // (1024 * 1024)} MB）", field="photo"
        )
    kind = image_type(data)
    if kind is None:
        raise invalid("只能上传 JPEG、PNG 或 WebP 格式的照片", field="photo")
    if claim.status not in (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED):
        raise ApplicationError(ErrorCode.INVALID_TRANSITION, "审核通过后不能再添加照片")
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
        raise invalid(f"每条申报最多 {MAX_PHOTOS} 张照片", field="photo")
    content_type, ext = kind
    today = timezone.localdate()
    relative = Path(str(claim.scheme_id)) / f"{today:%Y%m}" / f"{secrets.token_hex(16)}.{ext}"
    target = Path(settings.EVIDENCE_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Write to a temporary name, then rename: a crash never leaves a half photo in place.
    temporary = target.with_suffix(".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, target)
    try:
        with transaction.atomic():
            evidence = ClaimEvidence.objects.create(
                scheme_id=claim.scheme_id,
                claim=claim,
                path=str(relative),
                content_type=content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                uploaded_by_id=actor.user_id if actor else None,
            )
            audit_record(
                actor_id=actor.user_id if actor else None,
                scheme_id=claim.scheme_id,
                action="claim.evidence",
                obj=evidence,
                detail={"claim": claim.pk, "bytes": len(data)},
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return evidence


def evidence_file(evidence: ClaimEvidence) -> Path:
    root = Path(settings.EVIDENCE_ROOT).resolve()
    path = (root / evidence.path).resolve()
    if root not in path.parents:
        raise ApplicationError(ErrorCode.NOT_FOUND)
    return path
