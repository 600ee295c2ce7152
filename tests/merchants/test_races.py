"""Merchant races on PostgreSQL: real threads, each with its own connection.

One payment code scanned by two cashiers at once; one retried payment arriving many times;
two partial refunds racing for what is left; two settlement runs at once; and settlement
racing a late refund whose transaction is still open: the refund lands in exactly one
statement. Data is committed (``transaction=True``), as two server processes would see it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connections

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import Posting, PostingKind
from civicpoints.merchants import services as merchant_services
from civicpoints.merchants.models import Payment, PaymentCode, Refund, Statement
from civicpoints.merchants.services import payment_code_issue, payment_take, refund_create
from civicpoints.merchants.settlement import reconcile, settle
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_staff
from tests.ledger.helpers import Outcome, assert_ledger_ok, run_in_threads
from tests.merchants.conftest import Till, build_till
from tests.merchants.helpers import balance, local, pay, payable

pytestmark = pytest.mark.django_db(transaction=True)

D = dt.date(2026, 11, 20)


def codes(outcomes: list[Outcome]) -> list[str]:
    result = []
    for outcome in outcomes:
        if outcome.error is None:
            result.append("ok")
        elif isinstance(outcome.error, ApplicationError):
            result.append(str(outcome.error.code))
        else:
            raise outcome.error
    return result


def fresh_payment(payment: Payment) -> Payment:
    return Payment.objects.select_related("merchant", "merchant__scheme", "household").get(
        pk=payment.pk
    )


def assert_every_row_in_one_statement(till: Till, *days: dt.date) -> None:
    assert not Payment.objects.filter(statement__isnull=True).exists()
    assert not Refund.objects.filter(statement__isnull=True).exists()
    for s in Statement.objects.all():
        pay_sum = sum(s.payments.values_list("points", flat=True))
        ref_sum = sum(s.refunds.values_list("points", flat=True))
        assert (s.gross, s.refunds_total, s.net) == (pay_sum, ref_sum, pay_sum - ref_sum)
    for d in days:
        assert [c.difference for c in reconcile(scheme=till.world.scheme, day=d)] == [0] * 5
    assert payable(till.merchant) == 0


def test_one_code_scanned_by_two_cashiers_at_once_pays_once(
    world: Any, postgres_only: None
) -> None:
    till = build_till(world)
    second = make_staff("cashier-2", Role.MERCHANT_CLERK, world.township_a, world.scheme)
    till.merchant.clerks.add(second)
    cashiers = [till.cashier_actor, actor_for_user(second)]
    noon = local(2026, 11, 20, 12, 0)
    code = payment_code_issue(household=till.household, at=noon)

    def scan(i: int) -> int:
        return payment_take(
            actor=cashiers[i],
            merchant=type(till.merchant).objects.get(pk=till.merchant.pk),
            code=code.code,
            points=3_650 + i,  # each cashier typed a slightly different amount
            at=noon + dt.timedelta(seconds=10),
        ).points

    outcomes = run_in_threads(2, scan)

    assert sorted(codes(outcomes)) == ["ok", ErrorCode.PAYMENT_CODE_USED]
    paid = next(o.value for o in outcomes if o.error is None)
    assert Payment.objects.count() == 1
    assert Payment.objects.get().points == paid
    assert balance(till.household) == 100_000 - paid
    assert PaymentCode.objects.get(pk=code.pk).used_at is not None
    assert Posting.objects.filter(kind=PostingKind.PAYMENT).count() == 1
    assert_ledger_ok(world.scheme.pk)


def test_one_payment_key_sent_ten_times_at_once_is_one_payment(
    world: Any, postgres_only: None
) -> None:
    till = build_till(world)
    noon = local(2026, 11, 20, 12, 0)
    code = payment_code_issue(household=till.household, at=noon)

    def send(_i: int) -> int:
        return payment_take(
            actor=till.cashier_actor,
            merchant=type(till.merchant).objects.get(pk=till.merchant.pk),
            code=code.code,
            points=3_650,
            idempotency_key="pos-race",
            at=noon + dt.timedelta(seconds=10),
        ).pk

    outcomes = run_in_threads(10, send)

    result = codes(outcomes)
    # Every request got the one payment back (a loser of the code race may also be told the
    # code was used only if it never saw the key: it must not have paid either way)
    assert Payment.objects.count() == 1
    assert {o.value for o in outcomes if o.error is None} == {Payment.objects.get().pk}
    assert set(result) <= {"ok", ErrorCode.PAYMENT_CODE_USED}
    assert balance(till.household) == 100_000 - 3_650
    assert_ledger_ok(world.scheme.pk)


def test_two_partial_refunds_racing_for_what_is_left_never_exceed_the_payment(
    world: Any, postgres_only: None
) -> None:
    till = build_till(world)
    payment = pay(till, 3_650, local(2026, 11, 20, 12, 0))

    def give_back(_i: int) -> int:
        return refund_create(
            actor=till.cashier_actor,
            payment=fresh_payment(payment),
            points=2_000,
            reason="退货",
            at=local(2026, 11, 20, 13, 0),
        ).pk

    result = codes(run_in_threads(2, give_back))

    assert sorted(result) == ["ok", ErrorCode.REFUND_EXCEEDS_PAYMENT]
    assert Payment.objects.get(pk=payment.pk).refunded == 2_000
    assert Refund.objects.count() == 1
    assert balance(till.household) == 100_000 - 3_650 + 2_000
    assert_ledger_ok(world.scheme.pk)


def test_two_settlement_runs_at_once_make_one_statement(world: Any, postgres_only: None) -> None:
    till = build_till(world)
    pay(till, 3_650, local(2026, 11, 20, 12, 0))

    outcomes = run_in_threads(
        2, lambda _i: len(settle(scheme=Scheme.objects.get(pk=world.scheme.pk), day=D).statements)
    )

    assert codes(outcomes) == ["ok", "ok"]
    assert sorted(o.value for o in outcomes) == [0, 1]
    assert Statement.objects.count() == 1
    assert Posting.objects.filter(kind=PostingKind.SETTLEMENT).count() == 1
    assert_every_row_in_one_statement(till, D)
    assert_ledger_ok(world.scheme.pk)


def _race_settle_with_open_refund(
    till: Till,
    payment: Payment,
    points: int,
    monkeypatch: pytest.MonkeyPatch,
    *,
    hold: float = 2,
) -> dict[str, Any]:
    """Hold a refund's transaction (stamped 23:59:59 on D) open once its rows are written (a
    hook on its audit row, the last write inside the service's own transaction), run
    settle(D) meanwhile on another connection, and commit the refund once settle has finished
    or ``hold`` seconds have passed, whichever is first."""
    written, settle_started, settle_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, Any] = {}
    real_audit = merchant_services.audit_record

    def audit_then_hold(**kwargs: Any) -> int:
        row = real_audit(**kwargs)
        written.set()
        assert settle_started.wait(30)
        # Let settle run into whatever this open transaction holds, then commit
        seen["settle_done_before_commit"] = settle_done.wait(hold)
        return row

    monkeypatch.setattr(merchant_services, "audit_record", audit_then_hold)

    def refunder(_i: int) -> int:
        made = refund_create(
            actor=till.cashier_actor,
            payment=fresh_payment(payment),
            points=points,
            reason="晚到的退款",
            at=local(2026, 11, 20, 23, 59, 59),
        )
        return made.pk

    def settler(_i: int) -> int:
        assert written.wait(30)
        settle_started.set()
        time.sleep(0.05)
        try:
            return len(settle(scheme=Scheme.objects.get(pk=till.world.scheme.pk), day=D).statements)
        finally:
            settle_done.set()

    def work(i: int) -> int:
        return refunder(i) if i == 0 else settler(i)

    outcomes = run_in_threads(2, work)
    assert codes(outcomes) == ["ok", "ok"]
    seen["refund"] = outcomes[0].value
    return seen


def test_a_late_refund_open_while_d_settles_lands_in_d_plus_1(
    world: Any, postgres_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a payment from D-1, already settled, and a payment on D
    till = build_till(world)
    old = pay(till, 3_650, local(2026, 11, 19, 12, 0))
    settle(scheme=world.scheme, day=D - dt.timedelta(days=1))
    pay(till, 2_000, local(2026, 11, 20, 12, 0))
    # When a refund of the old payment, stamped 23:59:59 on D, is still uncommitted while D
    # is settled
    # (settle should not wait for it: up to 20 s for a loaded machine before that counts)
    seen = _race_settle_with_open_refund(till, old, 1_000, monkeypatch, hold=20)
    # Then D's run did not wait for it, and D's statement does not have it
    assert seen["settle_done_before_commit"] is True
    s_d = Statement.objects.get(business_date=D)
    assert (s_d.gross, s_d.refunds_total, s_d.net) == (2_000, 0, 2_000)
    # And D+1's statement takes it, with D+1's own payment
    pay(till, 5_000, local(2026, 11, 21, 9, 0))
    settle(scheme=world.scheme, day=D + dt.timedelta(days=1))
    s_d1 = Statement.objects.get(business_date=D + dt.timedelta(days=1))
    assert Refund.objects.get(pk=seen["refund"]).statement_id == s_d1.pk
    assert (s_d1.gross, s_d1.refunds_total, s_d1.net) == (5_000, 1_000, 4_000)
    assert settle(scheme=world.scheme, day=D).statements == []
    assert_every_row_in_one_statement(till, D - dt.timedelta(days=1), D, D + dt.timedelta(days=1))
    assert_ledger_ok(world.scheme.pk)


def test_a_refund_committing_while_d_settles_its_payment_is_counted_once(
    world: Any, postgres_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a payment on D, not yet settled
    till = build_till(world)
    payment = pay(till, 3_650, local(2026, 11, 20, 12, 0))
    # When a refund of it is uncommitted while D is settled (settle must claim the payment
    # row the refund has locked, so it waits for the commit)
    seen = _race_settle_with_open_refund(till, payment, 1_000, monkeypatch)
    pay(till, 5_000, local(2026, 11, 21, 9, 0))
    settle(scheme=world.scheme, day=D + dt.timedelta(days=1))
    # Then the refund is in exactly one statement, whichever it is, and every total agrees
    refund = Refund.objects.get(pk=seen["refund"])
    assert refund.statement_id is not None
    assert Statement.objects.filter(refunds=refund).count() == 1
    nets = sorted(Statement.objects.values_list("business_date", "net"))
    assert nets in (
        [(D, 2_650), (D + dt.timedelta(days=1), 5_000)],
        [(D, 3_650), (D + dt.timedelta(days=1), 4_000)],
    )
    assert_every_row_in_one_statement(till, D, D + dt.timedelta(days=1))
    assert_ledger_ok(world.scheme.pk)


def test_many_late_refunds_racing_settlement_each_land_once(
    world: Any, postgres_only: None
) -> None:
    """Eight cashiers refund (stamped late on D) while D and then D+1 are settled."""
    till = build_till(world, balance=1_000_000)
    payments = [pay(till, 10_000, local(2026, 11, 20, 9, i)) for i in range(8)]

    def work(i: int) -> int:
        if i == 8:
            time.sleep(0.02)
            return len(settle(scheme=Scheme.objects.get(pk=world.scheme.pk), day=D).statements)
        return refund_create(
            actor=till.cashier_actor,
            payment=fresh_payment(payments[i]),
            points=1_000 * (i + 1),
            at=local(2026, 11, 20, 23, 59, 59, 999_000),
        ).pk

    outcomes = run_in_threads(9, work)
    assert codes(outcomes) == ["ok"] * 9
    pay(till, 50_000, local(2026, 11, 21, 9, 0))
    settle(scheme=world.scheme, day=D + dt.timedelta(days=1))
    assert Refund.objects.count() == 8
    statements = list(Statement.objects.order_by("business_date"))
    assert [s.business_date for s in statements] == [D, D + dt.timedelta(days=1)]
    assert sum(s.refunds_total for s in statements) == 1_000 * 36
    assert sum(s.gross for s in statements) == 80_000 + 50_000
    assert_every_row_in_one_statement(till, D, D + dt.timedelta(days=1))
    assert_ledger_ok(world.scheme.pk)
    connections.close_all()
