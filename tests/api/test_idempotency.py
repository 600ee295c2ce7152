"""Idempotency-Key on point-moving calls (DESIGN.md section 5): one effect per key, replays.

A retry with the same key and request gets the first response again (success or failure) with
``Idempotency-Replayed: true``; a different request under the same key is 422; a key whose first
request is still running is 409; a first attempt that died before committing is taken over.
The vehicle is the approval of a manual adjustment (four eyes: that is where points move).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicpoints.api import ledger as ledger_api
from civicpoints.api.idempotency import key_scope, keyed_request_hash
from civicpoints.ledger.adjustments import adjustment_request
from civicpoints.ledger.idempotency import idempotency_begin
from civicpoints.ledger.models import IdempotencyRecord, IdempotencyState, Posting
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.api.conftest import assert_error, snapshot
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok

ADJUST = "/api/v1/ledger/adjustments"


def adjust(client, body, key):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(ADJUST, body, content_type="application/json", **headers)


def approve_path(approval_id: int) -> str:
    return f"/api/v1/ledger/approvals/{approval_id}/approve"


def approve(client, approval_id, key, note=""):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(
        approve_path(approval_id), {"note": note}, content_type="application/json", **headers
    )


@pytest.fixture
def household(world):
    h = make_household(world.scheme, world.village_a1, "张三")
    fund(h, 1000)  # 10 points
    return h


@pytest.fixture
def filed(world, household):
    """``filed(hundredths)``: a pending adjustment of the household, filed by another admin."""
    filer = actor_for_user(make_staff("filer", Role.COUNTY_ADMIN, world.county, world.scheme))

    def make(amount: int = 500, reason: str = "补录") -> int:
        return adjustment_request(actor=filer, household=household, amount=amount, reason=reason).pk

    return make


@pytest.fixture
def admin_user(county_admin) -> User:
    return User.objects.get(username=f"{Role.COUNTY_ADMIN}_user")


def balance(household) -> int:
    return household_balance(household_id=household.pk).balance


@pytest.mark.parametrize(
    "key",
    [None, "", "   ", "x" * 201, "a\x01b"],
    ids=["missing", "empty", "blank", "too-long", "control-char"],
)
def test_missing_or_bad_key_is_400(county_admin, household, key):
    before = snapshot()

    response = adjust(county_admin, {"household": household.pk, "points": 5, "reason": "补录"}, key)

    assert_error(response, 400, "idempotency_key_missing")
    assert snapshot() == before


def test_missing_key_on_approval_is_400(county_admin, filed):
    approval = filed()
    before = snapshot()

    assert_error(approve(county_admin, approval, None), 400, "idempotency_key_missing")
    assert snapshot() == before


def test_replay_gives_the_same_response_once(world, county_admin, household, filed):
    approval = filed()
    first = approve(county_admin, approval, "k-1", note="已核对")
    assert first.status_code == 200
    assert first.get("Idempotency-Replayed") is None
    after_first = snapshot()

    # The same request, spelled differently (spaces around the note), is a replay.
    again = approve(county_admin, approval, "k-1", note=" 已核对 ")
    third = approve(county_admin, approval, "k-1", note="已核对")

    for replay in (again, third):
        assert replay.status_code == 200
        assert replay.json() == first.json()
        assert replay["Idempotency-Replayed"] == "true"
    assert snapshot() == after_first
    assert Posting.objects.filter(pk=first.json()["posting"]).count() == 1
    assert balance(household) == 1500
    assert_ledger_ok(world.scheme.pk)


def test_same_key_with_a_different_request_is_422(county_admin, household, filed):
    approval, other = filed(), filed(600)
    approve(county_admin, approval, "k-1")
    before = snapshot()

    for response in [
        approve(county_admin, approval, "k-1", note="另一个说明"),
        approve(county_admin, other, "k-1"),
    ]:
        assert_error(response, 422, "idempotency_key_reused")
        assert response.get("Idempotency-Replayed") is None
    assert snapshot() == before
    assert balance(household) == 1500


def test_keys_belong_to_their_caller(world, county_admin, household, filed):
    from tests.factories import api_client

    other = api_client(make_staff("second_admin", Role.COUNTY_ADMIN, world.county, world.scheme))
    one, two = filed(), filed(600)

    first = approve(county_admin, one, "shared-key")
    second = approve(other, two, "shared-key")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get("Idempotency-Replayed") is None
    assert first.json()["posting"] != second.json()["posting"]
    assert balance(household) == 2100


def test_request_still_in_flight_is_409(county_admin, admin_user, household, filed):
    approval = filed()
    idempotency_begin(
        scope=key_scope(admin_user.pk),
        key="k-1",
        request_hash=keyed_request_hash(
            method="POST",
            path=approve_path(approval),
            user_id=admin_user.pk,
            payload={"note": ""},
        ),
    )
    before = snapshot()

    response = approve(county_admin, approval, "k-1")

    assert_error(response, 409, "idempotency_in_flight")
    assert snapshot() == before
    record = IdempotencyRecord.objects.get(key="k-1")
    assert record.state == IdempotencyState.IN_FLIGHT
    assert record.lease_until > timezone.now()
    assert balance(household) == 1000


def test_refusal_is_replayed_even_after_more_points_arrive(world, county_admin, household, filed):
    approval = filed(-5000, "扣回")
    first = approve(county_admin, approval, "k-1")
    error = assert_error(first, 409, "insufficient_points")
    assert error["detail"] == {"household": household.pk, "available": 10.0, "needed": 50.0}
    fund(household, 10000)  # now 110 points: enough, but the key already has its answer
    before = snapshot()

    again = approve(county_admin, approval, "k-1")

    assert again.status_code == 409
    assert again.json() == first.json()
    assert again["Idempotency-Replayed"] == "true"
    assert snapshot() == before
    assert balance(household) == 11000
    # A new key is a new request, and now it succeeds.
    assert approve(county_admin, approval, "k-2").status_code == 200
    assert balance(household) == 6000
    assert_ledger_ok(world.scheme.pk)


def test_expired_lease_is_taken_over_and_runs_once(
    world, county_admin, admin_user, household, filed
):
    approval = filed()
    idempotency_begin(
        scope=key_scope(admin_user.pk),
        key="k-1",
        request_hash=keyed_request_hash(
            method="POST", path=approve_path(approval), user_id=admin_user.pk, payload={"note": ""}
        ),
    )
    # The first attempt crashed before its commit: only the marker remains, and its lease ends.
    IdempotencyRecord.objects.filter(key="k-1").update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    postings = Posting.objects.count()

    response = approve(county_admin, approval, "k-1")
    replay = approve(county_admin, approval, "k-1")

    assert response.status_code == 200
    assert response.get("Idempotency-Replayed") is None
    assert (replay.status_code, replay.json(), replay["Idempotency-Replayed"]) == (
        200,
        response.json(),
        "true",
    )
    assert Posting.objects.count() == postings + 1
    record = IdempotencyRecord.objects.get(key="k-1")
    assert (record.state, record.response_status) == (IdempotencyState.SUCCEEDED, 200)
    assert balance(household) == 1500
    assert_ledger_ok(world.scheme.pk)


def test_unexpected_error_frees_the_key(world, county_admin, household, filed, monkeypatch):
    approval = filed()
    real = ledger_api.approval_out

    def crash(row):
        # The response is rendered inside the service's transaction, after the posting.
        raise RuntimeError("crash after the posting, before the commit")

    monkeypatch.setattr(ledger_api, "approval_out", crash)
    before = snapshot()
    crashed = approve(county_admin, approval, "k-1")
    assert_error(crashed, 500, "internal_error")
    assert snapshot() == before
    monkeypatch.setattr(ledger_api, "approval_out", real)

    response = approve(county_admin, approval, "k-1")

    assert response.status_code == 200
    assert response.get("Idempotency-Replayed") is None
    assert balance(household) == 1500
    assert_ledger_ok(world.scheme.pk)


def test_validation_errors_do_not_take_the_key(county_admin, household, filed):
    approval = filed()
    before = snapshot()
    assert_error(approve(county_admin, approval, "k-1", note="x" * 201), 422, "invalid_input")
    assert snapshot() == before

    response = approve(county_admin, approval, "k-1")

    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_make_one_posting(postgres_only, world):
    """Four copies of one request at once: one runs, the rest get 409 or the replay."""
    import threading

    from django.db import connection
    from django.test import Client

    from tests.factories import PASSWORD

    make_staff("racer", Role.COUNTY_ADMIN, world.county, world.scheme)
    token = (
        Client()
        .post(
            "/api/v1/auth/token",
            {"username": "racer", "password": PASSWORD},
            content_type="application/json",
        )
        .json()["token"]
    )
    household = make_household(world.scheme, world.village_a1, "张三")
    filer = actor_for_user(make_staff("filer", Role.COUNTY_ADMIN, world.county, world.scheme))
    approval = adjustment_request(actor=filer, household=household, amount=500, reason="补录").pk
    start = threading.Barrier(4)
    results: list[tuple[int, str | None, dict]] = []

    def attempt() -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
            start.wait()
            response = approve(client, approval, "race")
            results.append(
                (response.status_code, response.get("Idempotency-Replayed"), response.json())
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    firsts = [r for r in results if r[0] == 200 and r[1] is None]
    assert len(results) == 4
    assert len(firsts) == 1
    for status, replayed, response_body in results:
        if status == 200:
            assert response_body == firsts[0][2]
            assert replayed in (None, "true")
        else:
            assert (status, response_body["error"]["code"]) == (409, "idempotency_in_flight")
    assert Posting.objects.filter(kind="adjustment").count() == 1
    assert balance(household) == 500
    assert_ledger_ok(world.scheme.pk)
