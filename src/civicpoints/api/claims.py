"""Claims: propose, list, review (approve / reject / withdraw), object during notice, photos."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import FileResponse, HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from civicpoints.api.schemas import (
    IMAGE_TYPES,
    ErrorOut,
    Id,
    Points,
    QueryId,
    RuleRef,
    Trimmed,
    file_response,
    points_out,
)
from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.selectors import claim_for, claims_visible, evidence_for
from civicpoints.awards.services import (
    claim_approve,
    claim_object,
    claim_reject,
    claim_submit,
    claim_withdraw,
)
from civicpoints.awards.services.evidence import evidence_attach, evidence_file
from civicpoints.errors import invalid
from civicpoints.households.selectors import household_for

router = Router(tags=["claims"])
ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class ClaimIn(Schema):
    household: Id
    rule: Id
    quantity: Points = Field(description="数量（小时、个、次…），最多两位小数")
    member: Id | None = None
    occurred_on: dt.date | None = None
    note: Trimmed = Field(default="", max_length=500)
    witness: Trimmed = Field(default="", max_length=60)


class EventOut(Schema):
    action: str
    from_status: str
    to_status: str
    reason: str
    actor: int | None
    household: int | None
    created_at: dt.datetime


class ClaimOut(Schema):
    id: int
    household: int
    household_name: str
    village: int
    village_name: str
    member: int | None
    rule: RuleRef
    quantity: float
    points: float = Field(description="带符号：扣分为负数")
    occurred_on: dt.date
    source: str
    status: str
    needs_township: bool
    notice_ends_at: dt.datetime | None
    note: str
    witness: str
    posting: int | None
    photos: list[int]
    events: list[EventOut] | None = None


def claim_out(claim: Claim, *, events: bool = False) -> dict:
    out = {
        "id": claim.pk,
        "household": claim.household_id,
        "household_name": claim.household.head_name,
        "village": claim.village_id,
        "village_name": claim.village.name,
        "member": claim.member_id,
        "rule": {"id": claim.rule_id, "code": claim.rule.code, "name": claim.rule.name},
        "quantity": float(claim.quantity),
        "points": points_out(-claim.points if claim.is_deduction else claim.points),
        "occurred_on": claim.occurred_on,
        "source": claim.source,
        "status": claim.status,
        "needs_township": claim.needs_township,
        "notice_ends_at": claim.notice_ends_at,
        "note": claim.note,
        "witness": claim.witness,
        "posting": claim.posting_id,
        "photos": [e.pk for e in claim.evidence.all()],
    }
    if events:
        out["events"] = [
            {
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "reason": e.reason,
                "actor": e.actor_id,
                "household": e.actor_household_id,
                "created_at": e.created_at,
            }
            for e in claim.events.all()
        ]
    return out


@router.post("", response={201: ClaimOut, **ERRORS})
def submit(request: HttpRequest, body: ClaimIn) -> Status:
    actor = request.actor  # type: ignore[attr-defined]
    household = household_for(actor, body.household)
    claim = claim_submit(
        actor=actor,
        household=household,
        rule_id=body.rule,
        quantity=Decimal(body.quantity),
        occurred_on=body.occurred_on,
        member_id=body.member,
        note=body.note,
        witness=body.witness,
    )
    return Status(201, claim_out(claim_for(actor, claim.pk), events=True))


class ClaimFilter(Schema):
    status: ClaimStatus | None = None
    village: QueryId | None = None
    household: QueryId | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("", response={200: list[ClaimOut], 422: ErrorOut})
def claims(request: HttpRequest, filters: Query[ClaimFilter]) -> list[dict]:
    rows = claims_visible(request.actor).prefetch_related("evidence")  # type: ignore[attr-defined]
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.village:
        rows = rows.filter(village_id=filters.village)
    if filters.household:
        rows = rows.filter(household_id=filters.household)
    page = rows.order_by("-pk")[filters.offset : filters.offset + filters.limit]
    return [claim_out(c) for c in page]


@router.get("/{claim_id}", response={200: ClaimOut, 404: ErrorOut})
def detail(request: HttpRequest, claim_id: str) -> dict:
    return claim_out(claim_for(request.actor, claim_id), events=True)  # type: ignore[attr-defined]


@router.post("/{claim_id}/approve", response={200: ClaimOut, **ERRORS})
def approve(request: HttpRequest, claim_id: str) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    claim = claim_approve(actor=actor, claim=claim_for(actor, claim_id))
    return claim_out(claim_for(actor, claim.pk), events=True)


class ReasonIn(Schema):
    reason: Trimmed = Field(min_length=1, max_length=500)


class OptionalReasonIn(Schema):
    reason: Trimmed = Field(default="", max_length=500)


@router.post("/{claim_id}/reject", response={200: ClaimOut, **ERRORS})
def reject(request: HttpRequest, claim_id: str, body: ReasonIn) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    claim = claim_reject(actor=actor, claim=claim_for(actor, claim_id), reason=body.reason)
    return claim_out(claim_for(actor, claim.pk), events=True)


@router.post("/{claim_id}/withdraw", response={200: ClaimOut, **ERRORS})
def withdraw(request: HttpRequest, claim_id: str, body: OptionalReasonIn) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    claim = claim_withdraw(actor=actor, claim=claim_for(actor, claim_id), reason=body.reason)
    return claim_out(claim_for(actor, claim.pk), events=True)


@router.post("/{claim_id}/objections", response={200: ClaimOut, **ERRORS})
def objection(request: HttpRequest, claim_id: str, body: ReasonIn) -> dict:
    actor = request.actor  # type: ignore[attr-defined]
    claim = claim_object(actor=actor, claim=claim_for(actor, claim_id), reason=body.reason)
    return claim_out(claim_for(actor, claim.pk), events=True)


class PhotoOut(Schema):
    id: int
    claim: int
    content_type: str
    size: int


@router.post("/{claim_id}/photos", response={201: PhotoOut, **ERRORS, 413: ErrorOut})
def photo(request: HttpRequest, claim_id: str, photo: File[UploadedFile]) -> Status:
    actor = request.actor  # type: ignore[attr-defined]
    claim = claim_for(actor, claim_id)
    if photo.size is None or photo.size > 5 * 1024 * 1024 + 1:
        raise invalid(_("照片太大（最大 5 MB）"), field="photo")
    evidence = evidence_attach(actor=actor, claim=claim, data=photo.read())
    return Status(
        201,
        {
            "id": evidence.pk,
            "claim": claim.pk,
            "content_type": evidence.content_type,
            "size": evidence.size,
        },
    )


photos_router = Router(tags=["claims"])


@photos_router.get(
    "/{photo_id}",
    response={404: ErrorOut},
    openapi_extra=file_response(IMAGE_TYPES, description="照片（JPEG、PNG 或 WebP，已去除 EXIF）"),
)
def photo_file(request: HttpRequest, photo_id: str) -> FileResponse:
    evidence = evidence_for(request.actor, photo_id)  # type: ignore[attr-defined]
    path = evidence_file(evidence)
    response = FileResponse(path.open("rb"), content_type=evidence.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
