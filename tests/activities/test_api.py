"""Activities and mutual help through the HTTP API: the contract clients count on, the error
JSON for every refusal (never a 500 for bad input), and 404 outside the caller's scope."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.activities.models import Activity, Attendance, Enrolment, MutualHelp
from civicpoints.activities.services import (
    activity_check_in,
    activity_check_out,
    activity_create,
)
from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from tests.activities.conftest import TZ, Acts
from tests.api.conftest import assert_error
from tests.factories import api_client, make_household


@pytest.fixture
def clients(acts: Acts) -> dict[str, Client]:
    return {name: api_client(user) for name, user in acts.users.items()}


def _body(acts: Acts, **kw: object) -> dict:
    now = timezone.now()
    body = {
        "region": acts.world.village_a1.pk,
        "title": "清理村道垃圾",
        "place": "晓光村村委会门前",
        "starts_at": (now - dt.timedelta(minutes=30)).isoformat(),
        "ends_at": (now + dt.timedelta(hours=2)).isoformat(),
        "capacity": 30,
        "rule": acts.rules["H01"].pk,
        "publish": True,
    }
    body.update(kw)
    return body


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(f"/api/v1{path}", body or {}, content_type="application/json")


def _running(acts: Acts, clients: dict[str, Client], **kw: object) -> dict:
    response = _post(clients["village_admin"], "/activities", _body(acts, **kw))
    assert response.status_code == 201, response.content
    return response.json()


def test_create_list_and_read_an_activity(acts: Acts, clients):
    starts = dt.datetime(2030, 5, 1, 14, 0)  # no offset: Beijing time
    response = _post(
        clients["village_admin"],
        "/activities",
        _body(
            acts,
            starts_at=starts.isoformat(),
            ends_at="2030-05-01T17:00:00+08:00",
            per_activity_cap=30,
            publish=False,
        ),
    )
    assert response.status_code == 201, response.content
    out = response.json()
    activity = Activity.objects.get()
    assert out == {
        "id": activity.pk,
        "region": acts.world.village_a1.pk,
        "region_name": "晓光村",
        "title": "清理村道垃圾",
        "description": "",
        "place": "晓光村村委会门前",
        "starts_at": "2030-05-01T14:00:00+08:00",
        "ends_at": "2030-05-01T17:00:00+08:00",
        "capacity": 30,
        "rule": {
            "id": acts.rules["H01"].pk,
            "code": "H01",
            "name": "邻里互助（帮工）",
            "points_per_hour": 15.0,
        },
        "per_activity_cap": 30.0,
        "rounding_minutes": 30,
        "rounding": "down",
        "status": "draft",
        "code": activity.code,
        "self_check_in": True,
        "enrolled": 0,
        "checked_in": 0,
        "checked_out": 0,
        "created_at": out["created_at"],
        "closed_at": None,
    }
    assert activity.starts_at == dt.datetime(2030, 5, 1, 14, 0, tzinfo=TZ)

    published = _post(clients["village_admin"], f"/activities/{activity.pk}/publish")
    assert published.json()["status"] == "published"
    assert_error(
        _post(clients["village_admin"], f"/activities/{activity.pk}/publish"),
        409,
        "activity_not_open",
    )
    listed = clients["grid_worker"].get("/api/v1/activities?status=published")
    assert [a["id"] for a in listed.json()] == [activity.pk]
    assert clients["grid_worker"].get(f"/api/v1/activities/{activity.pk}").json()["id"] == (
        activity.pk
    )


def test_an_activity_may_be_run_without_resident_self_check_in(acts: Acts, clients):
    out = _running(acts, clients, self_check_in=False)
    assert (out["self_check_in"], Activity.objects.get().self_check_in) == (False, False)


def test_enrol_check_in_and_check_out(acts: Acts, clients):
    activity = _running(acts, clients, capacity=1)
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    other = make_household(acts.scheme, acts.world.village_a1)
    aid = activity["id"]

    response = _post(
        clients["grid_worker"], f"/activities/{aid}/enrolments", {"household": wang.pk}
    )
    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("household", "head_name", "status", "walk_in")} == {
        "household": wang.pk,
        "head_name": "王秀英",
        "status": "enrolled",
        "walk_in": False,
    }
    error = assert_error(
        _post(clients["grid_worker"], f"/activities/{aid}/enrolments", {"household": other.pk}),
        409,
        "activity_full",
    )
    assert error["message"] == "「清理村道垃圾」1 个名额已满"

    scanned = _post(
        clients["grid_worker"],
        f"/activities/{aid}/checkins",
        {"code": " " + wang.card_code.lower()},
    )
    assert scanned.status_code == 201, scanned.content
    assert (scanned.json()["head_name"], scanned.json()["checked_out_at"]) == ("王秀英", None)
    assert_error(
        _post(clients["grid_worker"], f"/activities/{aid}/checkins", {"code": wang.card_code}),
        409,
        "already_checked_in",
    )
    assert_error(
        _post(clients["grid_worker"], f"/activities/{aid}/checkouts", {"code": other.card_code}),
        409,
        "not_checked_in",
    )
    out = _post(clients["village_admin"], f"/activities/{aid}/checkouts", {"code": wang.card_code})
    assert out.status_code == 200, out.content
    assert out.json()["hours"] == 0.0  # a few seconds, rounded down to half hours
    assert_error(
        _post(clients["grid_worker"], f"/activities/{aid}/checkouts", {"code": wang.card_code}),
        409,
        "already_checked_out",
    )
    detail = clients["grid_worker"].get(f"/api/v1/activities/{aid}").json()
    assert (detail["enrolled"], detail["checked_in"], detail["checked_out"]) == (1, 0, 1)


def test_close_makes_claims_once_and_a_forgotten_check_out_is_closed_by_staff(acts: Acts, clients):
    # Given an activity that ran from 3 h ago to 30 min ago; two attended, one forgot to leave
    now = timezone.now()
    activity = activity_create(
        actor=acts.village_admin,
        scheme=acts.scheme,
        region=acts.world.village_a1,
        title="敬老院打扫",
        place="敬老院",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(minutes=30),
        rule_id=acts.rules["H01"].pk,
        publish=True,
        at=now - dt.timedelta(days=1),
    )
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    zeng = make_household(acts.scheme, acts.world.village_a1, "曾国涛")
    for h in (wang, zeng):
        activity_check_in(
            actor=acts.grid_worker, activity=activity, code=h.card_code, at=activity.starts_at
        )
    activity_check_out(
        actor=acts.grid_worker,
        activity=activity,
        code=wang.card_code,
        at=activity.starts_at + dt.timedelta(hours=2, minutes=40),
    )
    path = f"/activities/{activity.pk}"
    error = assert_error(_post(clients["village_admin"], f"{path}/close"), 409, "open_attendance")
    forgotten = Attendance.objects.get(household=zeng)
    assert error["detail"] == {"attendances": [forgotten.pk]}
    assert Claim.objects.count() == 0

    assert_error(
        _post(
            clients["grid_worker"], f"{path}/attendances/{forgotten.pk}/checkout", {"reason": " "}
        ),
        422,
        "invalid_input",
    )
    closed = _post(
        clients["grid_worker"],
        f"{path}/attendances/{forgotten.pk}/checkout",
        {"reason": "忘记签退，活动结束时离开"},
    )
    assert closed.status_code == 200, closed.content
    assert {k: closed.json()[k] for k in ("hours", "closed_by_staff", "close_reason")} == {
        "hours": 2.5,
        "closed_by_staff": True,
        "close_reason": "忘记签退，活动结束时离开",
    }

    # When the village admin closes it (twice)
    response = _post(clients["village_admin"], f"{path}/close")
    assert response.status_code == 200, response.content
    body = response.json()
    again = _post(clients["village_admin"], f"{path}/close").json()

    # Then two submitted claims of 2.5 h x 15 = 37.5 points each, made once
    assert (len(body["claims"]), body["skipped"], body["earlier"]) == (2, [], 0)
    assert body["activity"]["status"] == "closed"
    assert (again["claims"], again["earlier"]) == ([], 2)
    claims = Claim.objects.filter(pk__in=body["claims"]).order_by("household_id")
    assert [(c.household_id, c.quantity, c.points, c.status, c.source) for c in claims] == [
        (wang.pk, Decimal("2.50"), 3750, ClaimStatus.SUBMITTED, ClaimSource.ACTIVITY),
        (zeng.pk, Decimal("2.50"), 3750, ClaimStatus.SUBMITTED, ClaimSource.ACTIVITY),
    ]
    assert Claim.objects.count() == 2
    assert_error(
        _post(clients["grid_worker"], f"{path}/checkins", {"code": wang.card_code}),
        409,
        "activity_not_open",
    )


def test_staff_of_another_village_get_404_and_nothing_changes(acts: Acts, clients):
    activity = _running(acts, clients)
    household = make_household(acts.scheme, acts.world.village_a1)
    aid = activity["id"]
    for name in ("grid_worker_a2", "grid_worker_b1", "village_admin_b", "store_clerk"):
        client = clients[name]
        assert_error(client.get(f"/api/v1/activities/{aid}"), 404, "not_found")
        assert_error(
            _post(client, f"/activities/{aid}/checkins", {"code": household.card_code}),
            404,
            "not_found",
        )
        assert_error(_post(client, f"/activities/{aid}/close"), 404, "not_found")
        assert_error(
            _post(client, f"/activities/{aid}/enrolments", {"household": household.pk}),
            404,
            "not_found",
        )
        assert client.get("/api/v1/activities").json() == []
    # a grid worker may scan but not close; an activity of another village cannot be created
    assert_error(
        _post(clients["grid_worker"], f"/activities/{aid}/close"), 403, "permission_denied"
    )
    assert_error(
        _post(
            clients["village_admin"], "/activities", _body(acts, region=acts.world.village_a2.pk)
        ),
        404,
        "not_found",
    )
    assert (Attendance.objects.count(), Enrolment.objects.count(), Activity.objects.count()) == (
        0,
        0,
        1,
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"title": "  "}, 422),
        ({"title": "x" * 101}, 422),
        ({"capacity": 0}, 422),
        ({"capacity": "3"}, 422),
        ({"capacity": 1.5}, 422),
        ({"starts_at": "not a time"}, 422),
        ({"starts_at": "9999-12-31T23:59:59+08:00"}, 422),
        ({"starts_at": "0001-01-01T00:00:00"}, 422),
        ({"ends_at": "2020-01-01T00:00:00+08:00"}, 422),
        ({"rule": 0}, 422),
        ({"rule": 2**60}, 422),
        ({"rule": 999999}, 404),
        ({"rule": "abc"}, 422),
        ({"rounding_minutes": 20}, 422),
        ({"rounding": "up"}, 422),
        ({"per_activity_cap": 1.234}, 422),
        ({"per_activity_cap": "NaN"}, 422),
        ({"region": 2**62}, 422),
        ({"title": "清理\x00垃圾"}, 422),
    ],
)
def test_bad_activity_input_is_a_4xx_never_a_500(acts: Acts, clients, change, status):
    response = _post(clients["village_admin"], "/activities", _body(acts, **change))
    assert_error(response, status)
    assert Activity.objects.count() == 0


def test_a_rule_that_is_not_per_hour_or_is_a_deduction_is_refused(acts: Acts, clients):
    for code in ("V02", "D01"):
        error = assert_error(
            _post(clients["village_admin"], "/activities", _body(acts, rule=acts.rules[code].pk)),
            422,
            "invalid_input",
        )
        assert error["message"] == "志愿活动只能使用按小时计的加分细则"


@pytest.mark.parametrize(
    "body",
    [{}, {"code": ""}, {"code": "   "}, {"code": "x" * 65}, {"code": 12345}, {"code": "a\x00b"}],
)
def test_bad_scans_are_422(acts: Acts, clients, body):
    activity = _running(acts, clients)
    response = _post(clients["grid_worker"], f"/activities/{activity['id']}/checkins", body)
    assert_error(response, 422, "invalid_input")


@pytest.mark.parametrize("aid", ["abc", "0", "-1", "１", str(2**63), "99999"])
def test_unknown_activity_ids_are_404(acts: Acts, clients, aid):
    assert_error(clients["village_admin"].get(f"/api/v1/activities/{aid}"), 404, "not_found")
    assert_error(
        _post(clients["village_admin"], f"/activities/{aid}/checkins", {"code": "ABC"}),
        404,
        "not_found",
    )


def test_mutual_help_needs_confirmation_before_there_is_a_claim(acts: Acts, clients):
    helper = make_household(acts.scheme, acts.world.village_a1, "帮工户")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = _post(
        clients["grid_worker"],
        "/mutual-help",
        {"helper": helper.pk, "helped": helped.pk, "hours": 10, "occurred_on": yesterday},
    )
    assert response.status_code == 201, response.content
    out = response.json()
    assert {
        k: out[k] for k in ("helper_name", "helped_name", "hours", "points", "status", "claim")
    } == {
        "helper_name": "帮工户",
        "helped_name": "王秀英",
        "hours": 10.0,
        "points": 150.0,
        "status": "pending",
        "claim": None,
    }
    assert Claim.objects.count() == 0
    hid = out["id"]

    # the reporter may not confirm; another village's grid worker does not see it
    assert_error(_post(clients["grid_worker"], f"/mutual-help/{hid}/confirm"), 409, "same_approver")
    assert_error(clients["grid_worker_a2"].get(f"/api/v1/mutual-help/{hid}"), 404, "not_found")
    assert_error(_post(clients["grid_worker_a2"], f"/mutual-help/{hid}/confirm"), 404, "not_found")
    assert Claim.objects.count() == 0

    confirmed = _post(clients["village_admin"], f"/mutual-help/{hid}/confirm")
    assert confirmed.status_code == 200, confirmed.content
    claim = Claim.objects.get()
    assert (confirmed.json()["status"], confirmed.json()["claim"]) == ("confirmed", claim.pk)
    assert (claim.household_id, claim.points, claim.status, claim.source) == (
        helper.pk,
        15000,
        ClaimStatus.SUBMITTED,
        ClaimSource.MUTUAL_HELP,
    )
    # confirming again answers the same and makes nothing more
    assert (
        _post(clients["village_admin"], f"/mutual-help/{hid}/confirm").json()["claim"] == claim.pk
    )
    assert_error(
        _post(clients["village_admin"], f"/mutual-help/{hid}/reject", {"reason": "搞错了"}),
        409,
        "invalid_transition",
    )
    assert Claim.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"hours": 0},
        {"hours": "NaN"},
        {"hours": 1e308},
        {"hours": 24.01},
        {"hours": "10"},
        {"occurred_on": "2999-01-01"},
        {"occurred_on": "yesterday"},
        {"helped": "self"},
    ],
)
def test_bad_mutual_help_input_is_422(acts: Acts, clients, change):
    helper = make_household(acts.scheme, acts.world.village_a1)
    helped = make_household(acts.scheme, acts.world.village_a1)
    body = {
        "helper": helper.pk,
        "helped": helped.pk,
        "hours": 2,
        "occurred_on": timezone.localdate().isoformat(),
    }
    body.update(change)
    if body["helped"] == "self":
        body["helped"] = helper.pk
    assert_error(_post(clients["grid_worker"], "/mutual-help", body), 422, "invalid_input")
    assert MutualHelp.objects.count() == 0


def test_openapi_lists_the_activity_and_mutual_help_paths(db):
    paths = Client().get("/api/openapi.json").json()["paths"]
    expected = {
        "/api/v1/activities": {"get", "post"},
        "/api/v1/activities/{activity_id}": {"get"},
        "/api/v1/activities/{activity_id}/enrolments": {"post"},
        "/api/v1/activities/{activity_id}/checkins": {"post"},
        "/api/v1/activities/{activity_id}/checkouts": {"post"},
        "/api/v1/activities/{activity_id}/close": {"post"},
        "/api/v1/mutual-help": {"get", "post"},
        "/api/v1/mutual-help/{help_id}/confirm": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
