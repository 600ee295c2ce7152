"""Residents over HTTP: a bearer token from the card and PIN, payment codes for their own
household, keys kept apart from staff's; every staff endpoint refuses a resident token."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.households.models import Household, HouseholdStatus, ResidentToken
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.models import Account
from civicpoints.merchants.models import PaymentCode
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.services import product_create, stock_receive, store_create
from tests.api.conftest import assert_error, snapshot
from tests.api.spending import new_key, post, resident_client, spending_snapshot
from tests.factories import fund, make_household, make_staff

PIN = "246813"
TOKEN = "/api/v1/auth/resident-token"


@pytest.fixture
def household(world) -> Household:
    h = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    household_set_pin(actor_id=None, household=h, pin=PIN)
    fund(h, 100_000)
    h.refresh_from_db()
    return h


def login(card: str, pin: str):
    return post(Client(), TOKEN, {"card": card, "pin": pin})


# --- the token -------------------------------------------------------------------------------


def test_a_resident_logs_in_with_card_and_pin(household):
    response = login(household.card_code.lower(), PIN)

    assert response.status_code == 200, response.content
    out = response.json()
    assert (out["household"], out["head_name"], out["village_name"]) == (
        household.pk,
        "王秀英",
        "晓光村",
    )
    assert response["Cache-Control"] == "no-store"
    expires = dt.datetime.fromisoformat(out["expires_at"])
    assert dt.timedelta(days=6) < expires - timezone.now() <= dt.timedelta(days=7)
    row = ResidentToken.objects.get()
    assert out["token"] not in row.key_hash and len(row.key_hash) == 64
    assert row.scheme_id == household.scheme_id


def test_a_wrong_card_and_a_wrong_pin_read_the_same_and_five_lock_the_card(household):
    wrong_card = login("ZZZZZZZZZZ", PIN)
    wrong_pins = [login(household.card_code, "999999") for _ in range(5)]
    locked = login(household.card_code, PIN)

    assert assert_error(wrong_card, 401, "login_failed")["message"] == "卡号或密码不对"
    for response in wrong_pins:
        assert assert_error(response, 401, "login_failed")["message"] == "卡号或密码不对"
    assert_error(locked, 429, "locked_out")
    assert ResidentToken.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"card": "A"},
        {"pin": "1"},
        {"card": "", "pin": "1"},
        {"card": "A" * 33, "pin": "1"},
        {"card": "A\x00", "pin": "1"},
        {"card": 12, "pin": "1"},
        {"card": "A", "pin": 246813},
    ],
)
def test_bad_login_bodies_are_422_and_not_counted(household, body):
    before = snapshot()

    assert_error(post(Client(), TOKEN, body), 422, "invalid_input")
    assert snapshot() == before
    assert Household.objects.get(pk=household.pk).pin_failures == 0


def test_a_closed_household_an_expired_token_or_a_new_pin_end_the_token(household, world):
    stale, closed, renewed = (resident_client(household, PIN) for _ in range(3))
    path = "/api/v1/stores"
    ResidentToken.objects.filter(pk=ResidentToken.objects.order_by("pk").first().pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    assert_error(stale.get(path), 401, "not_authenticated")
    assert closed.get(path).status_code == 200
    Household.objects.filter(pk=household.pk).update(status=HouseholdStatus.CLOSED)
    assert_error(closed.get(path), 401, "not_authenticated")
    Household.objects.filter(pk=household.pk).update(status=HouseholdStatus.ACTIVE)
    household_set_pin(actor_id=None, household=household, pin="135792")
    assert_error(renewed.get(path), 401, "not_authenticated")


# --- payment codes ---------------------------------------------------------------------------


def test_a_resident_gets_a_payment_code_for_their_own_household(household, world):
    resident = resident_client(household, PIN)
    neighbour = make_household(world.scheme, world.village_a1, "邻居")

    issued = post(resident, f"/api/v1/households/{household.pk}/payment-codes", {})
    other = post(resident, f"/api/v1/households/{neighbour.pk}/payment-codes", {})
    bad = post(resident, "/api/v1/households/abc/payment-codes", {})

    assert issued.status_code == 201, issued.content
    out = issued.json()
    assert re.fullmatch(r"\d{18}", out["code"])
    assert issued["Cache-Control"] == "no-store"
    left = dt.datetime.fromisoformat(out["expires_at"]) - timezone.now()
    assert dt.timedelta(seconds=55) < left <= dt.timedelta(seconds=60)
    assert out["qr_svg"].startswith("<svg")
    assert PaymentCode.objects.get(code=out["code"]).household_id == household.pk
    assert_error(other, 404, "not_found")
    assert_error(bad, 404, "not_found")
    assert PaymentCode.objects.count() == 1


def test_staff_cannot_fetch_a_residents_payment_code(household, client_for):
    for role in (Role.COUNTY_ADMIN, Role.VILLAGE_ADMIN, Role.MERCHANT_CLERK):
        response = post(client_for(role), f"/api/v1/households/{household.pk}/payment-codes", {})
        assert_error(response, 403, "permission_denied")
    assert PaymentCode.objects.count() == 0


# --- keys: a resident's live apart -------------------------------------------------------------


def test_residents_and_staff_keys_live_apart(household, world, client_for):
    admin = make_staff_store(world)
    neighbour = make_household(world.scheme, world.village_a1, "邻居")
    household_set_pin(actor_id=None, household=neighbour, pin=PIN)
    fund(neighbour, 100_000)
    body = {"items": [{"product": admin["product"], "quantity": 1}]}
    url = f"/api/v1/stores/{admin['store']}/orders"

    mine = post(resident_client(household, PIN), url, body, "same-key")
    theirs = post(resident_client(neighbour, PIN), url, body, "same-key")
    staff = post(
        client_for(Role.COUNTY_ADMIN),
        "/api/v1/ledger/adjustments",
        {"household": household.pk, "points": 1, "reason": "补录"},
        "same-key",
    )

    assert (mine.status_code, theirs.status_code, staff.status_code) == (201, 201, 202)
    assert theirs.get("Idempotency-Replayed") is None
    assert mine.json()["household"] == household.pk
    assert theirs.json()["household"] == neighbour.pk
    assert [Account.objects.get(household=h).held for h in (household, neighbour)] == [500, 500]


def make_staff_store(world) -> dict[str, int]:
    """A store in the resident's township with one product (5 points, 10 in stock)."""
    admin = actor_for_user(make_staff("store_admin", Role.COUNTY_ADMIN, world.county, world.scheme))
    store = store_create(
        actor=admin, scheme_id=world.scheme.pk, region=world.township_a, name="开通镇爱心超市"
    )
    product = product_create(actor=admin, store=store, name="肥皂", price=500)
    stock_receive(actor=admin, product=product, quantity=10)
    return {"store": store.pk, "product": product.pk}


