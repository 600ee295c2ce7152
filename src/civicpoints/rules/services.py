"""Writes for the rule catalogue: create, change (a new version), retire. Audited."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.rules.models import ApprovalLevel, Rounding, Rule, Sign, Unit
from civicpoints.schemes.models import Scheme

EDITABLE = (
    "category",
    "name",
    "unit",
    "points_per_unit",
    "sign",
    "cap_day",
    "cap_month",
    "cap_year",
    "needs_photo",
    "needs_note",
    "needs_witness",
    "approval_level",
    "township_threshold",
    "rounding",
)


def claim_points(*, rule: Rule, quantity: Decimal) -> int:
    """Hundredths for ``quantity`` units, rounded by the rule (always a positive amount)."""
    exact = Decimal(rule.points_per_unit) * quantity
    mode = ROUND_HALF_UP if rule.rounding == Rounding.HALF_UP else ROUND_DOWN
    return int(exact.quantize(Decimal(1), rounding=mode))


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    if not (fields.get("code") or "").strip() and "code" in fields:
        raise invalid(_("细则编号不能为空"), field="code")
    if not (fields.get("name") or "").strip():
        raise invalid(_("细则名称不能为空"), field="name")
    if not (fields.get("category") or "").strip():
        raise invalid(_("细则类别不能为空"), field="category")
    if fields.get("unit") not in Unit.values:
        raise invalid(_("单位无效"), field="unit")
    if fields.get("sign") not in Sign.values:
        raise invalid(_("请选择加分或扣分"), field="sign")
    points = fields.get("points_per_unit")
    if not isinstance(points, int) or not 0 < points <= MAX_HUNDREDTHS:
        raise invalid(_("每单位积分必须为正数"), field="points_per_unit")
    for cap in ("cap_day", "cap_month", "cap_year", "township_threshold"):
        value = fields.get(cap)
        if value is not None and (not isinstance(value, int) or not 0 < value <= MAX_HUNDREDTHS):
            raise invalid(_("上限必须为正数"), field=cap)
    if fields.get("approval_level", ApprovalLevel.VILLAGE) not in ApprovalLevel.values:
        raise invalid(_("审核级别无效"), field="approval_level")
    if fields.get("rounding", Rounding.HALF_UP) not in Rounding.values:
        raise invalid(_("取整方式无效"), field="rounding")
    return fields


def rule_create(
    *,
    actor_id: int | None,
    scheme: Scheme,
    effective_from: dt.datetime | None = None,
    **fields: Any,
) -> Rule:
    fields = _clean(fields)
    with transaction.atomic():
        try:
            with transaction.atomic():
                rule = Rule.objects.create(
                    scheme=scheme, effective_from=effective_from or timezone.now(), **fields
                )
        except IntegrityError:
            raise ApplicationError(
                ErrorCode.DUPLICATE, _("该编号的细则已存在"), {"code": fields.get("code")}
            ) from None
        audit_record(
            actor_id=actor_id, scheme_id=scheme.pk, action=AuditAction.RULE_CREATE, obj=rule
        )
    return rule


def rule_change(
    *, actor_id: int | None, rule: Rule, at: dt.datetime | None = None, **changes: Any
) -> Rule:
    """Close ``rule`` and open its next version; claims made before ``at`` keep the old one."""
    at = at or timezone.now()
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise invalid(_("不能修改这些字段"), fields=sorted(unknown))
    fields = {name: getattr(rule, name) for name in EDITABLE} | changes
    fields = _clean(fields)
    with transaction.atomic():
        closed = Rule.objects.filter(pk=rule.pk, effective_to__isnull=True).update(effective_to=at)
        if closed != 1 or at <= rule.effective_from:
            raise ApplicationError(ErrorCode.INVALID_INPUT, _("只能修改当前有效的细则"))
        new = Rule.objects.create(
            scheme_id=rule.scheme_id, code=rule.code, effective_from=at, **fields
        )
        audit_record(
            actor_id=actor_id,
            scheme_id=rule.scheme_id,
            action=AuditAction.RULE_CHANGE,
            obj=new,
            detail={"previous": rule.pk, "changes": {k: str(v) for k, v in changes.items()}},
        )
    return new


def rule_retire(*, actor_id: int | None, rule: Rule, at: dt.datetime | None = None) -> None:
    at = at or timezone.now()
    with transaction.atomic():
        closed = Rule.objects.filter(pk=rule.pk, effective_to__isnull=True).update(effective_to=at)
        if closed != 1:
            raise ApplicationError(ErrorCode.INVALID_INPUT, _("该细则已停用"))
        audit_record(
            actor_id=actor_id, scheme_id=rule.scheme_id, action=AuditAction.RULE_RETIRE, obj=rule
        )
