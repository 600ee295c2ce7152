"""Shared API types: points as JSON numbers with at most two decimals, bounded ids, errors."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Annotated, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from civicpoints.errors import ErrorCode
from civicpoints.ledger.amounts import MAX_POINTS, BadPoints, parse_points, to_points
from civicpoints.schemes.scope import parse_id


def _points(value: Any, *, allow_negative: bool) -> Decimal:
    if isinstance(value, str):
        raise ValueError(_("积分必须是 JSON 数字，不能是字符串"))
    try:
        return to_points(parse_points(value, allow_negative=allow_negative))
    except BadPoints as exc:
        raise ValueError(str(exc)) from None


def _schema(minimum: Decimal) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": "number",
            "multipleOf": 0.01,
            "minimum": float(minimum),
            "maximum": float(MAX_POINTS),
            "description": "积分，最多两位小数",
        }
    )


# In JSON (responses, request hashes) points are numbers, as the contract says; two decimals
# and |points| <= 10^9 are exact in a float.
_as_number = PlainSerializer(float, return_type=float, when_used="json")
Points = Annotated[
    Decimal,
    PlainValidator(lambda v: _points(v, allow_negative=False)),
    _as_number,
    _schema(Decimal("0.01")),
]
SignedPoints = Annotated[
    Decimal,
    PlainValidator(lambda v: _points(v, allow_negative=True)),
    _as_number,
    _schema(-MAX_POINTS),
]
Id = Annotated[int, Field(strict=True, ge=1, le=2**53)]
# A business day or an event's date: within years a scheme can have, so day arithmetic (24:00
# of the day in Asia/Shanghai) cannot overflow on 0001-01-01 or 9999-12-31.
Day = Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))]


def _query_id(value: Any) -> int:
    pk = parse_id(value)
    if pk is None or pk > 2**53:
        raise ValueError(_("应为正整数编号"))
    return pk


# Ids in query strings arrive as text: only plain ASCII digits (not "+12", "1_2", "１２").
QueryId = Annotated[int, PlainValidator(_query_id), WithJsonSchema({"type": "integer"})]


def _printable(value: str) -> str:
    # Control characters and lone surrogates cannot be stored (PostgreSQL refuses NUL, the
    # drivers refuse surrogates): refuse them here as bad input rather than fail as a 500.
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ValueError(_("不能含有控制字符"))
    return value


# Text from clients: no control characters; ``Trimmed`` also drops surrounding whitespace, so
# "   " fails a ``Field(min_length=1)``.
Printable = Annotated[str, AfterValidator(_printable)]
Trimmed = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_printable)]


class ErrorBody(Schema):
    code: ErrorCode = Field(description="机器可读的错误码")
    message: str = Field(description="给人看的说明（简体中文或英文）")
    detail: dict[str, Any] = Field(
        description="细节，如 field（哪个字段）、errors（每个字段的问题）、max_bytes",
    )


class ErrorOut(Schema):
    """Every 4xx (and the rare 5xx) answer: ``{"error": {"code", "message", "detail"}}``."""

    error: ErrorBody


class ChainHead(Schema):
    """The ledger's hash chain head (the notice board prints it; verify reports it)."""

    seq: int
    hash: str


class RuleRef(Schema):
    """The rule a claim or an activity names; ``points_per_hour`` only where hours are paid
    (activities), absent (null) elsewhere."""

    id: int
    code: str
    name: str
    points_per_hour: float | None = Field(default=None, description="每小时积分（志愿活动）")


IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


def file_response(content_types: tuple[str, ...], *, description: str) -> dict[str, Any]:
    """``openapi_extra`` for an operation that answers 200 with a file rather than JSON."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "responses": {
            200: {"description": description, "content": {t: binary for t in content_types}}
        }
    }


# Answers any operation can give, whatever its handler declares: a body or header the server
# cannot parse (400), no or a bad token (401, where a token is needed), a body over the upload
# limit (413), a field that fails validation (422).
_COMMON_ERRORS = {
    400: "请求格式有误：JSON、multipart 或请求头（如缺少 Idempotency-Key）",
    401: "未登录：缺少令牌、令牌无效或已过期",
    413: "请求体太大",
    422: "输入有误：字段校验未通过（detail.errors 逐项列出）",
    503: "数据库暂时不可用（如重启中）：按 Retry-After 秒数后重试",
}


def document_common_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the answers every operation can give to the OpenAPI schema, with ``ErrorOut``."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            statuses = [400, 503]
            if operation.get("security"):
                statuses.append(401)
            if "requestBody" in operation:
                statuses.append(413)
            if "requestBody" in operation or operation.get("parameters"):
                statuses.append(422)
            for status in statuses:
                if status not in responses and str(status) not in responses:
                    responses[status] = {"description": _COMMON_ERRORS[status], "content": error}
    return schema


def beijing_aware(value: dt.datetime) -> dt.datetime:
    """A time without an offset is Beijing time (the scheme's business time zone)."""
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def points_out(hundredths: int) -> float:
    """Points for JSON output: a number with at most two decimals."""
    return float(to_points(hundredths))
