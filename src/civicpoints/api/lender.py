"""The lender API (``/api/v1/lender/...``): a registered lender reads the records households
consented to share with it, read only, with its own ``l.`` key.

Thin: ``credit`` authenticates the key, resolves consents and builds records; this module
parses and renders. Staff and resident tokens are 401 here, and a lender key is 401 everywhere
else (``BearerToken`` refuses ``l.`` tokens).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.security import HttpBearer
from pydantic import Field

from civicpoints.api.schemas import ChainHead, ErrorOut
from civicpoints.credit.lenders import lender_key_authenticate
from civicpoints.credit.record import lender_consents, record_fetch
from civicpoints.schemes.scope import Actor


class LenderKey(HttpBearer):
    """``Authorization: Bearer l.…``: a lender's key, issued by the county (one query, nothing
    cached: a revoked or expired key, or a suspended lender, is 401 on the next request)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = lender_key_authenticate(token=token)
        if key is None:
            return None
        request.lender_key = key  # type: ignore[attr-defined]
        request.lender = key.lender  # type: ignore[attr-defined]
        request.actor = Actor(user_id=None)  # type: ignore[attr-defined]
        request.household = None  # type: ignore[attr-defined]
        return key


router = Router(tags=["lender"], auth=LenderKey())


class LenderMeOut(Schema):
    name: str
    code: str
    scheme: str
    key_prefix: str
    key_expires_at: dt.datetime


@router.get("/me", response={200: LenderMeOut}, summary="本机构与所用密钥")
def me(request: HttpRequest) -> dict[str, Any]:
    key = request.lender_key  # type: ignore[attr-defined]
    return {
        "name": key.lender.name,
        "code": key.lender.code,
        "scheme": key.lender.scheme.name,
        "key_prefix": key.prefix,
        "key_expires_at": key.expires_at,
    }


class LenderConsentOut(Schema):
    ref: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    fields: list[str] = Field(
        description="除积分记录外，农户同意提供的个人信息：id_number、phone、address"
    )


class LenderConsentPage(Schema):
    items: list[LenderConsentOut]
    next_cursor: str | None = Field(description="下一页的 cursor；没有更多时为 null")


class LenderVillageOut(Schema):
    code: str
    name: str


class LenderHouseholdOut(Schema):
    head_name: str
    village: LenderVillageOut
    id_number: str | None = Field(default=None, description="仅当农户授权了身份证号这一项")
    phone: str | None = Field(default=None, description="仅当农户授权了手机号这一项")
    address: str | None = Field(default=None, description="仅当农户授权了家庭住址这一项")


class LenderYearOut(Schema):
    year: int
    net_by_category: dict[str, str] = Field(description="各类别净得积分（两位小数的字符串）")
    deducted_by_category: dict[str, str]
    net_total: str


class LenderBanOut(Schema):
    starts_on: str
    ends_on: str
    lifted_on: str | None


class LenderStarOut(Schema):
    year: int
    stars: int
    points: str


class LenderTitleOut(Schema):
    title: str
    published_on: str | None
    member: str
    certificate: str | None


class LenderConsentTerms(Schema):
    ref: str
    starts_at: str
    ends_at: str
    fields: list[str]


class LenderRecordOut(Schema):
    consent: LenderConsentTerms
    household: LenderHouseholdOut
    years: list[LenderYearOut]
    owed: str
    disqualifications: list[LenderBanOut]
    stars: list[LenderStarOut]
    titles: list[LenderTitleOut]
    ledger: ChainHead


@router.get(
    "/consents",
    response={200: LenderConsentPage, 422: ErrorOut},
    summary="本机构正在生效的授权（只有授权码、期限和字段名，不含农户信息）",
)
def consents(
    request: HttpRequest,
    status: Literal["active"] = "active",
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,18}$")] | None = None,
) -> dict[str, Any]:
    rows = lender_consents(lender=request.lender, after=int(cursor or 0), limit=limit)  # type: ignore[attr-defined]
    return {
        "items": [
            {"ref": c.ref, "starts_at": c.starts_at, "ends_at": c.ends_at, "fields": c.fields}
            for c in rows
        ],
        "next_cursor": str(rows[-1].pk) if len(rows) == limit else None,
    }


@router.get(
    "/consents/{ref}",
    response={200: LenderRecordOut, 404: ErrorOut, 422: ErrorOut},
    exclude_none=True,
    summary="按授权码读取农户的积分记录（每次读取农户都能看到）",
)
def consent_record(request: HttpRequest, ref: str) -> dict[str, Any]:
    return record_fetch(key=request.lender_key, ref=ref)  # type: ignore[attr-defined]
