"""Shared API types: points as JSON numbers with at most two decimals, bounded ids, errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import Field, PlainValidator, WithJsonSchema

from civicpoints.ledger.amounts import MAX_POINTS, BadPoints, parse_points, to_points


def _points(value: Any, *, allow_negative: bool) -> Decimal:
    if isinstance(value, str):
        raise ValueError("积分必须是 JSON 数字，不能是字符串")
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


Points = Annotated[
    Decimal,
    PlainValidator(lambda v: _points(v, allow_negative=False)),
    _schema(Decimal("0.01")),
]
SignedPoints = Annotated[
    Decimal,
    PlainValidator(lambda v: _points(v, allow_negative=True)),
    _schema(-MAX_POINTS),
]
Id = Annotated[int, Field(strict=True, ge=1, le=2**53)]


class ErrorBody(Schema):
    code: str
    message: str
    detail: dict[str, Any] = {}


class ErrorOut(Schema):
    error: ErrorBody


def points_out(hundredths: int) -> float:
    """Points for JSON output: a number with at most two decimals."""
    return float(to_points(hundredths))
