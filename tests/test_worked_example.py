"""One worked example across the domains, with exact numbers (docs/ledger.md, "Worked example").

A grid worker proposes 1,200 pesticide bottles for 张桂兰's household; the village admin
approves; the claim waits three days on the notice board; the finalizer posts it. She redeems a
rice cooker and two bags of rice at the township store, pays a signed merchant 36.50 points with
a payment code and gets 10 back. The merchant's day is settled, paid out and reconciled; the
ledger verifies. Every step goes through the services and asserts every account that moved.
Amounts are hundredths of a point; the scheme's rate is 1 point = 1 yuan.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from civicpoints.awards.models import ClaimStatus
from civicpoints.awards.selectors import notice_claims
from civicpoints.awards.services import claim_approve, claim_submit, notices_finalize
from civicpoints.ledger.models import AccountKind, Entry, Posting, PostingKind
from civicpoints.ledger.selectors import account_total, household_balance
from civicpoints.ledger.services import system_account
from civicpoints.merchants.models import Statement, StatementStatus
from civicpoints.merchants.services import (
    merchant_account,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.merchants.settlement import (
    payout_csv,
    payout_rows,
    reconcile,
    settle,
    statement_mark_paid,
)
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Product
from civicpoints.stores.services import (
    Item,
    product_create,
    redeem,
    stock_receive,
    store_account,
    store_create,
)
from tests.factories import World, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.merchants.conftest import PIN, build_till

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai
MONDAY = dt.datetime(2026, 11, 16, 9, 0, tzinfo=TZ)
FRIDAY = dt.date(2026, 11, 20)  # the merchant's business day D


def test_earn_notice_post_redeem_pay_refund_settle_and_verify(world: World) -> None:
    # Given a signed merchant with its cashier, a county admin and 张桂兰's household (PIN set)
    till = build_till(world, balance=0)
    scheme, household, county_admin = world.scheme, till.household, till.admin_actor
    merchant, cashier = till.merchant, till.cashier_actor
    rules = {rule.code: rule for rule in load_catalogue(scheme=scheme)}
    grid_worker = actor_for_user(make_staff("wangge", Role.GRID_WORKER, world.village_a1, scheme))
    village_admin = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, scheme))
    clerk = actor_for_user(make_staff("clerk", Role.STORE_CLERK, world.village_a1, scheme))
    # and the township's store, with rice cookers (200 points) and rice (30 points a bag)
    store = store_create(
        actor=county_admin,
        scheme_id=scheme.pk,
        region=world.township_a,
        name="开通镇爱心超市",
        clerk_ids=[clerk.user_id],
    )
    cooker = product_create(actor=county_admin, store=store, name="美的电饭煲", price=20_000)
    rice = product_create(actor=county_admin, store=store, name="大米 10斤", price=3_000)
    stock_receive(actor=clerk, product=cooker, quantity=10, value_fen=200_000)
    stock_receive(actor=clerk, product=rice, quantity=50, value_fen=150_000)
    accounts = {
        "household": household.account.pk,
        "issuance": system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE).pk,
        "store": store_account(store).pk,
        "merchant": merchant_account(merchant).pk,
        "clearing": system_account(scheme_id=scheme.pk, kind=AccountKind.SETTLEMENT_CLEARING).pk,
        "funds": system_account(scheme_id=scheme.pk, kind=AccountKind.FUNDS).pk,
    }

    def totals() -> dict[str, int]:
        """Each account's sum of entries, the household's running balance, the whole ledger."""
        found = {name: account_total(account_id=pk) for name, pk in accounts.items()}
        found["household balance"] = household_balance(household_id=household.pk).balance
        found["ledger"] = Entry.objects.filter(scheme=scheme).aggregate(s=Sum("amount"))["s"] or 0
        return found

    def expect(**moved: int) -> dict[str, int]:
        """Every account at zero but those named; the balance row equals its entries."""
        want = dict.fromkeys(accounts, 0) | moved
        return {**want, "household balance": want["household"], "ledger": 0}

    assert totals() == expect()

    # 1. Earn: the grid worker proposes 1,200 bottles (1 point each), the village admin approves
    claim = claim_submit(
        actor=grid_worker,
        household=household,
        rule_id=rules["B01"].pk,
        quantity=1200,
        occurred_on=dt.date(2026, 11, 15),
    )
    assert (claim.points, claim.needs_township) == (120_000, False)
    claim = claim_approve(actor=village_admin, claim=claim, at=MONDAY)

    # 2. Notice (公示): three days on the village's board, nothing posted before its end
    assert claim.status == ClaimStatus.ON_NOTICE
    assert claim.notice_ends_at == MONDAY + dt.timedelta(days=3)
    assert [c.pk for c in notice_claims(village_id=world.village_a1.pk)] == [claim.pk]
    assert notices_finalize(at=MONDAY + dt.timedelta(days=2, hours=23)).count == 0
    assert totals() == expect()

    # 3. Finalize posts it: issuance -> household, 1,200.00 points
    assert notices_finalize(at=MONDAY + dt.timedelta(days=3)).count == 1
    assert notices_finalize(at=MONDAY + dt.timedelta(days=4)).count == 0  # once only
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.POSTED
    assert totals() == expect(household=120_000, issuance=-120_000)

    # 4. Redeem at the store counter: a rice cooker (200) and two bags of rice (2 x 30), PIN
    redemption = redeem(
        actor=clerk,
        store=store,
        household=household,
        items=[Item(cooker.pk, 1), Item(rice.pk, 2)],
        pin=PIN,
        idempotency_key="counter-1",
    )
    assert redemption.points == 26_000
    assert [Product.objects.get(pk=p.pk).stock for p in (cooker, rice)] == [9, 48]
    assert totals() == expect(household=94_000, issuance=-120_000, store=26_000)

    # 5. Pay the signed merchant 36.50 points with a payment code, on Friday at noon
    noon = dt.datetime(2026, 11, 20, 12, 0, tzinfo=TZ)
    code = payment_code_issue(household=household, at=noon)
    payment = payment_take(
        actor=cashier,
        merchant=merchant,
        code=code.code,
        points=3_650,
        at=noon + dt.timedelta(seconds=20),
    )
    assert payment.points == 3_650
    assert totals() == expect(household=90_350, issuance=-120_000, store=26_000, merchant=3_650)

    # 6. The merchant refunds 10.00 of it an hour later
    refund_create(
        actor=cashier,
        payment=payment,
        points=1_000,
        reason="退一瓶酱油",
        at=noon + dt.timedelta(hours=1),
    )
    assert totals() == expect(household=91_350, issuance=-120_000, store=26_000, merchant=2_650)

    # 7. Settle Friday: one statement, 36.50 - 10.00 = 26.50 points = 26.50 yuan
    assert timezone.now() > dt.datetime(2026, 11, 21, tzinfo=TZ)  # the day is over
    result = settle(scheme=scheme, day=FRIDAY, actor_id=county_admin.user_id)
    assert settle(scheme=scheme, day=FRIDAY).statements == []  # a second run makes nothing
    statement = Statement.objects.get(pk__in=result.statements)
    assert (statement.payment_count, statement.gross) == (1, 3_650)
    assert (statement.refund_count, statement.refunds_total) == (1, 1_000)
    assert (statement.net, statement.amount_fen) == (2_650, 2_650)
    assert statement.status == StatementStatus.UNPAID
    assert statement.posting is not None
    assert statement.posting.kind == PostingKind.SETTLEMENT
    assert totals() == expect(
        household=91_350, issuance=-120_000, store=26_000, merchant=0, clearing=2_650
    )

    # 8. The payout file pays 26.50 yuan; staff mark it paid with the bank's reference
    rows = payout_rows(Statement.objects.filter(pk=statement.pk))
    assert [(r.account_number, r.amount) for r in rows] == [
        ("6228480123456789012", Decimal("26.50"))
    ]
    csv_lines = payout_csv(rows).decode("utf-8-sig").splitlines()
    assert csv_lines[1].split(",")[4:6] == ["26.50", "文明积分结算 2026-11-20"]
    statement = statement_mark_paid(
        actor=county_admin, statement=statement, bank_reference="ABC20261121"
    )
    assert statement.status == StatementStatus.PAID
    assert totals() == expect(household=91_350, issuance=-120_000, store=26_000, funds=2_650)
    checks = reconcile(scheme=scheme, day=FRIDAY)
    assert [(c.expected, c.actual) for c in checks] == [
        (2_650, 2_650),
        (2_650, 2_650),
        (2_650, 2_650),
        (2_650, 2_650),
        (2_650, 2_650),
    ]

    # 9. Six postings in all, and verify finds the ledger and its hash chain in order
    assert list(
        Posting.objects.filter(scheme=scheme).order_by("pk").values_list("kind", flat=True)
    ) == [
        PostingKind.AWARD,
        PostingKind.REDEMPTION,
        PostingKind.PAYMENT,
        PostingKind.REFUND,
        PostingKind.SETTLEMENT,
        PostingKind.PAYOUT,
    ]
    assert_ledger_ok(scheme.pk)
