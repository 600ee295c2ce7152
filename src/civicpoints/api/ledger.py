"""Ledger endpoints: manual adjustments (keyed), verification, and the public head check."""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field

from civicpoints.api.idempotency import IdempotencyKey, run_keyed
from civicpoints.api.schemas import ChainHead, ErrorOut, Id, SignedPoints, Trimmed, points_out
from civicpoints.errors import PermissionDenied, invalid
from civicpoints.households.selectors import household_for
from civicpoints.ledger.adjustments import adjustment_create
from civicpoints.ledger.amounts import parse_points
from civicpoints.ledger.verify import check_head, verify, verify_head
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, parse_id, require_role
from civicpoints.schemes.selectors import schemes_governed

router = Router(tags=["ledger"])


class AdjustmentIn(Schema):
    household: Id
    points: SignedPoints
    reason: Trimmed = Field(min_length=1, max_length=200)


ADJUSTERS = (Role.COUNTY_ADMIN,)


class AdjustmentOut(Schema):
    posting: int
    household: int
    points: float
    balance_after: float
    created_at: datetime
    reason: str


@router.post(
    "/adjustments",
    response={
        201: AdjustmentOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
)
def adjustments(
    request: HttpRequest, body: AdjustmentIn, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    # Who may do this is settled before the key is taken: a 404 or 403 is not an attempt,
    # so it is not stored for replay (and a later grant lets the same key go through).
    household = household_for(actor, body.household)
    require_role(
        actor,
        roles=ADJUSTERS,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action="ledger.adjust",
    )
    payload = body.model_dump(mode="json")

    def act(key: str, digest: str) -> tuple[int, dict]:
        posting = adjustment_create(
            actor=actor,
            household=household,
            amount=parse_points(body.points, allow_negative=True),
            reason=body.reason,
            idempotency_key=key,
            request_hash=digest,
        )
        leg = posting.entries.get(account__household_id=household.pk)
        return 201, {
            "posting": posting.pk,
            "household": household.pk,
            "points": points_out(leg.amount),
            "balance_after": points_out(leg.balance_after or 0),
            "created_at": posting.created_at.isoformat(),
            "reason": posting.memo,
        }

    return run_keyed(request, payload=payload, action=act)


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
    schemes = schemes_governed(actor, VERIFIERS)
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
    except ValueError as exc:
        field = "hash" if "校验码" in str(exc) else "seq"
        raise invalid(str(exc), field=field) from None
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
