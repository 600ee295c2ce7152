"""Four eyes in the ledger services: a request is posted once, by someone other than the
requester, under a lock on the request row; a refused posting leaves it pending with the reason.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import transaction

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger import adjustments
from civicpoints.ledger.adjustments import (
    adjustment_request,
    approval_approve,
    approval_reject,
    reversal_request,
    reversal_threshold,
)
from civicpoints.ledger.idempotency import idempotency_begin
from civicpoints.ledger.models import (
    DEFAULT_REVERSAL_THRESHOLD,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStatus,
    IdempotencyRecord,
    IdempotencyState,
    Posting,
    PostingKind,
)
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok, ledger_snapshot, run_in_threads


def county_admin(world, name):
    return actor_for_user(make_staff(name, Role.COUNTY_ADMIN, world.county, world.scheme))


def refused(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        call()
    return err.value


@pytest.fixture
def two(world):
    return county_admin(world, "xian-a"), county_admin(world, "xian-b")


def test_approving_twice_posts_once_and_audits_once(world, two):
    a, b = two
    h = make_household(world.scheme, world.village_a1)
    filed = adjustment_request(actor=a, household=h, amount=500, reason="补录")

    one = approval_approve(actor=b, approval_id=filed.pk)
    again = approval_approve(actor=b, approval_id=filed.pk)

    assert one.posting_id == again.posting_id is not None
    assert Posting.objects.filter(kind=PostingKind.ADJUSTMENT).count() == 1
    assert AuditEvent.objects.filter(action="adjustment.approve").count() == 1
    assert household_balance(household_id=h.pk).balance == 500
    assert_ledger_ok(world.scheme.pk)


def test_requester_may_not_approve_even_with_a_second_grant(world, two):
    a, _b = two
    # The requester also holds a grant elsewhere: still the same person
    make_staff("dummy", Role.AUDITOR, world.county, world.scheme)
    h = make_household(world.scheme, world.village_a1)
    filed = adjustment_request(actor=a, household=h, amount=500, reason="补录")
    before = ledger_snapshot(world.scheme.pk)

    error = refused(lambda: approval_approve(actor=a, approval_id=filed.pk))

    assert error.code == ErrorCode.SELF_APPROVAL and error.status == 403
    assert ledger_snapshot(world.scheme.pk) == before
    filed.refresh_from_db()
    assert (filed.status, filed.decided_by_id) == (ApprovalStatus.PENDING, None)


@pytest.mark.django_db(transaction=True)  # the page's call runs outside any transaction
def test_a_refused_posting_keeps_the_request_pending_with_the_reason(world, two):
    a, b = two
    h = make_household(world.scheme, world.village_a1)
    fund(h, 1000)
    filed = adjustment_request(actor=a, household=h, amount=-1001, reason="扣回")
    before = ledger_snapshot(world.scheme.pk)

    # Outside a transaction (a page): the reason is written at once
    error = refused(lambda: approval_approve(actor=b, approval_id=filed.pk))
    filed.refresh_from_db()
    assert error.code == ErrorCode.INSUFFICIENT_POINTS
    assert (filed.status, filed.posting_id, filed.last_error) == (
        ApprovalStatus.PENDING,
        None,
        error.message,
    )
    assert ledger_snapshot(world.scheme.pk) == before

    # A keyed call (the API hands a slot over): the reason and the stored refusal are written
    # together, after the posting's transaction rolled back
    ApprovalRequest.objects.filter(pk=filed.pk).update(last_error="")
    slot = idempotency_begin(scope="test", key="k-1", request_hash="h")
    keyed = refused(lambda: approval_approve(actor=b, approval_id=filed.pk, slot=slot))
    filed.refresh_from_db()
    assert (filed.status, filed.last_error) == (ApprovalStatus.PENDING, error.message)
    assert ledger_snapshot(world.scheme.pk) == before
    stored = IdempotencyRecord.objects.get(scope="test", key="k-1")
    assert (stored.state, stored.response_status, stored.response_body) == (
        IdempotencyState.FAILED,
        409,
        keyed.as_json(),
    )


def test_a_rejected_request_cannot_be_approved(world, two):
    a, b = two
    h = make_household(world.scheme, world.village_a1)
    filed = adjustment_request(actor=a, household=h, amount=500, reason="补录")
    approval_reject(actor=b, approval_id=filed.pk, note="没有依据")

    error = refused(lambda: approval_approve(actor=b, approval_id=filed.pk))

    assert error.code == ErrorCode.INVALID_TRANSITION
    assert not Posting.objects.filter(kind=PostingKind.ADJUSTMENT).exists()


def test_the_threshold_is_per_scheme_with_a_default(world, two):
    a, _b = two
    assert reversal_threshold(scheme_id=world.scheme.pk) == DEFAULT_REVERSAL_THRESHOLD == 50000
    ApprovalPolicy.objects.create(scheme=world.scheme, reversal_threshold=0)
    h = make_household(world.scheme, world.village_a1)
    award = fund(h, 1)  # 0.01 points

    filed = reversal_request(actor=a, posting=award, reason="发错户")

    # A threshold of 0 puts every reversal in front of a second admin
    assert (filed.status, filed.needs_second) == (ApprovalStatus.PENDING, True)
    assert reversal_threshold(scheme_id=world.other_scheme.pk) == 50000


@pytest.mark.django_db(transaction=True)
def test_two_admins_approving_at_once_give_one_posting(world, two, monkeypatch):
    # Given a request, and a hook that holds each approval just before it posts until the other
    # has got there too (it cannot while the first holds the request's row lock: it waits 2 s)
    a, b = two
    c = county_admin(world, "xian-c")
    h = make_household(world.scheme, world.village_a1)
    filed = adjustment_request(actor=a, household=h, amount=700, reason="补录")
    both_there = threading.Barrier(2)
    real_post = adjustments._post

    def post_when_both_there(row, actor, audit):  # type: ignore[no-untyped-def]
        with contextlib.suppress(threading.BrokenBarrierError):
            both_there.wait(timeout=2)
        return real_post(row, actor, audit)

    monkeypatch.setattr(adjustments, "_post", post_when_both_there)

    # When two other county admins approve it at the same moment
    approvers = [b, c]
    outcomes = run_in_threads(
        2, lambda i: approval_approve(actor=approvers[i], approval_id=filed.pk).posting_id
    )

    # Then both see it approved, with one posting, one audit row and 7 points
    assert [o.error for o in outcomes] == [None, None]
    assert outcomes[0].value == outcomes[1].value is not None
    assert Posting.objects.filter(kind=PostingKind.ADJUSTMENT).count() == 1
    assert AuditEvent.objects.filter(action="adjustment.approve").count() == 1
    assert household_balance(household_id=h.pk).balance == 700
    assert_ledger_ok(world.scheme.pk)


@pytest.mark.django_db(transaction=True)
def test_the_same_request_filed_twice_at_once_is_one_request(world, two, monkeypatch):
    # Given a hook that lets both pass the "already waiting?" pre-check before either writes
    a, _b = two
    h = make_household(world.scheme, world.village_a1)
    both_checked = threading.Barrier(2)
    real_atomic = transaction.atomic

    class AtomicAfterBothChecked:
        def atomic(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            both_checked.wait(timeout=30)
            return real_atomic(*args, **kwargs)

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(transaction, name)

    monkeypatch.setattr(adjustments, "transaction", AtomicAfterBothChecked())

    outcomes = run_in_threads(
        2,
        lambda _i: adjustment_request(actor=a, household=h, amount=500, reason="补录").pk,
    )

    # Then the partial unique index lets one in; the other is told it is a duplicate
    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 1
    assert isinstance(errors[0], ApplicationError) and errors[0].code == ErrorCode.DUPLICATE
    assert ApprovalRequest.objects.count() == 1


def test_a_superuser_sets_the_threshold_in_the_django_admin(world, client):
    from civicpoints.schemes.models import User

    client.force_login(User.objects.create_superuser("root", password="root-pass-123"))
    url = "/admin/ledger/approvalpolicy/add/"

    response = client.post(url, {"scheme": world.scheme.pk, "reversal_threshold": 20000})

    assert response.status_code == 302, response.content[:500]
    assert reversal_threshold(scheme_id=world.scheme.pk) == 20000
    refused_negative = client.post(url, {"scheme": world.other_scheme.pk, "reversal_threshold": -1})
    assert refused_negative.status_code == 200  # the form shows the error
    assert reversal_threshold(scheme_id=world.other_scheme.pk) == 50000


def test_the_audit_log_reads_each_step_in_words(world, two):
    from civicpoints.audit.describe import Describer

    a, b = two
    h = make_household(world.scheme, world.village_a1, "王秀英")
    filed = adjustment_request(actor=a, household=h, amount=1250, reason="补录")
    approval_approve(actor=b, approval_id=filed.pk, note="已核对")
    events = list(
        AuditEvent.objects.filter(action__in=["adjustment.request", "adjustment.approve"])
        .select_related("actor", "region")
        .order_by("pk")
    )

    lines = [Describer(events).line(e) for e in events]

    assert [line.what for line in lines] == ["申请人工调整积分", "复核通过人工调整并入账"]
    assert [line.region for line in lines] == [world.village_a1.name] * 2
    assert "农户：王秀英" in lines[0].detail_text and "积分：12.5" in lines[0].detail_text
    assert "原因：补录" in lines[0].detail_text
    assert all("其他" not in line.detail_text for line in lines), [x.detail_text for x in lines]
