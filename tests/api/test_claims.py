"""Claims over HTTP: propose, review, notice board, objection, finalize, photos, scope."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.test import Client

from civicpoints.awards.models import Claim, ClaimEvidence
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error
from tests.factories import (  # real images: uploads are re-encoded
    JPEG,
    PNG,
    api_client,
    build_world,
    make_household,
    make_staff,
)
from tests.ledger.helpers import assert_ledger_ok


@pytest.fixture
def setup(db, settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    clients = {
        "grid": api_client(make_staff("grid", Role.GRID_WORKER, world.village_a1, world.scheme)),
        "village": api_client(
            make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
        ),
        "other_village": api_client(
            make_staff("cun-b", Role.VILLAGE_ADMIN, world.village_b1, world.scheme)
        ),
        "county": api_client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)),
        "store": api_client(make_staff("dian", Role.STORE_CLERK, world.village_a1, world.scheme)),
    }
    household = make_household(world.scheme, world.village_a1, "曾国涛")
    return world, rules, clients, household


def propose(client: Client, household, rule, quantity, **extra):
    return client.post(
        "/api/v1/claims",
        {"household": household.pk, "rule": rule.pk, "quantity": quantity, **extra},
        content_type="application/json",
    )


def test_claim_goes_from_proposal_to_notice(setup):
    world, rules, c, household = setup
    created = propose(c["grid"], household, rules["H01"], 2.5, witness="王秀英")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["points"], body["status"], body["source"]) == (37.5, "submitted", "grid_worker")

    listed = c["village"].get("/api/v1/claims", {"status": "submitted"}).json()
    assert [row["id"] for row in listed] == [body["id"]]

    approved = c["village"].post(f"/api/v1/claims/{body['id']}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "on_notice"

    board = c["grid"].get("/api/v1/notices", {"village": world.village_a1.pk}).json()
    assert [row["id"] for row in board["claims"]] == [body["id"]]
    assert len(board["ledger_head"]["hash"]) == 64

    objected = c["grid"].post(
        f"/api/v1/claims/{body['id']}/objections",
        {"reason": "时间报错了"},
        content_type="application/json",
    )
    assert objected.json()["status"] == "submitted"
    assert [e["action"] for e in objected.json()["events"]] == ["submit", "approve", "object"]


def test_finalize_over_http_posts_due_claims(setup):
    world, rules, c, household = setup
    claim_id = propose(c["village"], household, rules["B01"], 120).json()["id"]
    c["village"].post(f"/api/v1/claims/{claim_id}/approve")
    Claim.objects.filter(pk=claim_id).update(
        notice_ends_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    assert_error(
        c["village"].post("/api/v1/notices/finalize", {}, content_type="application/json"),
        403,
        "permission_denied",
    )
    done = c["county"].post("/api/v1/notices/finalize", {}, content_type="application/json")
    assert done.json() == {"posted": 1, "owed": 0.0, "claims": [claim_id]}
    again = c["county"].post("/api/v1/notices/finalize", {}, content_type="application/json")
    assert again.json()["posted"] == 0
    assert c["village"].get(f"/api/v1/households/{household.pk}").json()["balance"] == 120.0
    assert_ledger_ok(world.scheme.pk)


def test_limits_come_back_as_their_own_codes(setup):
    _, rules, c, household = setup
    first = propose(c["village"], household, rules["B01"], 10).json()["id"]
    second = propose(c["village"], household, rules["B01"], 10).json()["id"]
    c["village"].post(f"/api/v1/claims/{first}/approve")
    error = assert_error(
        c["village"].post(f"/api/v1/claims/{second}/approve"), 409, "duplicate_claim"
    )
    assert error["detail"]["claim"] == first
    assert_error(c["village"].post(f"/api/v1/claims/{first}/approve"), 409, "invalid_transition")


def test_other_village_and_clerks_see_404(setup):
    _, rules, c, household = setup
    claim_id = propose(c["village"], household, rules["B01"], 10).json()["id"]
    for who in ("other_village", "store"):
        assert_error(c[who].get(f"/api/v1/claims/{claim_id}"), 404, "not_found")
        assert_error(c[who].post(f"/api/v1/claims/{claim_id}/approve"), 404, "not_found")
        assert c[who].get("/api/v1/claims").json() == []
    assert_error(propose(c["other_village"], household, rules["B01"], 10), 404, "not_found")
    assert Claim.objects.get(pk=claim_id).status == "submitted"


@pytest.mark.parametrize("quantity", [0, -1, 0.001, "12", "１２", None, [], 1e309, 2**63, True])
def test_bad_quantity_is_422_and_nothing_written(setup, quantity):
    _, rules, c, household = setup
    response = propose(c["village"], household, rules["B01"], quantity)
    assert response.status_code == 422
    assert Claim.objects.count() == 0


def test_photos_are_checked_by_content_and_served_only_in_scope(setup):
    _, rules, c, household = setup
    claim_id = propose(c["village"], household, rules["E02"], 1).json()["id"]

    def upload(client, data, name):
        return client.post(
            f"/api/v1/claims/{claim_id}/photos", {"photo": io.BytesIO(data) | _named(name)}
        )

    fake = upload(c["village"], b"GIF89a not a jpeg", "courtyard.jpg")
    assert_error(fake, 422, "invalid_input")
    big = upload(c["village"], JPEG + b"\x00" * (5 * 1024 * 1024), "big.jpg")
    assert big.status_code in (413, 422)
    ok = upload(c["village"], PNG, "whatever.txt")
    assert ok.status_code == 201, ok.content
    photo = ClaimEvidence.objects.get()
    assert photo.content_type == "image/png"
    assert not str(photo.path).startswith("/")

    served = c["village"].get(f"/api/v1/photos/{photo.pk}")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PNG
    assert_error(c["other_village"].get(f"/api/v1/photos/{photo.pk}"), 404, "not_found")
    approved = c["village"].post(f"/api/v1/claims/{claim_id}/approve")
    assert approved.json()["status"] == "on_notice"


class _named:
    """``io.BytesIO(data) | _named("x.jpg")`` gives the upload a file name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __ror__(self, buffer: io.BytesIO) -> io.BytesIO:
        buffer.name = self.name
        return buffer


def test_rules_list_the_catalogue_in_force(setup):
    _, rules, c, _ = setup
    listed = c["grid"].get("/api/v1/rules").json()
    assert {r["code"] for r in listed} == set(rules)
    mutual = next(r for r in listed if r["code"] == "H01")
    assert (mutual["points_per_unit"], mutual["unit"], mutual["cap_day"]) == (15.0, "hour", 150.0)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary="],
)
def test_a_multipart_body_without_a_usable_boundary_is_a_400_with_the_error_json(
    setup, content_type
):
    """Issue 9, item 3: Django's parser raises MultiPartParserError, which was a 500."""
    _, rules, c, household = setup
    claim_id = propose(c["village"], household, rules["E02"], 1).json()["id"]
    response = c["village"].generic(
        "POST", f"/api/v1/claims/{claim_id}/photos", b"--x\r\n\r\n--x--", content_type=content_type
    )
    assert_error(response, 400, "invalid_input")
    assert ClaimEvidence.objects.count() == 0
