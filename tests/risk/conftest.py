"""Builders for the risk worked examples: claims through the real review path."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import Claim
from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.households.models import Household
from civicpoints.risk.models import RiskFlag
from civicpoints.risk.services import risk_scan
from civicpoints.rules.models import Rule
from civicpoints.rules.services import rule_create
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor


def make_rule(scheme: Scheme, code: str, points: int, **kw: Any) -> Rule:
    kw.setdefault("category", "环境卫生")
    kw.setdefault("name", f"细则{code}")
    kw.setdefault("unit", "occurrence")
    kw.setdefault("sign", "award")
    return rule_create(
        actor_id=None,
        scheme=scheme,
        code=code,
        points_per_unit=points,
        effective_from=timezone.now() - dt.timedelta(days=400),
        **kw,
    )


def approved_claim(
    *,
    proposer: Actor,
    approver: Actor,
    household: Household,
    rule: Rule,
    quantity: int = 1,
    day: dt.date | None = None,
) -> Claim:
    claim = claim_submit(
        actor=proposer, household=household, rule_id=rule.pk, quantity=quantity, occurred_on=day
    )
    return claim_approve(actor=approver, claim=claim)


def scan(scheme: Scheme) -> list[RiskFlag]:
    risk_scan(scheme_id=scheme.pk, force=True)
    return list(RiskFlag.objects.filter(scheme=scheme).order_by("pk"))


def quiet_day() -> dt.date:
    """A day this month that is neither in the future nor among a month's last days."""
    return timezone.localdate().replace(day=1)


def code_guessing_row(
    *, scheme_id: int, merchant_id: int, cashier_id: int | None, count: int
) -> AuditEvent:
    """The row the payment-code limiter writes for a burst of invalid codes (its branch adds
    the action to ``AuditAction``; the row is written here as that code would store it)."""
    return AuditEvent.objects.create(
        scheme_id=scheme_id,
        actor_id=cashier_id,
        action="merchant.code_guessing",
        object_type="Merchant",
        object_id=str(merchant_id),
        detail={"merchant": merchant_id, "cashier": cashier_id, "count": count},
    )
