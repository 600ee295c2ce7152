"""Four eyes through the API: a county admin files an adjustment (POST /ledger/adjustments, 202),
another county admin approves it (POST /ledger/approvals/{id}/approve) and only then is it
posted; the requester cannot approve, duplicates are refused, reversals above the threshold wait.
"""

from __future__ import annotations

import itertools

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.ledger.models import (
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStatus,
    Posting,
    PostingKind,
)
from civicpoints.ledger.selectors import household_balance
from civicpoints.ledger.services import hold, household_account
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error, snapshot
from tests.factories import api_client, fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok

ADJUST = "/api/v1/ledger/adjustments"
REVERSE = "/api/v1/ledger/reversals"
APPROVALS = "/api/v1/ledger/approvals"
_keys = itertools.count(1)


def keyed(client, url, body, key=None):
    return client.post(
        url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key or f"k-{next(_keys)}"
    )


def adjust(client, body, key=None):
    return keyed(client, ADJUST, body, key)


def approve(client, approval_id, note="", key=None):
    return keyed(client, f"{APPROVALS}/{approval_id}/approve", {"note": note}, key)


def reject(client, approval_id, note="核对后不属实"):
    return client.post(
        f"{APPROVALS}/{approval_id}/reject", {"note": note}, content_type="application/json"
    )


@pytest.fixture
def household(world):
    h = make_household(world.scheme, world.village_a1, "张三")
    fund(h, 10000)  # 100 points
    return h


@pytest.fixture
def second_admin(world):
    return api_client(make_staff("second-admin", Role.COUNTY_ADMIN, world.county, world.scheme))


def balance(household):
    return household_balance(household_id=household.pk).balance


@pytest.mark.parametrize(
    "points,hundredths,after",
    [(25, 2500, 125.0), (12.5, 1250, 112.5), (0.01, 1, 100.01), (-40, -4000, 60.0)],
)
def test_adjustment_waits_then_a_second_admin_posts_it(
    world, county_admin, second_admin, household, points, hundredths, after
):
    # Given a county admin files an adjustment
    before = snapshot()
    filed = adjust(county_admin, {"household": household.pk, "points": points, "reason": " 补录 "})

    # Then it waits: nothing is posted
    assert filed.status_code == 202, filed.content
    body = filed.json()
    row = ApprovalRequest.objects.get()
    assert (body["id"], body["status"], body["kind"]) == (row.pk, "pending", "adjustment")
    assert (body["household"], body["points"], body["reason"]) == (household.pk, points, "补录")
    assert (body["posting"], body["balance_after"], body["needs_second"]) == (None, None, True)
    after_request = snapshot()
    assert after_request["postings"] == before["postings"]
    assert after_request["balances"] == before["balances"]
    assert balance(household) == 10000

    # When another county admin approves it
    response = approve(second_admin, row.pk, note="已核对")

    # Then it is posted once, with the request's reason, and both steps are audited
    assert response.status_code == 200, response.content
    done = response.json()
    posting = Posting.objects.get(pk=done["posting"])
    assert (done["status"], done["balance_after"], done["note"]) == ("approved", after, "已核对")
    assert posting.kind == PostingKind.ADJUSTMENT and posting.memo == "补录"
    assert sorted(posting.entries.values_list("amount", flat=True)) == sorted(
        [hundredths, -hundredths]
    )
    assert balance(household) == 10000 + hundredths
    mine = AuditEvent.objects.filter(action__startswith="adjustment.").order_by("pk")
    actions = list(mine.values_list("action", "object_id"))
    assert actions == [
        ("adjustment.request", str(row.pk)),
        ("adjustment.approve", str(row.pk)),
    ]
    assert AuditEvent.objects.get(action="adjustment.approve").detail == {
        "posting": posting.pk,
        "household": household.pk,
        "amount": hundredths,
    }
    assert_ledger_ok(world.scheme.pk)


def test_requester_cannot_approve_own_request(world, county_admin, household):
    row_id = adjust(county_admin, {"household": household.pk, "points": 50, "reason": "补录"})
    before = snapshot()

    response = approve(county_admin, row_id.json()["id"])

    error = assert_error(response, 403, "self_approval")
    assert "另一位县级管理员" in error["message"]
    row = ApprovalRequest.objects.get()
    assert (row.status, row.posting_id, row.decided_by_id) == (ApprovalStatus.PENDING, None, None)
    after = snapshot()
    assert after.pop("idempotency") == before.pop("idempotency") + 1  # the refusal is kept
    assert after == before
    # Nor may the requester reject it (that is withdrawing, which is theirs to do)
    assert_error(reject(county_admin, row.pk), 403, "self_approval")


