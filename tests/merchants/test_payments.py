"""Payments at signed merchants and their refunds: payment codes (expired, reused, forged, from
another scheme: each its own error), the printed card with its PIN, who may pay where, and
refunds whole or in parts, never more than was paid, only within the scheme's window."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ErrorCode
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import household_set_pin
from civicpoints.households.standing import household_disqualify
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.ledger.models import Posting, PostingKind
from civicpoints.merchants import services
from civicpoints.merchants.models import (
    MerchantStatus,
    Payment,
    PaymentCode,
    PaymentVia,
    Refund,
)
from civicpoints.merchants.services import (
    merchant_create,
    merchant_set_status,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import actor_for_user
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.merchants.conftest import PIN, Till
from tests.merchants.helpers import balance, local, pay, payable, refund, refused

NOON = local(2026, 11, 20, 12, 0)


def scan(till: Till, code: str, points: int = 3_650, **kw: object) -> Payment:
    kw.setdefault("at", NOON)
    return payment_take(
        actor=till.cashier_actor,
        merchant=till.merchant,
        code=code,
        points=points,
        **kw,  # type: ignore[arg-type]
    )


def swipe(till: Till, card: str, pin: str | None = PIN, points: int = 3_650) -> Payment:
    return payment_take(
        actor=till.cashier_actor,
        merchant=till.merchant,
        card=card,
        pin=pin or "",
        points=points,
        at=NOON,
    )


def flip(digit: str) -> str:
    return str((int(digit) + 1) % 10)


# --- payment codes -------------------------------------------------------------------------


def test_a_payment_code_is_eighteen_signed_digits_valid_sixty_seconds(till: Till) -> None:
    codes = [payment_code_issue(household=till.household, at=NOON) for _ in range(20)]
    for code in codes:
        assert len(code.code) == 18 and code.code.isdigit() and code.code.startswith("88")
        assert services._code_signed(code.code)
        assert (code.created_at, code.expires_at) == (NOON, NOON + dt.timedelta(seconds=60))
        assert code.used_at is None and code.household_id == till.household.pk
    assert len({c.code for c in codes}) == 20


def test_a_code_pays_once_household_to_merchant(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON)
    # When the cashier scans it (typed with spaces, as printed under the QR code) for 36.50
    spaced = " ".join(code.code[i : i + 4] for i in range(0, 18, 4))
    payment = scan(till, spaced, at=NOON + dt.timedelta(seconds=59, microseconds=999_999))
    # Then 36.50 points move household -> merchant payable in one posting
    assert (payment.points, payment.via, payment.payment_code_id) == (3_650, "code", code.pk)
    assert payment.posting.kind == PostingKind.PAYMENT
    assert balance(till.household) == 100_000 - 3_650
    assert payable(till.merchant) == 3_650
    used = PaymentCode.objects.get(pk=code.pk)
    assert used.used_at == NOON + dt.timedelta(seconds=59, microseconds=999_999)
    event = AuditEvent.objects.get(action="merchant.payment", object_id=str(payment.pk))
    assert (event.actor_id, event.detail) == (
        till.cashier.pk,
        {"household": till.household.pk, "points": "36.5"},
    )
    assert_ledger_ok(till.world.scheme.pk)


def test_an_expired_code_is_refused(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON)
    refused(
        ErrorCode.PAYMENT_CODE_EXPIRED,
        till.world.scheme.pk,
        lambda: scan(till, code.code, at=NOON + dt.timedelta(seconds=60)),
    )
    refused(
        ErrorCode.PAYMENT_CODE_EXPIRED,
        till.world.scheme.pk,
        lambda: scan(till, code.code, at=NOON + dt.timedelta(hours=3)),
    )
    assert PaymentCode.objects.get(pk=code.pk).used_at is None
    assert balance(till.household) == 100_000


def test_a_used_code_is_refused(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON)
    scan(till, code.code, points=1_000, at=NOON + dt.timedelta(seconds=10))
    # A second scan of the same code (another amount, another key) within its 60 seconds
    refused(
        ErrorCode.PAYMENT_CODE_USED,
        till.world.scheme.pk,
        lambda: scan(till, code.code, points=2_000, at=NOON + dt.timedelta(seconds=20)),
    )
    refused(
        ErrorCode.PAYMENT_CODE_USED,
        till.world.scheme.pk,
        lambda: scan(
            till,
            code.code,
            points=1_000,
            at=NOON + dt.timedelta(seconds=20),
            idempotency_key="k-other",
        ),
    )
    assert balance(till.household) == 99_000
    assert Payment.objects.count() == 1


def test_forged_and_guessed_codes_are_refused_as_invalid(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON).code
    body = code[:12]
    never_issued = "88" + "0123456789"
    forgeries = [
        code[:-1] + flip(code[-1]),  # last signature digit changed
        code[:-6] + flip(code[-6]) + code[-5:],  # first signature digit changed
        code[:5] + flip(code[5]) + code[6:],  # a random digit changed
        "87" + code[2:],  # another prefix
        code[:-1],  # 17 digits
        code + "0",  # 19 digits
        code[:-1] + "A",  # not a digit
        "８８" + code[2:],  # full-width digits
        never_issued + services._mac(never_issued),  # well signed, never issued
    ]
    assert body != never_issued
    for forged in forgeries:
        refused(
            ErrorCode.PAYMENT_CODE_INVALID, till.world.scheme.pk, lambda f=forged: scan(till, f)
        )
    # The real code is still good afterwards
    assert scan(till, code).points == 3_650


def test_a_code_from_another_scheme_is_refused_as_such(till: Till) -> None:
    w = till.world
    visitor = make_household(w.other_scheme, w.other_village, "周建军")
    fund(visitor, 100_000)
    code = payment_code_issue(household=visitor, at=NOON)
    refused(ErrorCode.PAYMENT_CODE_OTHER_SCHEME, w.scheme.pk, lambda: scan(till, code.code))
    assert PaymentCode.objects.get(pk=code.pk).used_at is None
    assert balance(visitor) == 100_000


def test_each_bad_code_has_its_own_error_code(till: Till) -> None:
    w = till.world
    expired = payment_code_issue(household=till.household, at=NOON - dt.timedelta(minutes=2))
    used = payment_code_issue(household=till.household, at=NOON)
    scan(till, used.code, points=100)
    visitor = make_household(w.other_scheme, w.other_village)
    other = payment_code_issue(household=visitor, at=NOON)
    good = payment_code_issue(household=till.household, at=NOON).code
    forged = good[:-1] + flip(good[-1])
    seen = {
        refused(code, w.scheme.pk, lambda c=raw: scan(till, c)).code
        for code, raw in [
            (ErrorCode.PAYMENT_CODE_EXPIRED, expired.code),
            (ErrorCode.PAYMENT_CODE_USED, used.code),
            (ErrorCode.PAYMENT_CODE_INVALID, forged),
            (ErrorCode.PAYMENT_CODE_OTHER_SCHEME, other.code),
        ]
    }
    assert len(seen) == 4


# --- the printed card ----------------------------------------------------------------------


def test_a_card_pays_with_its_pin_and_never_without(till: Till) -> None:
    card = till.household.card_code
    scheme = till.world.scheme.pk
    refused(ErrorCode.PIN_REQUIRED, scheme, lambda: swipe(till, card, pin=None))
    error = refused(ErrorCode.PIN_INCORRECT, scheme, lambda: swipe(till, card, pin="000000"))
    assert error.detail == {"attempts_left": 4}
    refused(ErrorCode.NOT_FOUND, scheme, lambda: swipe(till, "ZZZZZZZZ"))
    # The card typed in lower case with spaces is the same card
    payment = swipe(till, " ".join(card.lower()))
    assert (payment.via, payment.payment_code_id, payment.points) == (PaymentVia.CARD, None, 3_650)
    assert balance(till.household) == 100_000 - 3_650
    assert_ledger_ok(scheme)


def test_a_card_of_another_scheme_is_not_found(till: Till) -> None:
    w = till.world
    visitor = make_household(w.other_scheme, w.other_village)
    household_set_pin(actor_id=None, household=visitor, pin=PIN)
    refused(ErrorCode.NOT_FOUND, w.scheme.pk, lambda: swipe(till, visitor.card_code))


def test_code_and_card_together_or_neither_are_refused(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON).code
    for kw in ({"code": code, "card": till.household.card_code, "pin": PIN}, {}):
        refused(
            ErrorCode.INVALID_INPUT,
            till.world.scheme.pk,
            lambda kw=kw: payment_take(
                actor=till.cashier_actor, merchant=till.merchant, points=100, at=NOON, **kw
            ),
        )


@pytest.mark.parametrize("points", [0, -100, MAX_HUNDREDTHS + 1, 36.5, "3650", None])
def test_amounts_must_be_positive_whole_hundredths(till: Till, points: object) -> None:
    code = payment_code_issue(household=till.household, at=NOON).code
    refused(
        ErrorCode.INVALID_INPUT,
        till.world.scheme.pk,
        lambda: scan(till, code, points=points),  # type: ignore[arg-type]
    )


# --- who may pay where ---------------------------------------------------------------------


def test_a_suspended_or_ended_merchant_takes_nothing(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON)
    for status in (MerchantStatus.SUSPENDED, MerchantStatus.ENDED):
        merchant_set_status(
            actor=till.admin_actor, merchant=till.merchant, status=status, reason="整改"
        )
        refused(ErrorCode.MERCHANT_NOT_ACTIVE, till.world.scheme.pk, lambda: scan(till, code.code))
        refused(
            ErrorCode.MERCHANT_NOT_ACTIVE,
            till.world.scheme.pk,
            lambda: swipe(till, till.household.card_code),
        )
    # The code was not spent: once the merchant is active again it pays
    merchant_set_status(
        actor=till.admin_actor, merchant=till.merchant, status=MerchantStatus.ACTIVE, reason="恢复"
    )
    assert scan(till, code.code).points == 3_650


def test_a_household_outside_the_merchants_regions_is_refused(till: Till) -> None:
    w = till.world
    outsider = make_household(w.scheme, w.village_b1, "孙立国")  # 兴隆山镇, not 开通镇
    household_set_pin(actor_id=None, household=outsider, pin=PIN)
    fund(outsider, 100_000)
    code = payment_code_issue(household=outsider, at=NOON)
    refused(ErrorCode.NOT_SERVED, w.scheme.pk, lambda: scan(till, code.code))
    refused(ErrorCode.NOT_SERVED, w.scheme.pk, lambda: swipe(till, outsider.card_code))
    assert PaymentCode.objects.get(pk=code.pk).used_at is None
    # A merchant serving one village only refuses the next village of the same township
    admin = till.admin_actor
    village_shop = merchant_create(
        actor=admin,
        scheme_id=w.scheme.pk,
        legal_name="晓光村小卖部",
        shop_name="晓光小卖部",
        bank_name="农村信用社",
        account_name="李国富",
        bank_account="62170000111122223333",
        regions=[w.village_a1],
        clerk_ids=[till.cashier.pk],
    )
    xinhua = make_household(w.scheme, w.village_a2, "赵玉芬")
    fund(xinhua, 10_000)
    xinhua_code = payment_code_issue(household=xinhua, at=NOON)
    refused(
        ErrorCode.NOT_SERVED,
        w.scheme.pk,
        lambda: payment_take(
            actor=till.cashier_actor,
            merchant=village_shop,
            code=xinhua_code.code,
            points=500,
            at=NOON,
        ),
    )
    assert balance(outsider) == 100_000 and balance(xinhua) == 10_000


def test_disqualified_and_closed_households_cannot_pay(till: Till) -> None:
    w = till.world
    code = payment_code_issue(household=till.household, at=NOON)
    household_disqualify(
        actor=till.admin_actor,
        household=till.household,
        reason="违规",
        starts_on=dt.date(2026, 11, 1),
        ends_on=dt.date(2026, 11, 20),
    )
    refused(ErrorCode.DISQUALIFIED, w.scheme.pk, lambda: scan(till, code.code))
    refused(ErrorCode.DISQUALIFIED, w.scheme.pk, lambda: swipe(till, till.household.card_code))
    # A code shown before the household was closed is refused after
    other = make_household(w.scheme, w.village_a1)
    fund(other, 10_000)
    other_code = payment_code_issue(household=other, at=NOON)
    Household.objects.filter(pk=other.pk).update(status=HouseholdStatus.CLOSED)
    other.refresh_from_db()
    refused(ErrorCode.HOUSEHOLD_CLOSED, w.scheme.pk, lambda: scan(till, other_code.code))
    refused(
        ErrorCode.HOUSEHOLD_CLOSED,
        w.scheme.pk,
        lambda: payment_code_issue(household=other, at=NOON),
    )


def test_a_payment_beyond_the_balance_is_refused_and_the_code_stays_good(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON)
    error = refused(
        ErrorCode.INSUFFICIENT_POINTS,
        till.world.scheme.pk,
        lambda: scan(till, code.code, points=100_001),
    )
    assert error.detail["available"] == 1_000.0
    assert scan(till, code.code, points=100_000).points == 100_000
    assert balance(till.household) == 0


def test_only_the_merchants_own_cashiers_take_payments(till: Till) -> None:
    w = till.world
    stranger = make_staff("cashier-2", Role.MERCHANT_CLERK, w.township_a, w.scheme)
    code = payment_code_issue(household=till.household, at=NOON)
    for actor in (actor_for_user(stranger), till.admin_actor):
        refused(
            ErrorCode.PERMISSION_DENIED,
            w.scheme.pk,
            lambda a=actor: payment_take(
                actor=a, merchant=till.merchant, code=code.code, points=100, at=NOON
            ),
        )


# --- retries -------------------------------------------------------------------------------


def test_a_repeated_payment_key_returns_the_first_payment(till: Till) -> None:
    code = payment_code_issue(household=till.household, at=NOON)
    first = scan(till, code.code, idempotency_key="pos-1")
    postings = Posting.objects.count()
    # A retry after a lost response, even once the code itself has been used and expired
    again = scan(till, code.code, idempotency_key="pos-1", at=NOON + dt.timedelta(minutes=5))
    assert again.pk == first.pk
    assert Posting.objects.count() == postings
    assert balance(till.household) == 100_000 - 3_650
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        till.world.scheme.pk,
        lambda: scan(till, code.code, points=3_651, idempotency_key="pos-1"),
    )
    other = payment_code_issue(household=till.household, at=NOON)
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        till.world.scheme.pk,
        lambda: scan(till, other.code, idempotency_key="pos-1"),
    )


# --- refunds -------------------------------------------------------------------------------


def test_a_whole_refund_gives_everything_back_and_no_more(till: Till) -> None:
    payment = pay(till, 3_650, NOON)
    done = refund(till, payment, 3_650, NOON + dt.timedelta(hours=2))
    assert done.posting.kind == PostingKind.REFUND
    assert Payment.objects.get(pk=payment.pk).refunded == 3_650
    assert balance(till.household) == 100_000
    assert payable(till.merchant) == 0
    error = refused(
        ErrorCode.REFUND_EXCEEDS_PAYMENT,
        till.world.scheme.pk,
        lambda: refund(till, payment, 1, NOON + dt.timedelta(hours=3)),
    )
    assert error.detail == {"refundable": 0.0}
    assert_ledger_ok(till.world.scheme.pk)


def test_partial_refunds_add_up_to_the_payment_and_never_beyond(till: Till) -> None:
    payment = pay(till, 3_650, NOON)
    scheme = till.world.scheme.pk
    # One refund larger than the payment
    error = refused(
        ErrorCode.REFUND_EXCEEDS_PAYMENT, scheme, lambda: refund(till, payment, 3_651, NOON)
    )
    assert error.detail == {"refundable": 36.5}
    # 10.00 + 15.00 = 25.00 refunded, 11.50 left
    refund(till, payment, 1_000, NOON + dt.timedelta(minutes=1))
    refund(till, payment, 1_500, NOON + dt.timedelta(days=1))
    error = refused(
        ErrorCode.REFUND_EXCEEDS_PAYMENT,
        scheme,
        lambda: refund(till, payment, 1_151, NOON + dt.timedelta(days=2)),
    )
    assert error.detail == {"refundable": 11.5}
    # Exactly what is left is fine; then nothing more
    refund(till, payment, 1_150, NOON + dt.timedelta(days=2))
    refused(
        ErrorCode.REFUND_EXCEEDS_PAYMENT,
        scheme,
        lambda: refund(till, payment, 1, NOON + dt.timedelta(days=2)),
    )
    assert sorted(Refund.objects.values_list("points", flat=True)) == [1_000, 1_150, 1_500]
    assert Payment.objects.get(pk=payment.pk).refunded == 3_650
    assert balance(till.household) == 100_000
    assert payable(till.merchant) == 0
    assert_ledger_ok(scheme)


def test_a_refund_after_the_schemes_window_is_refused(till: Till) -> None:
    payment = pay(till, 3_650, NOON)
    scheme = till.world.scheme.pk
    # The default window is 7 days: its last moment is fine, a moment later is not
    refund(till, payment, 1_000, NOON + dt.timedelta(days=7))
    error = refused(
        ErrorCode.REFUND_WINDOW_CLOSED,
        scheme,
        lambda: refund(till, payment, 1_000, NOON + dt.timedelta(days=7, microseconds=1)),
    )
    assert "7" in error.message
    # A scheme with a 2-day window
    Scheme.objects.filter(pk=scheme).update(refund_days=2)
    second = Payment.objects.select_related("merchant__scheme", "household").get(
        pk=pay(till, 2_000, NOON).pk
    )
    refused(
        ErrorCode.REFUND_WINDOW_CLOSED,
        scheme,
        lambda: refund(till, second, 500, NOON + dt.timedelta(days=2, seconds=1)),
    )
    assert balance(till.household) == 100_000 - 3_650 + 1_000 - 2_000


def test_a_repeated_refund_key_returns_the_first_refund(till: Till) -> None:
    payment = pay(till, 3_650, NOON)
    first = refund(till, payment, 1_000, NOON, idempotency_key="rf-1")
    again = refund(till, payment, 1_000, NOON, idempotency_key="rf-1")
    assert again.pk == first.pk
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        till.world.scheme.pk,
        lambda: refund(till, payment, 1_001, NOON, idempotency_key="rf-1"),
    )
    assert Payment.objects.get(pk=payment.pk).refunded == 1_000
    assert balance(till.household) == 100_000 - 2_650


def test_refund_amounts_and_cashiers_are_checked(till: Till) -> None:
    payment = pay(till, 3_650, NOON)
    scheme = till.world.scheme.pk
    for points in (0, -1_000, 10.5):
        refused(
            ErrorCode.INVALID_INPUT,
            scheme,
            lambda p=points: refund(till, payment, p, NOON),  # type: ignore[arg-type]
        )
    stranger = actor_for_user(
        make_staff("cashier-2", Role.MERCHANT_CLERK, till.world.township_a, till.world.scheme)
    )
    refused(
        ErrorCode.PERMISSION_DENIED,
        scheme,
        lambda: refund_create(actor=stranger, payment=payment, points=100, at=NOON),
    )


def test_the_database_refuses_refunds_beyond_the_payment_around_the_orm(till: Till) -> None:
    payment = pay(till, 3_650, NOON)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded=F("points") + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded=-1)
    assert Payment.objects.get(pk=payment.pk).refunded == 0
