"""The lender API (``/api/v1/lender/...``): a registered lender reads the records households
consented to share with it, read only, with its own ``l.`` key.

Thin: ``credit`` authenticates the key, resolves consents and builds records; this module
parses and renders. Staff and resident tokens are 401 here, and a lender key is 401 everywhere
else (``BearerToken`` refuses ``l.`` tokens).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from ninja import Router, Schema
from ninja.security import HttpBearer
from pydantic import ConfigDict, Field

from civicpoints.api.idempotency import IdempotencyKey, keyed_body, run_keyed
from civicpoints.api.schemas import ChainHead, ErrorOut, file_response
from civicpoints.credit.lenders import lender_key_authenticate
from civicpoints.credit.models import Statement
from civicpoints.credit.record import lender_consents, record_fetch
from civicpoints.credit.statements import (
    Delivered,
    lender_statement,
    print_context,
    statement_deliver,
    statement_issue,
)
from civicpoints.ledger.idempotency import Slot
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


# --- signed statements -----------------------------------------------------------------------


class LenderStatementIn(Schema):
    """Nothing to choose: the statement is the consent's record now. Any field is refused."""

    model_config = ConfigDict(extra="forbid")


class LenderEnvelopeOut(Schema):
    alg: Literal["Ed25519"]
    kid: str
    payload: str = Field(description="报告内容：规范 JSON 的 base64url（无填充）")
    sig: str = Field(description="Ed25519 签名（对 payload 解码后的原始字节），base64url")
    type: str


class LenderStatementOut(Schema):
    code: str = Field(description="报告编号（20位），打印件和核验页 /s/<code>/ 用它")
    issued_at: str
    kid: str
    payload_sha256: str = Field(description="payload 原始字节的 SHA-256（十六进制）")
    envelope: LenderEnvelopeOut
    file: str = Field(
        description="报告文件的完整内容（即 GET /statements/{code} 的字节，去掉末尾换行）；"
        "civicpoints statement verify 核验的就是它"
    )
    download_url: str
    print_url: str
    check_url: str


def _statement_out(request: HttpRequest, found: Delivered) -> dict[str, Any]:
    statement = found.statement
    text = found.data.decode("utf-8")
    return {
        "code": statement.code,
        "issued_at": found.payload["issued_at"],
        "kid": statement.kid,
        "payload_sha256": statement.payload_sha256,
        "envelope": json.loads(text),
        "file": text.rstrip("\n"),
        "download_url": request.build_absolute_uri(
            reverse("api:lender_statement_file", args=[statement.code])
        ),
        "print_url": request.build_absolute_uri(
            reverse("api:lender_statement_print", args=[statement.code])
        ),
        "check_url": _check_url(request, statement.code),
    }


def _check_url(request: HttpRequest, code: str) -> str:
    return request.build_absolute_uri(reverse("statement_check", args=[code]))


@router.post(
    "/consents/{ref}/statements",
    response={
        201: LenderStatementOut,
        400: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
        503: ErrorOut,
    },
    summary="按授权码出具一份县里签名的积分报告（需 Idempotency-Key；农户能看到）",
)
def statement_create(
    request: HttpRequest,
    ref: str,
    body: LenderStatementIn,
    idempotency_key: IdempotencyKey = None,
) -> JsonResponse:
    """Sign the consent's record now into a statement file. The same Idempotency-Key again
    gives the same statement (``Idempotency-Replayed: true``); with another body, 422. The
    stored answer holds the code only: the envelope is read again each time, and only while the
    consent is live."""
    key = request.lender_key  # type: ignore[attr-defined]
    keys_url = request.build_absolute_uri(reverse("open_keys"))

    def act(service_key: str, slot: Slot) -> Statement:
        return statement_issue(key=key, ref=ref, keys_url=keys_url, slot=slot)

    def render(statement: Statement) -> tuple[int, dict[str, Any]]:
        return 201, {"code": statement.code}

    answer = run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)
    if answer.status_code != 201:
        return answer
    code = json.loads(answer.content)["code"]
    full = JsonResponse(
        keyed_body(
            LenderStatementOut, _statement_out(request, lender_statement(key=key, code=code))
        ),
        status=201,
    )
    if answer.has_header("Idempotency-Replayed"):
        full["Idempotency-Replayed"] = answer["Idempotency-Replayed"]
    full["Cache-Control"] = "no-store"
    return full


@router.get(
    "/statements/{code}",
    response={404: ErrorOut},
    openapi_extra=file_response(
        ("application/json",), description="报告文件：规范 JSON 加一个换行，逐字节即签名时的样子"
    ),
    url_name="lender_statement_file",
    summary="下载签名报告文件（农户能看到；授权撤销后 404）",
)
def statement_file_download(request: HttpRequest, code: str) -> HttpResponse:
    found = statement_deliver(key=request.lender_key, code=code)  # type: ignore[attr-defined]
    response = HttpResponse(found.data, content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="statement-{found.statement.code}.json"'
    )
    response["Cache-Control"] = "no-store"
    return response


@router.get(
    "/statements/{code}/print",
    response={404: ErrorOut},
    openapi_extra=file_response(("text/html",), description="A4 打印页，二维码指向核验页"),
    url_name="lender_statement_print",
    summary="签名报告的 A4 打印页（农户能看到；授权撤销后 404）",
)
def statement_print(request: HttpRequest, code: str) -> HttpResponse:
    found = statement_deliver(key=request.lender_key, code=code, printed=True)  # type: ignore[attr-defined]
    context = print_context(found, check_url=_check_url(request, found.statement.code))
    html = render_to_string("credit/statement_print.html", context, request=request)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
