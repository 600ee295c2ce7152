"""GET /rules: the rule catalogue in force for the caller's schemes."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from civicpoints.api.schemas import points_out
from civicpoints.rules.models import Rule
from civicpoints.rules.selectors import rules_in_force

router = Router(tags=["rules"])


class RuleOut(Schema):
    id: int
    scheme: int
    code: str
    category: str
    name: str
    unit: str
    points_per_unit: float
    sign: str
    cap_day: float | None
    cap_month: float | None
    cap_year: float | None
    needs_photo: bool
    needs_note: bool
    needs_witness: bool
    approval_level: str
    township_threshold: float | None
    effective_from: datetime


def _maybe(value: int | None) -> float | None:
    return None if value is None else points_out(value)


def rule_out(rule: Rule) -> dict:
    return {
        "id": rule.pk,
        "scheme": rule.scheme_id,
        "code": rule.code,
        "category": rule.category,
        "name": rule.name,
        "unit": rule.unit,
        "points_per_unit": points_out(rule.points_per_unit),
        "sign": rule.sign,
        "cap_day": _maybe(rule.cap_day),
        "cap_month": _maybe(rule.cap_month),
        "cap_year": _maybe(rule.cap_year),
        "needs_photo": rule.needs_photo,
        "needs_note": rule.needs_note,
        "needs_witness": rule.needs_witness,
        "approval_level": rule.approval_level,
        "township_threshold": _maybe(rule.township_threshold),
        "effective_from": rule.effective_from,
    }


@router.get("", response=list[RuleOut])
def rules(request: HttpRequest) -> list[dict]:
    actor = request.actor  # type: ignore[attr-defined]
    return [
        rule_out(rule)
        for scheme_id in sorted(actor.scheme_ids)
        for rule in rules_in_force(scheme_id=scheme_id)
    ]
