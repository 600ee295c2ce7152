"""The ledger against a plain Python model, driven by random sequences of operations.

Awards, redemptions, reversals and holds (captured in full or in part, released, or settled
twice) run in random order; after every step the household balances, the held amounts, the
row counts and ``verify()`` must agree with the model, and every refusal must change nothing.
Each example builds a fresh world inside a savepoint that is rolled back at teardown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import (
    Account,
    AccountKind,
    Entry,
    Hold,
    HoldStatus,
    Posting,
    PostingKind,
)
from civicpoints.ledger.services import (
    Leg,
    capture,
    hold,
    household_account,
    post,
    release,
    reverse,
    system_account,
)
from civicpoints.ledger.verify import verify
from tests.factories import build_world, make_household
from tests.ledger.helpers import ledger_snapshot

HOUSEHOLDS = 3
household_index = st.integers(min_value=0, max_value=HOUSEHOLDS - 1)


@dataclass
class ModelPosting:
    pk: int
    household_deltas: dict[int, int]
    store_delta: int
    is_reversal: bool = False
    reversed: bool = False


@dataclass
class ModelHold:
    obj: Hold
    household: int
    amount: int
    status: str = HoldStatus.ACTIVE


@dataclass
class Model:
    balance: list[int] = field(default_factory=lambda: [0] * HOUSEHOLDS)
    held: list[int] = field(default_factory=lambda: [0] * HOUSEHOLDS)
    store: int = 0
    postings: list[ModelPosting] = field(default_factory=list)
    holds: list[ModelHold] = field(default_factory=list)

    def available(self, h: int) -> int:
        return self.balance[h] - self.held[h]

    def apply(self, posting: ModelPosting) -> None:
        for h, delta in posting.household_deltas.items():
            self.balance[h] += delta
        self.store += posting.store_delta
        self.postings.append(posting)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()
        world = build_world()
        self.scheme_id = world.scheme.pk
        villages = [world.village_a1, world.village_a1, world.village_b1]
        self.accounts: list[Account] = [
            household_account(household=make_household(world.scheme, v)) for v in villages
        ]
        self.issuance = system_account(scheme_id=self.scheme_id, kind=AccountKind.ISSUANCE)
        self.store = system_account(
            scheme_id=self.scheme_id, kind=AccountKind.STORE, owner_ref="store:1"
        )
        self.model = Model()

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    def refused(self, code: ErrorCode, call, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        """Given the model says no, when the ledger is asked, then it says no and changes nothing."""
        before = ledger_snapshot(self.scheme_id)
        with pytest.raises(ApplicationError) as err:
            call(*args, **kwargs)
        assert err.value.code == code
        assert ledger_snapshot(self.scheme_id) == before

    # -- rules ---------------------------------------------------------------------------------

    @rule(h=household_index, amount=st.integers(min_value=1, max_value=50_000))
    def award(self, h: int, amount: int) -> None:
        posting = post(
            scheme_id=self.scheme_id,
            kind=PostingKind.AWARD,
            legs=[Leg(self.issuance, -amount), Leg(self.accounts[h], amount)],
        )
        self.model.apply(ModelPosting(posting.pk, {h: amount}, 0))

    def draw_amount(self, data: st.DataObject, h: int) -> int:
        """Up to a little more than the household has available: some fit, some do not."""
        return data.draw(st.integers(1, self.model.available(h) + 1_000), label="amount")

    @rule(h=household_index, data=st.data())
    def redeem(self, h: int, data: st.DataObject) -> None:
        amount = self.draw_amount(data, h)
        legs = [Leg(self.accounts[h], -amount), Leg(self.store, amount)]
        if amount > self.model.available(h):
            self.refused(
                ErrorCode.INSUFFICIENT_POINTS,
                post,
                scheme_id=self.scheme_id,
                kind=PostingKind.REDEMPTION,
                legs=legs,
            )
            return
        posting = post(scheme_id=self.scheme_id, kind=PostingKind.REDEMPTION, legs=legs)
        self.model.apply(ModelPosting(posting.pk, {h: -amount}, amount))

    @precondition(lambda self: self.model.postings)
    @rule(data=st.data())
    def reverse_earlier(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.model.postings), label="posting")
        original = Posting.objects.get(pk=target.pk)
        if target.is_reversal or target.reversed:
            self.refused(ErrorCode.ALREADY_REVERSED, reverse, posting=original)
            return
        undo = {h: -delta for h, delta in target.household_deltas.items()}
        if any(self.model.available(h) + delta < 0 for h, delta in undo.items()):
            self.refused(ErrorCode.INSUFFICIENT_POINTS, reverse, posting=original)
            return
        reversal = reverse(posting=original)
        assert reversal.reverses_id == target.pk
        target.reversed = True
        self.model.apply(ModelPosting(reversal.pk, undo, -target.store_delta, is_reversal=True))

    @rule(h=household_index, data=st.data())
    def hold_points(self, h: int, data: st.DataObject) -> None:
        amount = self.draw_amount(data, h)
        if amount > self.model.available(h):
            self.refused(
                ErrorCode.INSUFFICIENT_POINTS, hold, account=self.accounts[h], amount=amount
            )
            return
        obj = hold(account=self.accounts[h], amount=amount)
        self.model.held[h] += amount
        self.model.holds.append(ModelHold(obj, h, amount))

    def active_holds(self) -> list[ModelHold]:
        return [x for x in self.model.holds if x.status == HoldStatus.ACTIVE]

    def closed_holds(self) -> list[ModelHold]:
        return [x for x in self.model.holds if x.status != HoldStatus.ACTIVE]

    @precondition(lambda self: self.active_holds())
    @rule(data=st.data(), full=st.booleans())
    def capture_hold(self, data: st.DataObject, full: bool) -> None:
        target = data.draw(st.sampled_from(self.active_holds()), label="hold")
        amount = target.amount if full else data.draw(st.integers(1, target.amount), label="part")
        posting = capture(hold_obj=target.obj, to_account=self.store, amount=amount)
        # The whole hold leaves ``held``; only the captured part leaves the balance.
        self.model.held[target.household] -= target.amount
        target.status = HoldStatus.CAPTURED
        self.model.apply(ModelPosting(posting.pk, {target.household: -amount}, amount))
        row = Hold.objects.get(pk=target.obj.pk)
        assert (row.status, row.capture_posting_id) == (HoldStatus.CAPTURED, posting.pk)

    @precondition(lambda self: self.active_holds())
    @rule(data=st.data())
    def release_hold(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.active_holds()), label="hold")
        release(hold_obj=target.obj)
        self.model.held[target.household] -= target.amount
        target.status = HoldStatus.RELEASED

    @precondition(lambda self: self.closed_holds())
    @rule(data=st.data(), again=st.sampled_from(["capture", "release"]))
    def settle_closed_hold(self, data: st.DataObject, again: str) -> None:
        target = data.draw(st.sampled_from(self.closed_holds()), label="hold")
        if again == "capture":
            self.refused(
                ErrorCode.HOLD_NOT_ACTIVE, capture, hold_obj=target.obj, to_account=self.store
            )
        else:
            self.refused(ErrorCode.HOLD_NOT_ACTIVE, release, hold_obj=target.obj)

    # -- after every step ----------------------------------------------------------------------

    @invariant()
    def ledger_matches_model(self) -> None:
        rows = {
            pk: (balance, held)
            for pk, balance, held in Account.objects.filter(
                pk__in=[a.pk for a in self.accounts]
            ).values_list("pk", "balance", "held")
        }
        per_account = {
            account: (total, legs)
            for account, total, legs in Entry.objects.filter(scheme_id=self.scheme_id)
            .values("account")
            .annotate(total=Sum("amount"), legs=Count("pk"))
            .values_list("account", "total", "legs")
        }
        model = self.model
        assert [rows[a.pk] for a in self.accounts] == list(
            zip(model.balance, model.held, strict=True)
        )
        assert [per_account.get(a.pk, (0, 0))[0] for a in self.accounts] == model.balance
        assert per_account.get(self.store.pk, (0, 0))[0] == model.store
        assert sum(legs for _, legs in per_account.values()) == 2 * len(model.postings)
        assert sorted(
            Posting.objects.filter(scheme_id=self.scheme_id).values_list("pk", flat=True)
        ) == sorted(p.pk for p in model.postings)
        holds = Hold.objects.filter(scheme_id=self.scheme_id).values_list("pk", "status")
        assert sorted(holds) == sorted((x.obj.pk, x.status) for x in model.holds)
        chain_follow(scheme_id=self.scheme_id)
        report = verify(scheme_id=self.scheme_id)
        assert report.ok, report.as_dict()
        assert (report.lag, report.head_seq) == (0, len(model.postings))


def test_ledger_agrees_with_model(db: None) -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
