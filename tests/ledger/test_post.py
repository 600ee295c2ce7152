"""post(), reverse(), holds: worked examples with exact numbers and invariants at the end."""

from __future__ import annotations

import pytest

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import AccountKind, Entry, Posting, PostingKind
from civicpoints.ledger.selectors import account_total, household_balance
from civicpoints.ledger.services import (
    Award,
    Leg,
    capture,
    hold,
    household_account,
    post,
    post_awards,
    release,
    reverse,
    system_account,
)
from tests.factories import fund, make_household
from tests.ledger.helpers import assert_ledger_ok


def test_award_then_redeem(world):
    h = make_household(world.scheme, world.village_a1)
    fund(h, 1270000)
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="store:1")
    post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.REDEMPTION,
        legs=[Leg(household_account(household=h), -240000), Leg(store, 240000)],
    )
    assert household_balance(household_id=h.pk).balance == 1030000
    assert account_total(account_id=store.pk) == 240000
    assert_ledger_ok(world.scheme.pk)


def test_overdraft_refused_and_nothing_changes(world):
    h = make_household(world.scheme, world.village_a1)
    fund(h, 1000)
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s")
    before = (Posting.objects.count(), Entry.objects.count())
    with pytest.raises(ApplicationError) as err:
        post(
            scheme_id=world.scheme.pk,
            kind=PostingKind.REDEMPTION,
            legs=[Leg(household_account(household=h), -1001), Leg(store, 1001)],
        )
    assert err.value.code == ErrorCode.INSUFFICIENT_POINTS
    assert (Posting.objects.count(), Entry.objects.count()) == before
    assert household_balance(household_id=h.pk).balance == 1000
    assert_ledger_ok(world.scheme.pk)


def test_unbalanced_refused(world):
    h = make_household(world.scheme, world.village_a1)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    with pytest.raises(ApplicationError) as err:
        post(
            scheme_id=world.scheme.pk,
            kind=PostingKind.AWARD,
            legs=[Leg(issuance, -100), Leg(household_account(household=h), 99)],
        )
    assert err.value.code == ErrorCode.UNBALANCED_POSTING
    assert Posting.objects.count() == 0


def test_reverse_once(world):
    h = make_household(world.scheme, world.village_a1)
    award = fund(h, 5000)
    reversal = reverse(posting=award)
    assert reversal.reverses_id == award.pk
    assert household_balance(household_id=h.pk).balance == 0
    with pytest.raises(ApplicationError) as err:
        reverse(posting=award)
    assert err.value.code == ErrorCode.ALREADY_REVERSED
    assert_ledger_ok(world.scheme.pk)


def test_hold_capture_release(world):
    h = make_household(world.scheme, world.village_a1)
    fund(h, 10000)
    account = household_account(household=h)
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s")
    first = hold(account=account, amount=6000)
    assert household_balance(household_id=h.pk).available == 4000
    with pytest.raises(ApplicationError) as err:
        hold(account=account, amount=4001)
    assert err.value.code == ErrorCode.INSUFFICIENT_POINTS
    capture(hold_obj=first, to_account=store)
    b = household_balance(household_id=h.pk)
    assert (b.balance, b.held) == (4000, 0)
    second = hold(account=account, amount=4000)
    release(hold_obj=second)
    with pytest.raises(ApplicationError) as err:
        release(hold_obj=second)
    assert err.value.code == ErrorCode.HOLD_NOT_ACTIVE
    b = household_balance(household_id=h.pk)
    assert (b.balance, b.held) == (4000, 0)
    assert_ledger_ok(world.scheme.pk)


def test_idempotent_post_returns_first(world):
    h = make_household(world.scheme, world.village_a1)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    legs = [Leg(issuance, -700), Leg(household_account(household=h), 700)]
    one = post(
        scheme_id=world.scheme.pk, kind="award", legs=legs, idempotency_key="k", request_hash="a"
    )
    two = post(
        scheme_id=world.scheme.pk, kind="award", legs=legs, idempotency_key="k", request_hash="a"
    )
    assert one.pk == two.pk
    assert household_balance(household_id=h.pk).balance == 700
    with pytest.raises(ApplicationError) as err:
        post(
            scheme_id=world.scheme.pk,
            kind="award",
            legs=legs,
            idempotency_key="k",
            request_hash="b",
        )
    assert err.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED


def test_hold_key_reused_for_another_amount_is_refused(world):
    h = make_household(world.scheme, world.village_a1)
    fund(h, 10000)
    account = household_account(household=h)
    first = hold(account=account, amount=100, idempotency_key="order-1")
    assert hold(account=account, amount=100, idempotency_key="order-1").pk == first.pk
    with pytest.raises(ApplicationError) as err:
        hold(account=account, amount=900, idempotency_key="order-1")
    assert err.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert household_balance(household_id=h.pk).held == 100


def test_post_awards_in_one_batch(world):
    a = make_household(world.scheme, world.village_a1)
    b = make_household(world.scheme, world.village_a1)
    fund(a, 100)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    awards = [
        Award(account=household_account(household=a), amount=500, idempotency_key="c:1"),
        Award(account=household_account(household=b), amount=700, idempotency_key="c:2"),
        Award(account=household_account(household=a), amount=250, idempotency_key="c:3"),
    ]
    posted = post_awards(scheme_id=world.scheme.pk, issuance=issuance, awards=awards)
    assert sorted(posted) == ["c:1", "c:2", "c:3"]
    assert household_balance(household_id=a.pk).balance == 850
    assert household_balance(household_id=b.pk).balance == 700
    # each household leg carries the balance right after it, in order
    after = list(
        Entry.objects.filter(account__household=a, posting_id__in=posted.values())
        .order_by("posting_id")
        .values_list("balance_after", flat=True)
    )
    assert after == [600, 850]
    # a re-run posts nothing again and names the same postings
    again = post_awards(scheme_id=world.scheme.pk, issuance=issuance, awards=awards)
    assert again == posted
    assert household_balance(household_id=a.pk).balance == 850
    assert_ledger_ok(world.scheme.pk)
    # a household of another scheme is refused
    other = make_household(world.other_scheme, world.other_village)
    with pytest.raises(ApplicationError):
        post_awards(
            scheme_id=world.scheme.pk,
            issuance=issuance,
            awards=[
                Award(account=household_account(household=other), amount=1, idempotency_key="x")
            ],
        )


def test_post_awards_refuses_a_key_reused_for_another_request(world):
    h = make_household(world.scheme, world.village_a1)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    account = household_account(household=h)
    first = Award(account=account, amount=500, idempotency_key="k", request_hash="a")
    post_awards(scheme_id=world.scheme.pk, issuance=issuance, awards=[first])
    with pytest.raises(ApplicationError) as err:
        post_awards(
            scheme_id=world.scheme.pk,
            issuance=issuance,
            awards=[Award(account=account, amount=900, idempotency_key="k", request_hash="b")],
        )
    assert err.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert household_balance(household_id=h.pk).balance == 500
