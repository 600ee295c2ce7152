"""Public notice (公示): a village's board, and finalising notices that have ended."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from civicpoints.api.claims import ClaimOut, claim_out
from civicpoints.api.schemas import ChainHead, ErrorOut, QueryId
from civicpoints.awards.selectors import notice_board_for, notice_claims
from civicpoints.awards.services import notices_finalize
from civicpoints.errors import PermissionDenied
from civicpoints.ledger.chain import chain_head
from civicpoints.schemes.models import Role
from civicpoints.schemes.selectors import schemes_governed

router = Router(tags=["notices"])


class BoardIn(Schema):
    village: QueryId


class BoardOut(Schema):
    village: int
    village_name: str
    claims: list[ClaimOut]
    ledger_head: ChainHead
    as_of: dt.datetime


@router.get("", response={200: BoardOut, 404: ErrorOut, 422: ErrorOut})
def board(request: HttpRequest, params: Query[BoardIn]) -> dict:
    """A village's board: staff who read claims there (counter and merchant clerks: 404)."""
    village, scheme = notice_board_for(request.actor, params.village)  # type: ignore[attr-defined]
    return {
        "village": village.pk,
        "village_name": village.name,
        "claims": [claim_out(c) for c in notice_claims(village_id=village.pk)],
        "ledger_head": chain_head(scheme_id=scheme.pk),
        "as_of": timezone.now(),
    }


class FinalizeIn(Schema):
    at: dt.datetime | None = Field(default=None, description="按这个时间运行（缺省：现在）")


class FinalizeOut(Schema):
    posted: int
    owed: float
    claims: list[int]


@router.post("/finalize", response={200: FinalizeOut, 403: ErrorOut, 422: ErrorOut})
def finalize(request: HttpRequest, body: FinalizeIn) -> dict:
    """Post every claim whose notice has ended (county admins; also a scheduled job)."""
    actor = request.actor  # type: ignore[attr-defined]
    schemes = [s.pk for s in schemes_governed(actor, roles=[Role.COUNTY_ADMIN])]
    if not schemes:
        raise PermissionDenied("notices.finalize")
    at = body.at or timezone.now()
    if at > timezone.now():
        at = timezone.now()  # never post ahead of time
    posted: list[int] = []
    owed = 0
    for scheme_id in schemes:
        result = notices_finalize(at=at, scheme_id=scheme_id, actor_id=actor.user_id, by="api")
        posted += result.posted
        owed += result.owed
    return {"posted": len(posted), "owed": owed / 100, "claims": posted}
