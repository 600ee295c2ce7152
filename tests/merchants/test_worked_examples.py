"""Worked examples from the issue: exact numbers, ledger invariants at the end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from civicpoints.ledger.models import Account
from civicpoints.merchants.models import Statement, StatementStatus
from civicpoints.merchants.services import payment_code_issue, payment_take, refund_create
from civicpoints.merchants.settlement import (
    payout_csv,
    payout_rows,
    reconcile,
    settle,
    statement_mark_paid,
)
from tests.ledger.helpers import assert_ledger_ok
from tests.merchants.conftest import Till


def test_payment_refund_statement_and_payout(till: Till) -> None:
    day = dt.date(2026, 11, 20)
    noon = timezone.make_aware(dt.datetime(2026, 11, 20, 12, 0))
    code = payment_code_issue(household=till.household, at=noon)
    # Given a merchant takes 36.5 points from a payment code
    payment = payment_take(
        actor=till.cashier_actor,
        merchant=till.merchant,
        code=code.code,
        points=3650,
        at=noon + dt.timedelta(seconds=5),
    )
    # And refunds 10 of them the same day
    refund_create(
        actor=till.cashier_actor,
        payment=payment,
        points=1000,
        reason="退一瓶酱油",
        at=noon + dt.timedelta(hours=1),
    )
    assert Account.objects.get(household=till.household).balance == 100_000 - 2650
    # When day D is settled (twice)
    first = settle(scheme=till.world.scheme, day=day)
    second = settle(scheme=till.world.scheme, day=day)
    # Then D's statement says 26.50 points = 26.50 yuan, and the second run made nothing
    assert len(first.statements) == 1 and second.statements == []
    statement = Statement.objects.get(merchant=till.merchant, business_date=day)
    assert (statement.gross, statement.refunds_total, statement.net) == (3650, 1000, 2650)
    assert statement.amount_fen == 2650
    assert statement.status == StatementStatus.UNPAID
    rows = payout_rows(Statement.objects.filter(pk=statement.pk))
    assert [r.amount for r in rows] == [Decimal("26.50")]
    assert payout_csv(rows).startswith("\ufeff序号".encode())
    statement_mark_paid(actor=till.admin_actor, statement=statement, bank_reference="ABC123")
    assert all(c.difference == 0 for c in reconcile(scheme=till.world.scheme, day=day))
    assert_ledger_ok(till.world.scheme.pk)
