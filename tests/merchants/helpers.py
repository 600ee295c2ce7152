"""Small tools for merchant tests: times in Asia/Shanghai, balances read fresh, and a check that
a refused call names its error code and leaves the ledger and every merchant row as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.ledger.models import Account
from civicpoints.ledger.selectors import account_total
from civicpoints.merchants.models import Merchant, Payment, PaymentCode, Refund, Statement
from civicpoints.merchants.services import (
    merchant_account,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.schemes.scope import Actor
from tests.ledger.helpers import ledger_snapshot
from tests.merchants.conftest import Till

TZ = timezone.get_default_timezone()


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> dt.datetime:
    """A wall-clock time in Asia/Shanghai."""
    return dt.datetime(year, month, day, hour, minute, second, us, tzinfo=TZ)


def balance(household: Household) -> int:
    return Account.objects.get(household=household).balance


def payable(merchant: Merchant) -> int:
    return account_total(account_id=merchant_account(merchant).pk)


def merchant_snapshot(scheme_id: int) -> dict[str, Any]:
    """The ledger plus everything a merchant service writes."""
    return {
        **ledger_snapshot(scheme_id),
        "codes": sorted(PaymentCode.objects.values_list("pk", "used_at")),
        "payments": sorted(Payment.objects.values_list("pk", "refunded", "statement_id")),
        "refunds": sorted(Refund.objects.values_list("pk", "statement_id")),
        "statements": sorted(
            Statement.objects.values_list("pk", "status", "net", "posting_id", "payout_posting_id")
        ),
        "audit": AuditEvent.objects.count(),
    }


def refused(code: ErrorCode, scheme_id: int, call: Callable[[], Any]) -> ApplicationError:
    """Run ``call``, expect ``code``, and assert nothing a merchant service writes has changed."""
    before = merchant_snapshot(scheme_id)
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.code == code, caught.value.as_json()
    assert merchant_snapshot(scheme_id) == before
    return caught.value


def pay(
    till: Till,
    points: int,
    at: dt.datetime,
    *,
    household: Household | None = None,
    merchant: Merchant | None = None,
    actor: Actor | None = None,
    **kw: Any,
) -> Payment:
    """The resident shows a fresh code 5 seconds before the cashier scans it."""
    code = payment_code_issue(
        household=household or till.household, at=at - dt.timedelta(seconds=5)
    )
    return payment_take(
        actor=actor or till.cashier_actor,
        merchant=merchant or till.merchant,
        code=code.code,
        points=points,
        at=at,
        **kw,
    )


def refund(till: Till, payment: Payment, points: int, at: dt.datetime, **kw: Any) -> Refund:
    kw.setdefault("reason", "退货")
    return refund_create(actor=till.cashier_actor, payment=payment, points=points, at=at, **kw)
