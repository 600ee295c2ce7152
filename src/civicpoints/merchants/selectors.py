"""Reads for merchants, always through the actor's scope.

A merchant is seen by its own clerks (listed on the merchant) and by the county admins and
auditors of its scheme; a clerk of one shop finds nothing of another (404).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from civicpoints.calendar import day_bounds
from civicpoints.merchants.models import Merchant, Payment, Statement
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, one_or_404, scope_q

MERCHANT_READERS = (Role.COUNTY_ADMIN, Role.AUDITOR)


def merchants_visible(actor: Actor) -> QuerySet[Merchant]:
    mine = Q(clerks=actor.user_id) if actor.user_id else Q(pk__in=[])
    q = mine | scope_q(
        actor, region_path_field="scheme__operator_region__path", roles=MERCHANT_READERS
    )
    return Merchant.objects.filter(q).distinct().select_related("scheme")


def counter_merchants(actor: Actor) -> QuerySet[Merchant]:
    """The shops whose till the actor works (a county admin reads them but takes no payment)."""
    if not actor.user_id:
        return Merchant.objects.none()
    return merchants_visible(actor).filter(clerks=actor.user_id)


def merchant_for(actor: Actor, merchant_id: Any) -> Merchant:
    return one_or_404(merchants_visible(actor), merchant_id, "merchant")


def payments_of(merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(merchant=merchant).select_related("household")


def payment_for(merchant: Merchant, payment_id: Any) -> Payment:
    return one_or_404(
        Payment.objects.filter(merchant=merchant).select_related(
            "merchant", "merchant__scheme", "household"
        ),
        payment_id,
        "payment",
    )


def payments_on(merchant: Merchant, day: dt.date) -> QuerySet[Payment]:
    """One business day's payments at a shop (00:00-24:00 local time), newest first."""
    start, end = day_bounds(day)
    return (
        Payment.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
        .select_related("household")
        .order_by("-created_at", "-pk")
    )


def merchant_statements(merchant: Merchant) -> QuerySet[Statement]:
    return Statement.objects.filter(merchant=merchant).order_by("-business_date")


def statements_visible(actor: Actor) -> QuerySet[Statement]:
    return Statement.objects.filter(merchant__in=merchants_visible(actor)).select_related(
        "merchant"
    )


def statement_for(actor: Actor, statement_id: Any) -> Statement:
    return one_or_404(statements_visible(actor), statement_id, "statement")


def statements_overdue_count(actor: Actor, *, now: dt.datetime | None = None) -> int:
    """Statements still unpaid 24 hours after they were made, in the schemes this person reads
    (county admins and auditors; a cashier has none)."""
    from civicpoints.merchants.models import StatementStatus
    from civicpoints.merchants.settlement import OVERDUE_AFTER

    readers = scope_q(
        actor, region_path_field="merchant__scheme__operator_region__path", roles=MERCHANT_READERS
    )
    now = now or timezone.now()
    return Statement.objects.filter(
        readers, status=StatementStatus.UNPAID, created_at__lt=now - OVERDUE_AFTER
    ).count()
