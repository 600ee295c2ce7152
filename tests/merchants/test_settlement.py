"""T+1 settlement: business days in Asia/Shanghai, one statement per merchant and day, late
refunds in the next day's statement, negative days carried forward, catching up missed days,
paying once, reconciling to zero, and payout files a bank can load."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
from django.db.models import F
from django.utils import timezone

from civicpoints.errors import ErrorCode
from civicpoints.ledger.models import AccountKind, Posting, PostingKind
from civicpoints.ledger.selectors import account_total
from civicpoints.ledger.services import system_account
from civicpoints.merchants import settlement
from civicpoints.merchants.models import Payment, Refund, Statement, StatementStatus
from civicpoints.merchants.services import merchant_create
from civicpoints.merchants.settlement import (
    PAYOUT_HEADERS,
    overdue,
    payout_csv,
    payout_rows,
    payout_xlsx,
    reconcile,
    settle,
    settle_due,
    statement_mark_paid,
)
from civicpoints.schemes.models import Scheme
from tests.ledger.helpers import assert_ledger_ok
from tests.merchants.conftest import Till
from tests.merchants.helpers import balance, local, pay, payable, refund, refused

D = dt.date(2026, 11, 20)
FULL_ACCOUNT = "6228480123456789012"


def day(offset: int) -> dt.date:
    return D + dt.timedelta(days=offset)


def at(offset: int, hour: int, minute: int = 0) -> dt.datetime:
    d = day(offset)
    return local(d.year, d.month, d.day, hour, minute)


def statement(till: Till, business_date: dt.date) -> Statement:
    return Statement.objects.get(merchant=till.merchant, business_date=business_date)


def assert_reconciled(till: Till, *days: dt.date) -> None:
    for d in days:
        checks = reconcile(scheme=till.world.scheme, day=d)
        assert len(checks) == 5
        assert [c.difference for c in checks] == [0, 0, 0, 0, 0], (d, checks)


def clearing_total(till: Till) -> int:
    account = system_account(scheme_id=till.world.scheme.pk, kind=AccountKind.SETTLEMENT_CLEARING)
    return account_total(account_id=account.pk)


def test_the_last_and_the_first_millisecond_of_a_day_fall_into_d_and_d_plus_1(
    till: Till,
) -> None:
    # Given a payment at 23:59:59.999 on D and one at 00:00:00.000 on D+1 (Asia/Shanghai)
    late = pay(till, 1_000, local(2026, 11, 20, 23, 59, 59, 999_000))
    early = pay(till, 2_000, local(2026, 11, 21, 0, 0, 0, 0))
    # (in UTC both are on the 20th: the business day is the local one)
    assert late.created_at.astimezone(dt.UTC).date() == early.created_at.astimezone(dt.UTC).date()
    # When D and D+1 are settled
    first = settle(scheme=till.world.scheme, day=D)
    second = settle(scheme=till.world.scheme, day=day(1))
    # Then each lands in its own day's statement
    assert len(first.statements) == len(second.statements) == 1
    s_d, s_d1 = statement(till, D), statement(till, day(1))
    assert list(s_d.payments.values_list("pk", flat=True)) == [late.pk]
    assert list(s_d1.payments.values_list("pk", flat=True)) == [early.pk]
    assert (s_d.payment_count, s_d.gross, s_d.net, s_d.amount_fen) == (1, 1_000, 1_000, 1_000)
    assert (s_d1.payment_count, s_d1.gross, s_d1.net, s_d1.amount_fen) == (1, 2_000, 2_000, 2_000)
    assert payable(till.merchant) == 0
    assert clearing_total(till) == 3_000
    assert_reconciled(till, D, day(1))
    assert_ledger_ok(till.world.scheme.pk)


def test_settling_a_day_twice_makes_one_statement_and_one_posting(till: Till) -> None:
    pay(till, 3_650, at(0, 12))
    first = settle(scheme=till.world.scheme, day=D)
    snapshot = (
        Statement.objects.count(),
        Posting.objects.filter(kind=PostingKind.SETTLEMENT).count(),
        Posting.objects.count(),
    )
    second = settle(scheme=till.world.scheme, day=D)
    assert len(first.statements) == 1 and second.statements == []
    assert snapshot == (
        Statement.objects.count(),
        Posting.objects.filter(kind=PostingKind.SETTLEMENT).count(),
        Posting.objects.count(),
    )
    assert snapshot[:2] == (1, 1)
    posting = statement(till, D).posting
    assert posting is not None and posting.kind == PostingKind.SETTLEMENT
    assert_ledger_ok(till.world.scheme.pk)


def test_a_refund_after_ds_statement_goes_into_the_next_days(till: Till) -> None:
    # Given D's payment of 36.50, settled
    payment = pay(till, 3_650, at(0, 10))
    settle(scheme=till.world.scheme, day=D)
    # When a refund stamped 22:00 on D commits only after D's run (a transaction still open),
    # and another refund of the same payment is made on D+1
    late = refund(till, payment, 1_000, at(0, 22))
    # Then settling D again leaves D's statement as it was
    assert settle(scheme=till.world.scheme, day=D).statements == []
    s_d = statement(till, D)
    assert (s_d.gross, s_d.refunds_total, s_d.net) == (3_650, 0, 3_650)
    next_day = refund(till, payment, 500, at(1, 10))
    sale = pay(till, 5_000, at(1, 9))
    # And D+1's statement takes both refunds with its own payment
    settle(scheme=till.world.scheme, day=day(1))
    s_d1 = statement(till, day(1))
    assert (s_d1.payment_count, s_d1.gross) == (1, 5_000)
    assert (s_d1.refund_count, s_d1.refunds_total, s_d1.net) == (2, 1_500, 3_500)
    assert sorted(Refund.objects.values_list("pk", "statement_id")) == sorted(
        [(late.pk, s_d1.pk), (next_day.pk, s_d1.pk)]
    )
    assert Payment.objects.get(pk=sale.pk).statement_id == s_d1.pk
    assert payable(till.merchant) == 0
    assert clearing_total(till) == 3_650 + 3_500
    assert balance(till.household) == 100_000 - 3_650 + 1_500 - 5_000
    assert_reconciled(till, D, day(1))
    assert_ledger_ok(till.world.scheme.pk)


def test_a_day_with_more_refunds_than_payments_is_carried_forward(till: Till) -> None:
    # Given D-1: a payment of 36.50, settled
    big = pay(till, 3_650, at(-1, 15))
    settle(scheme=till.world.scheme, day=day(-1))
    # And D: a payment of 10.00 and a refund of 30.00 of yesterday's payment: net -20.00
    small = pay(till, 1_000, at(0, 9))
    back = refund(till, big, 3_000, at(0, 11))
    # When D is settled (twice), no statement is made and nothing is posted: carried forward
    postings = Posting.objects.count()
    for _ in range(2):
        result = settle(scheme=till.world.scheme, day=D)
        assert (result.statements, result.carried) == ([], [till.merchant.pk])
    assert not Statement.objects.filter(business_date=D).exists()
    assert Posting.objects.count() == postings
    assert Payment.objects.get(pk=small.pk).statement_id is None
    assert Refund.objects.get(pk=back.pk).statement_id is None
    assert payable(till.merchant) == -2_000
    # When D+1 brings a payment of 50.00, its statement nets D's rows out with it
    fresh = pay(till, 5_000, at(1, 10))
    result = settle(scheme=till.world.scheme, day=day(1))
    assert (len(result.statements), result.carried) == (1, [])
    s = statement(till, day(1))
    assert (s.payment_count, s.gross, s.refund_count, s.refunds_total) == (2, 6_000, 1, 3_000)
    assert (s.net, s.amount_fen, s.status) == (3_000, 3_000, StatementStatus.UNPAID)
    assert sorted(s.payments.values_list("pk", flat=True)) == sorted([small.pk, fresh.pk])
    assert payable(till.merchant) == 0
    assert clearing_total(till) == 3_650 + 3_000
    assert_reconciled(till, day(-1), D, day(1))
    assert_ledger_ok(till.world.scheme.pk)


def test_a_day_that_nets_to_zero_has_a_statement_with_nothing_to_pay(till: Till) -> None:
    payment = pay(till, 1_000, at(0, 9))
    refund(till, payment, 1_000, at(0, 10))
    result = settle(scheme=till.world.scheme, day=D)
    s = statement(till, D)
    assert result.statements == [s.pk]
    assert (s.gross, s.refunds_total, s.net, s.amount_fen) == (1_000, 1_000, 0, 0)
    assert (s.status, s.posting) == (StatementStatus.NOTHING_DUE, None)
    assert payout_rows(Statement.objects.all()) == []
    refused(
        ErrorCode.INVALID_TRANSITION,
        till.world.scheme.pk,
        lambda: statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference="X1"),
    )
    assert_reconciled(till, D)
    assert_ledger_ok(till.world.scheme.pk)


def test_settle_due_catches_up_every_missed_day_with_its_own_statements(till: Till) -> None:
    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in (5, 4, 3, 2, 1)]

    def noon(d: dt.date) -> dt.datetime:
        return local(d.year, d.month, d.day, 12, 0)

    # Given five days the scheduler missed: a payment, a quiet day, a refund alone (a
    # negative day), two more payments; and a payment today
    first = pay(till, 1_000, noon(days[0]))
    refund(till, first, 400, noon(days[2]))
    pay(till, 2_000, noon(days[3]))
    pay(till, 3_000, noon(days[4]))
    pay(till, 700, local(today.year, today.month, today.day, 0, 0))
    # When the scheduler runs after the downtime
    made = settle_due()
    # Then each finished day with something to settle has its own statement, in order; the
    # negative day is carried into the next; today waits
    assert made == 3
    got = {
        s.business_date: (s.gross, s.refunds_total, s.net)
        for s in Statement.objects.filter(merchant=till.merchant)
    }
    assert got == {
        days[0]: (1_000, 0, 1_000),
        days[3]: (2_000, 400, 1_600),
        days[4]: (3_000, 0, 3_000),
    }
    assert list(
        Payment.objects.filter(statement__isnull=True).values_list("points", flat=True)
    ) == [700]
    # Running again changes nothing, with or without the process's memo
    assert settle_due() == 0
    settlement.settled_through.clear()
    assert settle_due() == 0
    assert Posting.objects.filter(kind=PostingKind.SETTLEMENT).count() == 3
    assert payable(till.merchant) == 700
    assert_reconciled(till, *days)
    assert_ledger_ok(till.world.scheme.pk)


def test_today_and_later_cannot_be_settled(till: Till) -> None:
    today = timezone.localdate()
    pay(till, 1_000, timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0))
    for d in (today, today + dt.timedelta(days=1)):
        error = refused(
            ErrorCode.DAY_NOT_OVER,
            till.world.scheme.pk,
            lambda d=d: settle(scheme=till.world.scheme, day=d),
        )
        assert error.detail == {"date": d.isoformat()}


def test_a_statement_is_paid_once(till: Till) -> None:
    pay(till, 3_650, at(0, 12))
    settle(scheme=till.world.scheme, day=D)
    s = statement(till, D)
    scheme = till.world.scheme.pk
    refused(
        ErrorCode.INVALID_INPUT,
        scheme,
        lambda: statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference="  "),
    )
    refused(
        ErrorCode.PERMISSION_DENIED,
        scheme,
        lambda: statement_mark_paid(actor=till.cashier_actor, statement=s, bank_reference="X"),
    )
    stale = Statement.objects.get(pk=s.pk)
    paid = statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference=" ABC123 ")
    assert (paid.status, paid.bank_reference, paid.paid_by_id) == (
        StatementStatus.PAID,
        "ABC123",
        till.admin.pk,
    )
    assert paid.payout_posting is not None
    assert paid.payout_posting.kind == PostingKind.PAYOUT
    # A second click, from the refreshed page or from a stale one, is refused
    for again in (paid, stale):
        error = refused(
            ErrorCode.ALREADY_PAID,
            scheme,
            lambda s=again: statement_mark_paid(
                actor=till.admin_actor, statement=s, bank_reference="DEF456"
            ),
        )
        assert error.code == "statement_already_paid"
    assert Statement.objects.get(pk=s.pk).bank_reference == "ABC123"
    assert Posting.objects.filter(kind=PostingKind.PAYOUT).count() == 1
    assert clearing_total(till) == 0
    funds = system_account(scheme_id=scheme, kind=AccountKind.FUNDS)
    assert account_total(account_id=funds.pk) == 3_650
    assert payout_rows(Statement.objects.all()) == []
    assert_reconciled(till, D)
    assert_ledger_ok(scheme)


def test_reconcile_shows_zero_for_a_busy_day_and_names_a_tampered_statement(till: Till) -> None:
    a = pay(till, 3_650, at(0, 9))
    b = pay(till, 12_000, at(0, 10))
    pay(till, 800, at(0, 23, 59))
    refund(till, a, 1_000, at(0, 11))
    refund(till, b, 2_000, at(0, 12))
    refund(till, b, 500, at(1, 8))
    settle(scheme=till.world.scheme, day=D)
    settle(scheme=till.world.scheme, day=day(1))
    s = statement(till, D)
    assert (s.payment_count, s.gross, s.refund_count, s.refunds_total, s.net) == (
        3,
        16_450,
        2,
        3_000,
        13_450,
    )
    statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference="ABC123")
    assert_reconciled(till, D)
    # D+1 had only a refund: carried forward, nothing to reconcile but zeros
    assert_reconciled(till, day(1))
    # When someone edits a statement's net behind the services' back
    Statement.objects.filter(pk=s.pk).update(net=F("net") + 1)
    checks = reconcile(scheme=till.world.scheme, day=D)
    assert [c.difference for c in checks] == [-1, -1, -1, -1, -1]


def test_the_worked_example_at_half_a_yuan_a_point(till: Till) -> None:
    # Given a scheme paying 0.50 yuan a point
    Scheme.objects.filter(pk=till.world.scheme.pk).update(yuan_per_point=Decimal("0.50"))
    scheme = Scheme.objects.get(pk=till.world.scheme.pk)
    # When a merchant takes 36.5 points and refunds 10
    payment = pay(till, 3_650, at(0, 12))
    refund(till, payment, 1_000, at(0, 13))
    settle(scheme=scheme, day=D)
    # Then D's statement says 26.50 points = 13.25 yuan
    s = statement(till, D)
    assert (s.gross, s.refunds_total, s.net) == (3_650, 1_000, 2_650)
    assert (s.yuan_per_point, s.amount_fen) == (Decimal("0.5"), 1_325)
    assert [r.amount for r in payout_rows(Statement.objects.all())] == [Decimal("13.25")]
    statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference="ABC123")
    assert_reconciled(till, D)
    assert_ledger_ok(scheme.pk)


def test_half_a_fen_rounds_half_up_once_per_statement(till: Till) -> None:
    Scheme.objects.filter(pk=till.world.scheme.pk).update(yuan_per_point=Decimal("0.50"))
    scheme = Scheme.objects.get(pk=till.world.scheme.pk)
    # 36.50 + 0.01 - 10.00 = 26.51 points x 0.50 = 13.255 yuan -> 13.26
    payment = pay(till, 3_650, at(0, 12))
    pay(till, 1, at(0, 14))
    refund(till, payment, 1_000, at(0, 13))
    settle(scheme=scheme, day=D)
    s = statement(till, D)
    assert (s.net, s.amount_fen) == (2_651, 1_326)
    statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference="ABC123")
    assert_reconciled(till, D)


def test_the_payout_csv_has_a_bom_and_the_full_account(till: Till) -> None:
    pay(till, 3_650, at(0, 12))
    settle(scheme=till.world.scheme, day=D)
    s = statement(till, D)
    rows = payout_rows(Statement.objects.all())
    assert [r.masked() for r in rows] == ["**** 9012"]
    assert till.merchant.masked_account == "**** **** **** 9012"
    assert FULL_ACCOUNT not in till.merchant.bank_account_encrypted
    data = payout_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert parsed == [
        PAYOUT_HEADERS,
        [
            "1",
            "通榆县开通镇惠民超市有限公司",
            FULL_ACCOUNT,
            "中国农业银行通榆支行",
            "36.50",
            "文明积分结算 2026-11-20",
            s.reference,
        ],
    ]


def test_the_payout_xlsx_opens_and_keeps_the_account_as_text(till: Till) -> None:
    pay(till, 3_650, at(0, 12))
    settle(scheme=till.world.scheme, day=D)
    s = statement(till, D)
    book = openpyxl.load_workbook(io.BytesIO(payout_xlsx(payout_rows(Statement.objects.all()))))
    sheet = book["付款清单"]
    assert [c.value for c in sheet[1]] == PAYOUT_HEADERS
    account = sheet["C2"]
    assert (account.value, account.data_type, account.number_format) == (FULL_ACCOUNT, "s", "@")
    assert sheet["E2"].value == 36.5
    assert sheet["G2"].value == s.reference
    assert sheet.max_row == 2


def test_statements_unpaid_after_24_hours_are_overdue(till: Till) -> None:
    pay(till, 3_650, at(0, 12))
    settle(scheme=till.world.scheme, day=D)
    s = statement(till, D)
    all_ = Statement.objects.all()
    assert list(overdue(all_, now=s.created_at + dt.timedelta(hours=24))) == []
    assert list(overdue(all_, now=s.created_at + dt.timedelta(hours=24, seconds=1))) == [s]
    statement_mark_paid(actor=till.admin_actor, statement=s, bank_reference="ABC123")
    assert list(overdue(all_, now=s.created_at + dt.timedelta(days=3))) == []


def test_one_merchant_carried_for_two_days_while_another_settles(till: Till) -> None:
    w = till.world
    other = merchant_create(
        actor=till.admin_actor,
        scheme_id=w.scheme.pk,
        legal_name="通榆县兴隆农资店",
        shop_name="兴隆农资",
        bank_name="中国邮政储蓄银行",
        account_name="王建华",
        bank_account="6217991234567890",
        regions=[w.county],
        clerk_ids=[till.cashier.pk],
    )
    # D-1: the first merchant takes 30.00, settled
    old = pay(till, 3_000, at(-1, 10))
    settle(scheme=w.scheme, day=day(-1))
    # D: it refunds 20.00 of that; the other merchant takes 15.00
    refund(till, old, 2_000, at(0, 10))
    pay(till, 1_500, at(0, 11), merchant=other)
    result = settle(scheme=w.scheme, day=D)
    assert result.carried == [till.merchant.pk]
    assert [s.merchant_id for s in Statement.objects.filter(pk__in=result.statements)] == [other.pk]
    # D+1: the first takes 10.00: still -10.00, carried again
    pay(till, 1_000, at(1, 10))
    assert settle(scheme=w.scheme, day=day(1)).carried == [till.merchant.pk]
    # D+2: it takes 50.00: its statement nets everything since D-1's
    pay(till, 5_000, at(2, 10))
    assert settle(scheme=w.scheme, day=day(2)).carried == []
    s = statement(till, day(2))
    assert (s.payment_count, s.gross, s.refund_count, s.refunds_total, s.net) == (
        2,
        6_000,
        1,
        2_000,
        4_000,
    )
    assert list(
        Statement.objects.filter(merchant=till.merchant)
        .order_by("business_date")
        .values_list("business_date", "net")
    ) == [(day(-1), 3_000), (day(2), 4_000)]
    assert payable(till.merchant) == 0 and payable(other) == 0
    assert clearing_total(till) == 3_000 + 1_500 + 4_000
    assert_reconciled(till, day(-1), D, day(1), day(2))
    assert_ledger_ok(w.scheme.pk)


def test_payout_csv_keeps_a_formula_looking_name_as_text(till: Till) -> None:
    from civicpoints.merchants.models import Merchant, Statement
    from civicpoints.merchants.settlement import payout_csv, payout_rows

    Merchant.objects.filter(pk=till.merchant.pk).update(account_name="=HYPERLINK(1)")
    Statement.objects.create(
        scheme=till.world.scheme,
        merchant=till.merchant,
        business_date=dt.date(2026, 11, 1),
        net=1000,
        amount_fen=1000,
        yuan_per_point=till.world.scheme.yuan_per_point,
        status="unpaid",
    )
    text = payout_csv(payout_rows(Statement.objects.all())).decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[1] == "'=HYPERLINK(1)"