def test_second_request_for_the_same_thing_is_a_duplicate(world, county_admin, household):
    body = {"household": household.pk, "points": 50, "reason": "补录"}
    first = adjust(county_admin, body)
    before = snapshot()

    again = adjust(county_admin, {**body, "reason": "补录（再次）"})

    error = assert_error(again, 409, "duplicate")
    assert error["detail"] == {"request": first.json()["id"]}
    assert ApprovalRequest.objects.count() == 1
    after = snapshot()
    assert after.pop("idempotency") == before.pop("idempotency") + 1
    assert after == before
    # A different amount is a different request
    assert adjust(county_admin, {**body, "points": 60}).status_code == 202


def test_a_retry_with_the_same_key_replays_the_request(county_admin, household):
    body = {"household": household.pk, "points": 50, "reason": "补录"}
    first = adjust(county_admin, body, key="same")
    again = adjust(county_admin, body, key="same")

    assert again.status_code == 202 and again["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert ApprovalRequest.objects.count() == 1


@pytest.mark.parametrize(
    "role",
    [Role.TOWNSHIP_ADMIN, Role.VILLAGE_ADMIN, Role.GRID_WORKER, Role.STORE_CLERK, Role.AUDITOR],
)
def test_other_roles_can_neither_request_nor_approve(client_for, county_admin, household, role):
    client = client_for(role)
    row_id = adjust(county_admin, {"household": household.pk, "points": 5, "reason": "补录"})
    row_id = row_id.json()["id"]
    before = snapshot()

    asked = adjust(client, {"household": household.pk, "points": 5, "reason": "补录"})
    approved = approve(client, row_id)
    rejected = reject(client, row_id)

    assert assert_error(asked, 403, "permission_denied")["detail"] == {
        "action": "adjustment.request"
    }
    assert assert_error(approved, 403, "permission_denied")["detail"] == {
        "action": "approval.approve"
    }
    assert_error(rejected, 403, "permission_denied")
    assert_error(client.get(APPROVALS), 403, "permission_denied")
    assert snapshot() == before
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING


def test_another_county_cannot_see_or_approve(world, county_admin, household):
    other = api_client(
        make_staff("other-admin", Role.COUNTY_ADMIN, world.other_county, world.other_scheme)
    )
    row_id = adjust(county_admin, {"household": household.pk, "points": 5, "reason": "补录"})
    row_id = row_id.json()["id"]

    assert_error(approve(other, row_id), 404, "not_found")
    assert other.get(APPROVALS).json() == []
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING


@pytest.mark.parametrize("closing", ["reject", "withdraw"])
def test_a_rejected_or_withdrawn_request_cannot_be_approved(
    world, county_admin, second_admin, household, closing
):
    row_id = adjust(county_admin, {"household": household.pk, "points": 5, "reason": "补录"})
    row_id = row_id.json()["id"]
    if closing == "reject":
        closed = reject(second_admin, row_id, note="不属实")
    else:
        closed = county_admin.post(
            f"{APPROVALS}/{row_id}/withdraw", {"note": "填错了"}, content_type="application/json"
        )
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == {"reject": "rejected", "withdraw": "withdrawn"}[closing]
    before = snapshot()

    response = approve(second_admin, row_id)

    error = assert_error(response, 409, "invalid_transition")
    assert error["detail"]["status"] == closed.json()["status"]
    after = snapshot()
    after.pop("idempotency"), before.pop("idempotency")
    assert after == before
    assert ApprovalRequest.objects.get().posting_id is None
    assert AuditEvent.objects.filter(action=f"adjustment.{closing}").count() == 1


def test_only_the_requester_may_withdraw(county_admin, second_admin, household):
    row_id = adjust(county_admin, {"household": household.pk, "points": 5, "reason": "补录"})

    response = second_admin.post(
        f"{APPROVALS}/{row_id.json()['id']}/withdraw", {}, content_type="application/json"
    )

    assert_error(response, 403, "permission_denied")
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING


def test_a_debit_beyond_available_fails_cleanly_and_stays_pending(
    world, county_admin, second_admin, household
):
    # Given a debit filed while the household had 100 points, and 30 of them held since
    row_id = adjust(county_admin, {"household": household.pk, "points": -70.01, "reason": "扣回"})
    row_id = row_id.json()["id"]
    hold(account=household_account(household=household), amount=3000, memo="app order")
    before = snapshot()

    # When a second admin approves it
    response = approve(second_admin, row_id)

    # Then the posting is refused, nothing moves, and the request keeps waiting with the reason
    error = assert_error(response, 409, "insufficient_points")
    assert error["detail"] == {"household": household.pk, "available": 70.0, "needed": 70.01}
    after = snapshot()
    assert after.pop("idempotency") == before.pop("idempotency") + 1
    assert after == before
    row = ApprovalRequest.objects.get()
    assert (row.status, row.posting_id, row.decided_by_id) == (ApprovalStatus.PENDING, None, None)
    assert row.last_error == error["message"]
    shown = second_admin.get(f"{APPROVALS}/{row_id}").json()
    assert (shown["status"], shown["last_error"]) == ("pending", error["message"])
    assert not AuditEvent.objects.filter(action="adjustment.approve").exists()

    # And once the hold is gone a new attempt posts it and clears the error
    household_account(household=household).holds.update(status="released")
    from civicpoints.ledger.models import Account

    Account.objects.filter(household=household).update(held=0)
    retried = approve(second_admin, row_id)
    assert retried.status_code == 200, retried.content
    assert (retried.json()["balance_after"], retried.json()["last_error"]) == (29.99, "")
    assert_ledger_ok(world.scheme.pk)


def test_approving_twice_gives_one_posting(world, county_admin, second_admin, household):
    row_id = adjust(county_admin, {"household": household.pk, "points": 5, "reason": "补录"})
    row_id = row_id.json()["id"]

    first = approve(second_admin, row_id)
    second = approve(second_admin, row_id)  # another key: a second tap, not a retry
    third = approve(
        api_client(make_staff("third-admin", Role.COUNTY_ADMIN, world.county, world.scheme)),
        row_id,
    )

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert first.json() == second.json() == third.json()
    assert Posting.objects.filter(kind=PostingKind.ADJUSTMENT).count() == 1
    assert AuditEvent.objects.filter(action="adjustment.approve").count() == 1
    assert balance(household) == 10500


def test_pending_list_is_for_county_admins(world, county_admin, second_admin, household):
    ids = [
        adjust(county_admin, {"household": household.pk, "points": p, "reason": "补录"}).json()[
            "id"
        ]
        for p in (1, 2, 3)
    ]
    reject(second_admin, ids[0])

    pending = second_admin.get(APPROVALS, {"status": "pending"})
    everything = second_admin.get(APPROVALS)

    assert [r["id"] for r in pending.json()] == [ids[2], ids[1]]
    assert [r["id"] for r in everything.json()] == list(reversed(ids))
    assert_error(second_admin.get(APPROVALS, {"status": "nonsense"}), 422)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"points": 5}, "reason"),
        ({"points": 5, "reason": "   "}, "reason"),
        ({"points": 0, "reason": "补录"}, "points"),
    ],
)
def test_bad_requests_are_refused(county_admin, household, body, field):
    before = snapshot()

    response = adjust(county_admin, {"household": household.pk, **body})

    error = assert_error(response, 422, "invalid_input")
    detail = error["detail"]
    fields = [e["field"] for e in detail["errors"]] if "errors" in detail else [detail["field"]]
    assert field in fields
    after = snapshot()
    after.pop("idempotency"), before.pop("idempotency")
    assert after == before
    assert not ApprovalRequest.objects.exists()