# --- every staff endpoint refuses a resident ------------------------------------------------------

# What a resident token may reach (and what comes back).
RESIDENT_GETS = {"/api/v1/stores", "/api/v1/stores/{store_id}/products", "/api/v1/orders"}
RESIDENT_POSTS = {
    "/api/v1/households/{household_id}/payment-codes",
    "/api/v1/stores/{store_id}/orders",
    "/api/v1/orders/{order_id}/cancel",
    "/api/v1/auth/logout",  # ends the resident's own token(s)
    "/api/v1/auth/logout-all",
}
NO_AUTH = {"/api/v1/auth/token", "/api/v1/auth/resident-token"}


def _operations(method: str) -> list[str]:
    paths = Client().get("/api/openapi.json").json()["paths"]
    return sorted(p for p, ops in paths.items() if method in ops and p not in NO_AUTH)


def _fill(path: str, household: Household, store_id: int) -> str:
    path = path.replace("{household_id}", str(household.pk)).replace("{store_id}", str(store_id))
    return re.sub(r"\{[a-z_]+\}", "1", path)


def test_every_staff_read_refuses_a_resident(db, household, world):
    ids = make_staff_store(world)
    resident = resident_client(household, PIN)
    paths = _operations("get")
    assert len(paths) > 20
    before = spending_snapshot()

    problems = []
    for path in paths:
        response = resident.get(_fill(path, household, ids["store"]))
        status = response.status_code
        if path in RESIDENT_GETS:
            ok = status == 200
        elif path.startswith("/api/v1/lender/"):
            ok = status == 401  # a lender's key only (api/lender.py); any other token is 401
        elif status == 200:
            ok = response["Content-Type"].startswith("application/json") and response.json() == []
        else:
            ok = status in (403, 404, 422) and set(response.json()) == {"error"}
        if not ok:
            problems.append((path, status, response.content[:120]))

    assert problems == []
    assert spending_snapshot() == before


def test_every_staff_write_refuses_a_resident(db, household, world):
    ids = make_staff_store(world)
    resident = resident_client(household, PIN)
    paths = [p for p in _operations("post") if p not in RESIDENT_POSTS]
    assert len(paths) > 20
    before = spending_snapshot()

    problems = []
    for path in paths:
        response = post(resident, _fill(path, household, ids["store"]), {}, new_key())
        if path.startswith("/api/v1/lender/"):  # a lender's key only: any other token is 401
            if response.status_code != 401:
                problems.append((path, response.status_code, response.content[:120]))
            continue
        if not 400 <= response.status_code < 500 or response.status_code == 401:
            problems.append((path, response.status_code, response.content[:120]))

    assert problems == []
    assert {k: v for k, v in spending_snapshot().items() if k != "idempotency"} == {
        k: v for k, v in before.items() if k != "idempotency"
    }


@pytest.mark.parametrize(
    "path,body,status",
    [
        ("/api/v1/ledger/adjustments", {"points": 100, "reason": "自己加分"}, 404),
        ("/api/v1/claims", {"rule": 1, "quantity": 1}, 404),
        (
            "/api/v1/stores/{store_id}/redemptions",
            {"items": [{"product": 1, "quantity": 1}], "assisted_reason": "x"},
            404,
        ),
        ("/api/v1/merchants/1/payments", {"points": 1, "card": "X", "pin": PIN}, 404),
        ("/api/v1/settlements/run", {"date": "2026-01-01"}, 403),
        ("/api/v1/notices/finalize", {}, 403),
    ],
)
def test_staff_writes_with_a_well_formed_body_are_refused_by_scope(
    household, world, path, body, status
):
    ids = make_staff_store(world)
    resident = resident_client(household, PIN)
    before = spending_snapshot()

    response = post(
        resident,
        _fill(path, household, ids["store"]),
        {"household": household.pk, **body},
        new_key(),
    )

    assert_error(response, status)
    assert spending_snapshot() == before
