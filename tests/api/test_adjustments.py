"""POST /api/v1/ledger/adjustments: county admins credit or debit with a reason, audited."""

from __future__ import annotations

import itertools

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState, Posting, PostingKind
from civicpoints.ledger.selectors import household_balance
from civicpoints.ledger.services import hold, household_account
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error, snapshot
from tests.factories import fund, make_household
from tests.ledger.helpers import assert_ledger_ok

ADJUST = "/api/v1/ledger/adjustments"
_keys = itertools.count(1)


def adjust(client, body, key=None):
    return client.post(
        ADJUST,
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key or f"adjust-{next(_keys)}",
    )


@pytest.fixture
def household(world):
    h = make_household(world.scheme, world.village_a1, "张三")
    fund(h, 10000)  # 100 points
    return h


@pytest.mark.parametrize(
    "points,hundredths,balance",
    [(25, 2500, 125.0), (12.5, 1250, 112.5), (0.01, 1, 100.01), (-40, -4000, 60.0)],
)
def test_county_admin_credits_and_debits(
    world, county_admin, household, points, hundredths, balance
):
    before = snapshot()

    response = adjust(
        county_admin, {"household": household.pk, "points": points, "reason": " 补录 "}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    posting = Posting.objects.get(pk=body["posting"])
    assert body == {
        "posting": posting.pk,
        "household": household.pk,
        "points": hundredths / 100,
        "balance_after": balance,
        "created_at": posting.created_at.isoformat(),
        "reason": "补录",
    }
    assert response.get("Idempotency-Replayed") is None
    assert posting.kind == PostingKind.ADJUSTMENT
    assert sorted(posting.entries.values_list("amount", flat=True)) == sorted(
        [hundredths, -hundredths]
    )
    assert household_balance(household_id=household.pk).balance == 10000 + hundredths
    audit = AuditEvent.objects.get(action="ledger.adjust")
    assert audit.object_id == str(posting.pk)
    assert audit.scheme_id == world.scheme.pk
    assert audit.detail == {"household": household.pk, "amount": hundredths, "reason": "补录"}
    after = snapshot()
    assert (after["postings"], after["entries"], after["audit"], after["idempotency"]) == (
        before["postings"] + 1,
        before["entries"] + 2,
        before["audit"] + 1,
        before["idempotency"] + 1,
    )
    assert_ledger_ok(world.scheme.pk)


def test_entries_show_the_adjustment_reason(world, county_admin, household):
    adjust(county_admin, {"household": household.pk, "points": -3, "reason": "重复发放，扣回"})

    rows = county_admin.get(f"/api/v1/households/{household.pk}/entries").json()

    assert [(r["kind"], r["points"], r["balance_after"], r["memo"]) for r in rows] == [
        ("adjustment", -3.0, 97.0, "重复发放，扣回"),
        ("award", 100.0, 100.0, "测试奖励"),
    ]


@pytest.mark.parametrize(
    "reason",
    [None, "", "   ", "\t\n"],
    ids=["missing", "empty", "spaces", "whitespace"],
)
def test_reason_is_required(county_admin, household, reason):
    body = {"household": household.pk, "points": 5}
    if reason is not None:
        body["reason"] = reason
    before = snapshot()

    response = adjust(county_admin, body)

    error = assert_error(response, 422, "invalid_input")
    assert error["detail"]["errors"][0]["field"] == "reason"
    assert snapshot() == before


def test_debit_beyond_available_is_409_and_changes_nothing(world, county_admin, household):
    hold(account=household_account(household=household), amount=3000, memo="app order")
    before = snapshot()

    response = adjust(county_admin, {"household": household.pk, "points": -70.01, "reason": "扣回"})

    error = assert_error(response, 409, "insufficient_points")
    assert error["detail"] == {"household": household.pk, "available": 70.0, "needed": 70.01}
    after = snapshot()
    # The refusal is kept for retries with the same key (see test_idempotency); nothing else moves.
    assert after.pop("idempotency") == before.pop("idempotency") + 1
    assert after == before
    record = IdempotencyRecord.objects.get()
    assert (record.state, record.response_status) == (IdempotencyState.FAILED, 409)
    assert household_balance(household_id=household.pk).available == 7000
    assert not AuditEvent.objects.filter(action="ledger.adjust").exists()
    assert_ledger_ok(world.scheme.pk)


def test_debit_of_exactly_available_leaves_zero(world, county_admin, household):
    response = adjust(county_admin, {"household": household.pk, "points": -100, "reason": "清零"})

    assert response.status_code == 201
    assert response.json()["balance_after"] == 0
    assert_ledger_ok(world.scheme.pk)


@pytest.mark.parametrize(
    "role",
    [
        Role.TOWNSHIP_ADMIN,
        Role.VILLAGE_ADMIN,
        Role.GRID_WORKER,
        Role.STORE_CLERK,
        Role.AUDITOR,
    ],
)
def test_other_roles_in_scope_get_403(client_for, household, role):
    client = client_for(role)
    before = snapshot()

    response = adjust(client, {"household": household.pk, "points": 5, "reason": "补录"})

    error = assert_error(response, 403, "permission_denied")
    assert error["detail"] == {"action": "ledger.adjust"}
    assert snapshot() == before
