"""Races against real databases: threads, each with its own connection, released together.

Debits racing for one balance, one Idempotency-Key sent fifty times at once, two reversals of
one posting (with and without one key), one hold sent twice, two journal followers. Data is
committed (``transaction=True``), so each thread sees what a second server process would see.
Hooks (Saleor-style) hold a call between its pre-check and its write to force the worst case.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, transaction
from django.test import Client

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger import chain
from civicpoints.ledger.adjustments import adjustment_request
from civicpoints.ledger.chain import GENESIS, chain_follow
from civicpoints.ledger.models import (
    AccountKind,
    ChainLink,
    Entry,
    Hold,
    IdempotencyRecord,
    Posting,
    PostingKind,
)
from civicpoints.ledger.selectors import account_total, household_balance
from civicpoints.ledger.services import (
    Leg,
    hold,
    household_account,
    post,
    reverse,
    system_account,
)
from civicpoints.ledger.services import holds as ledger_holds
from civicpoints.ledger.services import posting as ledger_posting
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import api_client, fund, make_household, make_staff
from tests.ledger.helpers import Outcome, assert_ledger_ok, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

# B = 1000.00 points; each debit 37.00 points: floor(B / p) = 27 fit, 100 hundredths remain.
BALANCE = 100_000
PRICE = 3_700
FITS = BALANCE // PRICE


def codes(outcomes: list[Outcome]) -> list[str]:
    """Each outcome as "ok" or its ApplicationError code; any other exception fails the test."""
    result = []
    for outcome in outcomes:
        if outcome.error is None:
            result.append("ok")
        elif isinstance(outcome.error, ApplicationError):
            result.append(str(outcome.error.code))
        else:
            raise outcome.error
    return result


def test_concurrent_debits_never_overdraw(world):
    # Given a household with 1000.00 points
    household = make_household(world.scheme, world.village_a1)
    fund(household, BALANCE)
    account = household_account(household=household)
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")

    # When 50 redemptions of 37.00 points race for it
    def debit(_i: int) -> int:
        return post(
            scheme_id=world.scheme.pk,
            kind=PostingKind.REDEMPTION,
            legs=[Leg(account, -PRICE), Leg(store, PRICE)],
        ).pk

    outcomes = run_in_threads(50, debit)

    # Then exactly floor(B/p) go through and the rest are refused for insufficient points
    result = codes(outcomes)
    assert result.count("ok") == FITS == 27
    assert result.count(ErrorCode.INSUFFICIENT_POINTS) == 50 - FITS
    balance = household_balance(household_id=household.pk)
    assert (balance.balance, balance.held) == (BALANCE - FITS * PRICE, 0) == (100, 0)
    assert account_total(account_id=account.pk) == 100
    assert account_total(account_id=store.pk) == FITS * PRICE
    assert Posting.objects.filter(kind=PostingKind.REDEMPTION).count() == FITS
    assert_ledger_ok(world.scheme.pk)


def test_one_idempotency_key_sent_fifty_times_moves_points_once(world):
    # Given an adjustment filed by one county admin, a second admin's token, and a household
    # with 10.00 points
    filer = make_staff("county-filer", Role.COUNTY_ADMIN, world.county, world.scheme)
    admin = make_staff("county-admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    token = api_client(admin).defaults["HTTP_AUTHORIZATION"]
    household = make_household(world.scheme, world.village_a1)
    fund(household, 1_000)
    filed = adjustment_request(
        actor=actor_for_user(filer), household=household, amount=1_250, reason="补录志愿服务积分"
    )
    key = f"race-{uuid.uuid4()}"

    # When the second admin's approval with one Idempotency-Key arrives 50 times at once
    def send(_i: int):  # type: ignore[no-untyped-def]
        return Client(HTTP_AUTHORIZATION=token).post(
            f"/api/v1/ledger/approvals/{filed.pk}/approve",
            {},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    outcomes = run_in_threads(50, send)

    # Then one request made the posting; every other one replayed it or was told to wait
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
    responses = [o.value for o in outcomes]
    originals = [
        r for r in responses if r.status_code == 200 and not r.has_header("Idempotency-Replayed")
    ]
    replays = [
        r for r in responses if r.status_code == 200 and r.has_header("Idempotency-Replayed")
    ]
    waits = [r for r in responses if r.status_code == 409]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(waits) == 50
    assert {r["Idempotency-Replayed"] for r in replays} <= {"true"}
    assert {r.json()["error"]["code"] for r in waits} <= {"idempotency_in_flight"}
    first = originals[0].json()
    assert (first["household"], first["points"], first["balance_after"]) == (
        household.pk,
        12.5,
        22.5,
    )
    assert all(r.json() == first for r in replays)
    adjustments = Posting.objects.filter(kind=PostingKind.ADJUSTMENT)
    assert list(adjustments.values_list("pk", flat=True)) == [first["posting"]]
    assert Entry.objects.filter(posting__kind=PostingKind.ADJUSTMENT).count() == 2
    assert household_balance(household_id=household.pk).balance == 2_250
    assert IdempotencyRecord.objects.filter(key=key).count() == 1

    # And a retry after the dust settles gets the same answer, marked as a replay
    again = send(0)
    assert (again.status_code, again["Idempotency-Replayed"], again.json()) == (200, "true", first)
    assert household_balance(household_id=household.pk).balance == 2_250
    assert_ledger_ok(world.scheme.pk)


@pytest.fixture
def both_past_the_precheck(monkeypatch):  # type: ignore[no-untyped-def]
    """Hold two reversals after their "already reversed?" pre-check until both have passed it."""
    both_checked = threading.Barrier(2)
    real_post = ledger_posting.post

    def post_after_both_checked(**kwargs):  # type: ignore[no-untyped-def]
        both_checked.wait(timeout=30)
        return real_post(**kwargs)

    monkeypatch.setattr(ledger_posting, "post", post_after_both_checked)


def test_two_reversals_of_one_posting_only_one_wins(world, postgres_only, both_past_the_precheck):
    # Given an award (and both reversals let past the pre-check)
    household = make_household(world.scheme, world.village_a1)
    award = fund(household, 5_000)

    # When two clerks reverse it at the same moment
    outcomes = run_in_threads(2, lambda _i: reverse(posting=award).pk)

    # Then the database lets one through and the other is told it is already reversed
    assert sorted(codes(outcomes)) == sorted(["ok", ErrorCode.ALREADY_REVERSED])
    winner = next(o.value for o in outcomes if o.error is None)
    assert list(Posting.objects.filter(reverses=award).values_list("pk", flat=True)) == [winner]
    assert household_balance(household_id=household.pk).balance == 0
    assert Posting.objects.count() == 2
    assert_ledger_ok(world.scheme.pk)


def test_a_reversal_sent_twice_with_one_key_is_one_reversal(
    world, postgres_only, both_past_the_precheck
):
    # Given an award, and one reversal request (one key) sent twice at once
    household = make_household(world.scheme, world.village_a1)
    award = fund(household, 5_000)

    def send(_i: int) -> int:
        return reverse(posting=award, idempotency_key="refund-7", request_hash="r7").pk

    outcomes = run_in_threads(2, send)

    # Then both get the same reversal
    assert codes(outcomes) == ["ok", "ok"]
    assert outcomes[0].value == outcomes[1].value
    reversal = Posting.objects.get(reverses=award)
    assert reversal.pk == outcomes[0].value

    # And a later retry of that request gets it again (not "already reversed")
    assert send(0) == reversal.pk
    with pytest.raises(ApplicationError) as err:
        reverse(posting=award, idempotency_key="refund-7", request_hash="other")
    assert err.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert household_balance(household_id=household.pk).balance == 0
    assert Posting.objects.count() == 2
    assert_ledger_ok(world.scheme.pk)


def test_a_hold_sent_twice_with_one_key_is_one_hold(world, postgres_only, monkeypatch):
    # Given 100.00 points, and a hook that lets two holds (one app order, one key) pass the
    # "seen this key?" pre-check before either starts its transaction
    household = make_household(world.scheme, world.village_a1)
    fund(household, 10_000)
    account = household_account(household=household)
    both_checked = threading.Barrier(2)
    real_atomic = transaction.atomic

    class AtomicAfterBothChecked:
        def atomic(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            both_checked.wait(timeout=30)
            return real_atomic(*args, **kwargs)

    monkeypatch.setattr(ledger_holds, "transaction", AtomicAfterBothChecked())

    # When the order's hold of 60.00 arrives twice at once
    outcomes = run_in_threads(
        2, lambda _i: hold(account=account, amount=6_000, idempotency_key="order-9").pk
    )

    # Then both get the same hold, and only 60.00 is held
    assert codes(outcomes) == ["ok", "ok"]
    assert outcomes[0].value == outcomes[1].value == Hold.objects.get().pk
    balance = household_balance(household_id=household.pk)
    assert (balance.balance, balance.held) == (10_000, 6_000)
    assert_ledger_ok(world.scheme.pk)


def _postings(world, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    households = [make_household(world.scheme, world.village_a1) for _ in range(3)]
    return [fund(households[i % 3], 100 + i).pk for i in range(n)]


def _assert_chain_covers(scheme_id: int, posting_ids: list[int]) -> None:
    links = list(
        ChainLink.objects.filter(scheme_id=scheme_id)
        .order_by("seq")
        .values_list("seq", "posting_id", "prev_hash", "hash")
    )
    assert [seq for seq, *_ in links] == list(range(1, len(posting_ids) + 1))
    assert sorted(pid for _, pid, _, _ in links) == sorted(posting_ids)
    assert [prev for _, _, prev, _ in links] == [GENESIS] + [h for *_, h in links[:-1]]


def test_two_followers_chain_each_posting_once(world):
    # Given 120 committed postings not yet chained
    posting_ids = _postings(world, 120)

    # When two journal followers run at once, in small batches so they interleave
    outcomes = run_in_threads(2, lambda _i: chain_follow(scheme_id=world.scheme.pk, batch=7))

    # Then together they chained each posting exactly once, gapless from seq 1
    added = [o.value for o in outcomes if o.error is None]
    assert [o.error for o in outcomes] == [None, None]
    assert sum(added) == 120
    _assert_chain_covers(world.scheme.pk, posting_ids)
    assert_ledger_ok(world.scheme.pk)


def test_a_follower_steps_aside_while_another_holds_the_scheme(world, postgres_only, monkeypatch):
    # Given 10 postings, and a first follower paused in the middle of its batch
    posting_ids = _postings(world, 10)
    inside, go_on = threading.Event(), threading.Event()
    real_link_hash = chain.link_hash

    def slow_link_hash(*args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "first-follower" and not inside.is_set():
            inside.set()
            assert go_on.wait(timeout=30)
        return real_link_hash(*args, **kwargs)

    monkeypatch.setattr(chain, "link_hash", slow_link_hash)
    result: dict[str, object] = {}

    def first() -> None:
        try:
            result["first"] = chain_follow(scheme_id=world.scheme.pk)
        except BaseException as exc:
            result["first"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=first, name="first-follower")
    thread.start()
    assert inside.wait(timeout=30)

    # When a second follower runs meanwhile
    try:
        second = chain_follow(scheme_id=world.scheme.pk)
    finally:
        go_on.set()
        thread.join(30)

    # Then it adds nothing (the scheme is locked), and the first chains everything once
    assert (second, result["first"]) == (0, 10)
    _assert_chain_covers(world.scheme.pk, posting_ids)
    assert_ledger_ok(world.scheme.pk)


def test_a_posting_that_commits_after_later_ones_were_chained_is_never_lost(
    world, postgres_only, monkeypatch
):
    """A slow transaction takes its posting id, then later postings commit and are chained.
    Its posting commits after: within the follower's window below the head it is chained
    on the next run; further below, the sweep (hourly, and before a period closes or a
    verify) chains it. The chain stays whole either way."""
    household = make_household(world.scheme, world.village_a1)
    fund(household, 1_000)
    chain_follow(scheme_id=world.scheme.pk)
    monkeypatch.setattr(chain, "STRAGGLER_WINDOW", 2)
    written, release = threading.Event(), threading.Event()
    slow: dict[str, int] = {}

    def slow_posting() -> None:
        try:
            with transaction.atomic():
                slow["id"] = fund(household, 100, memo="慢事务").pk
                written.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_posting)
    thread.start()
    assert written.wait(30)
    other = make_household(world.scheme, world.village_a2)
    later = [fund(other, 200 + n).pk for n in range(5)]  # commit before the slow one
    assert chain_follow(scheme_id=world.scheme.pk) == 5
    release.set()
    thread.join(30)
    assert slow["id"] < min(later)

    # Five ids above it were chained: out of the window, the everyday run does not see it ...
    assert chain_follow(scheme_id=world.scheme.pk) == 0
    assert not ChainLink.objects.filter(posting_id=slow["id"]).exists()
    # ... the sweep does, and appends it to the chain like any other
    assert chain_follow(scheme_id=world.scheme.pk, sweep=True) == 1
    link = ChainLink.objects.get(posting_id=slow["id"])
    assert link.seq == ChainLink.objects.filter(scheme=world.scheme).count()
    assert_ledger_ok(world.scheme.pk)

    # Within the window the everyday run takes it
    monkeypatch.setattr(chain, "STRAGGLER_WINDOW", 20_000)
    written.clear()
    release.clear()
    thread = threading.Thread(target=slow_posting)
    thread.start()
    assert written.wait(30)
    fund(other, 300)
    assert chain_follow(scheme_id=world.scheme.pk) == 1
    release.set()
    thread.join(30)
    assert chain_follow(scheme_id=world.scheme.pk) == 1
    assert ChainLink.objects.filter(posting_id=slow["id"]).exists()
    assert_ledger_ok(world.scheme.pk)
