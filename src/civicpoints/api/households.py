"""Households: create, search, one with balance/held/available, and its history."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Id, Trimmed, points_out
from civicpoints.households.models import Household, HouseholdStatus, mask_phone
from civicpoints.households.selectors import household_for, household_search
from civicpoints.households.services import household_create
from civicpoints.ledger.selectors import household_balance, household_entries
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, require_role
from civicpoints.schemes.selectors import region_for, scheme_for_region

router = Router(tags=["households"])


class HouseholdIn(Schema):
    village: Id
    head_name: Trimmed = Field(min_length=1, max_length=40)
    id_number: Trimmed = Field(default="", max_length=18)
    phone: Trimmed = Field(default="", max_length=20)
    address: Trimmed = Field(default="", max_length=200)
    size: int = Field(default=1, ge=1, le=99, strict=True)
    status: HouseholdStatus = HouseholdStatus.ACTIVE


class MemberOut(Schema):
    id: int
    name: str
    relation: str
    id_number: str
    phone: str


class HouseholdSummary(Schema):
    id: int
    village: int
    village_name: str
    head_name: str
    phone: str
    status: str
    card_code: str
    balance: float
    available: float


class HouseholdOut(HouseholdSummary):
    address: str
    size: int
    held: float
    members: list[MemberOut]


class EntryOut(Schema):
    id: int
    posting: int
    kind: str
    created_at: datetime
    points: float
    balance_after: float | None
    memo: str
    ref_type: str
    ref_id: str
    member: str | None


def _summary(h: Household, *, masked: bool = True) -> dict:
    account = getattr(h, "account", None)
    return {
        "id": h.pk,
        "village": h.village_id,
        "village_name": h.village.name,
        "head_name": h.head_name,
        "phone": mask_phone(h.phone) if masked else h.phone,
        "status": h.status,
        "card_code": h.card_code,
        "balance": points_out(account.balance if account else 0),
        "held": points_out(account.held if account else 0),
        "available": points_out(account.available if account else 0),
    }


def _detail(h: Household) -> dict:
    balance = household_balance(household_id=h.pk)
    out = _summary(h, masked=False)
    out.update(
        address=h.address,
        size=h.size,
        balance=points_out(balance.balance),
        held=points_out(balance.held),
        available=points_out(balance.available),
        members=[
            {
                "id": m.pk,
                "name": m.name,
                "relation": m.relation,
                "id_number": m.id_number_masked,
                "phone": mask_phone(m.phone),
            }
            for m in h.members.order_by("pk")
        ],
    )
    return out


@router.post(
    "", response={201: HouseholdOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
def create(request: HttpRequest, body: HouseholdIn) -> Status:
    actor = request.actor  # type: ignore[attr-defined]
    village = region_for(actor, body.village)
    scheme = scheme_for_region(actor, village, prefer=ADMIN_ROLES)
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=scheme.pk,
        region_path=village.path,
        action="household.create",
    )
    household = household_create(
        actor_id=actor.user_id,
        scheme=scheme,
        village=village,
        head_name=body.head_name,
        id_number=body.id_number,
        phone=body.phone,
        address=body.address,
        size=body.size,
        status=body.status,
    )
    return Status(201, _detail(household_for(actor, household.pk)))


class SearchIn(Schema):
    q: Trimmed = Field(default="", max_length=40)
    limit: int = Field(default=50, ge=1, le=200)


@router.get("", response={200: list[HouseholdSummary], 422: ErrorOut})
def search(request: HttpRequest, params: Query[SearchIn]) -> list[dict]:
    rows = household_search(request.actor, params.q, limit=params.limit)  # type: ignore[attr-defined]
    return [_summary(h) for h in rows]


@router.get("/{household_id}", response={200: HouseholdOut, 404: ErrorOut})
def detail(request: HttpRequest, household_id: str) -> dict:
    return _detail(household_for(request.actor, household_id))  # type: ignore[attr-defined]


class PageIn(Schema):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("/{household_id}/entries", response={200: list[EntryOut], 404: ErrorOut, 422: ErrorOut})
def entries(request: HttpRequest, household_id: str, page: Query[PageIn]) -> list[dict]:
    household = household_for(request.actor, household_id)  # type: ignore[attr-defined]
    rows = household_entries(household_id=household.pk)[page.offset : page.offset + page.limit]
    return [
        {
            "id": e.pk,
            "posting": e.posting_id,
            "kind": e.posting.kind,
            "created_at": e.posting.created_at,
            "points": points_out(e.amount),
            "balance_after": None if e.balance_after is None else points_out(e.balance_after),
            "memo": e.posting.memo,
            "ref_type": e.posting.ref_type,
            "ref_id": e.posting.ref_id,
            "member": e.member.name if e.member else None,
        }
        for e in rows
    ]


__all__ = ["Role", "router"]