# --- reversals ------------------------------------------------------------------------------


def test_reversal_at_or_below_threshold_posts_at_once(world, county_admin, household):
    award = fund(household, 50000)  # 500 points: exactly the default threshold

    response = keyed(county_admin, REVERSE, {"posting": award.pk, "reason": "重复发放"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["needs_second"], body["decided_by"]) == ("approved", False, None)
    assert (body["points"], body["reversal_of"], body["balance_after"]) == (-500.0, award.pk, 100.0)
    assert Posting.objects.get(pk=body["posting"]).reverses_id == award.pk
    assert list(
        AuditEvent.objects.filter(action__startswith="reversal.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "reversal.request",
        "reversal.post",
    ]
    assert_ledger_ok(world.scheme.pk)


def test_reversal_above_threshold_waits_for_a_second_admin(
    world, county_admin, second_admin, household
):
    ApprovalPolicy.objects.create(scheme=world.scheme, reversal_threshold=2000)
    award = fund(household, 2001)

    filed = keyed(county_admin, REVERSE, {"posting": award.pk, "reason": "发错户"})

    assert filed.status_code == 202, filed.content
    assert filed.json()["status"] == "pending"
    assert not Posting.objects.filter(reverses=award).exists()
    # The same posting cannot be asked for twice while one waits, by anyone
    again = keyed(second_admin, REVERSE, {"posting": award.pk, "reason": "发错户"})
    assert_error(again, 409, "duplicate")
    assert_error(approve(county_admin, filed.json()["id"]), 403, "self_approval")

    done = approve(second_admin, filed.json()["id"])

    assert done.status_code == 200, done.content
    assert Posting.objects.get(pk=done.json()["posting"]).reverses_id == award.pk
    assert balance(household) == 10000
    assert_ledger_ok(world.scheme.pk)


def test_store_and_merchant_postings_are_not_reversed_here(world, county_admin, household):
    from civicpoints.ledger.models import AccountKind
    from civicpoints.ledger.services import Leg, post, system_account

    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")
    sale = post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.REDEMPTION,
        legs=[Leg(household_account(household=household), -100), Leg(store, 100)],
    )

    response = keyed(county_admin, REVERSE, {"posting": sale.pk, "reason": "退货"})

    assert assert_error(response, 422, "invalid_input")["detail"] == {"field": "posting"}
    assert not ApprovalRequest.objects.exists()
