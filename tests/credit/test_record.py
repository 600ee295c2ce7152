"""The lender's fetch: the record's figures and chain head, one identical 404 for every failure,
a revoke stopping the very next fetch (writing nothing), the household seeing every fetch, and
no ID number, phone or address leaving without its consent line."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.credit.consents import consent_revoke
from civicpoints.credit.lenders import lender_key_issue
from civicpoints.credit.models import Consent, ConsentChannel, ConsentUse, ConsentUseKind
from civicpoints.honours.models import StarRating
from civicpoints.households import idcard
from civicpoints.households.models import Disqualification, Household, HouseholdStatus
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.verify import verify_head
from civicpoints.schemes.scope import actor_for_user
from tests.api.conftest import assert_error
from tests.credit.conftest import PIN, Credit, grant, make_lender
from tests.factories import fund, make_household

ID_NUMBER = idcard.make("22082219800101123")


@pytest.fixture
def home(credit: Credit) -> Household:
    household = make_household(
        credit.world.scheme,
        credit.world.village_a1,
        "张三",
        phone="13912345678",
        address="晓光村三组12号",
        id_number=ID_NUMBER,
    )
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    return household


def other_home(credit: Credit, name: str, village=None) -> Household:
    household = make_household(credit.world.scheme, village or credit.world.village_a1, name)
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    return household


def text(response) -> str:
    """The answer as a reader sees it (the JSON escapes non-ASCII)."""
    return json.dumps(response.json(), ensure_ascii=False)


def fetch(credit: Credit, ref: str, client: Client | None = None):
    return (client or credit.lender_client()).get(f"/api/v1/lender/consents/{ref}")


def uses() -> tuple[int, int]:
    return ConsentUse.objects.count(), AuditEvent.objects.count()


def test_the_record_has_the_figures_and_a_head_that_verifies(credit, home):
    fund(home, 12750)
    fund(home, 2500)
    chain_follow(scheme_id=credit.world.scheme.pk, sweep=True)
    today = timezone.localdate()
    Disqualification.objects.create(
        scheme=credit.world.scheme,
        household=home,
        reason="邻居纠纷（不外传）",
        starts_on=today - dt.timedelta(days=30),
        ends_on=today - dt.timedelta(days=1),
    )
    StarRating.objects.create(
        scheme=credit.world.scheme, household=home, year=today.year - 1, stars=4, points=80000
    )
    consent = grant(credit, home)

    response = fetch(credit, consent.ref)

    assert response.status_code == 200, response.content
    record = response.json()
    assert record["household"] == {
        "head_name": "张三",
        "village": {"code": "220822100201", "name": "晓光村"},
    }
    this_year = record["years"][-1]
    assert [y["year"] for y in record["years"]] == list(range(today.year - 3, today.year + 1))
    assert this_year["net_total"] == "152.50"
    assert record["owed"] == "0.00"
    assert record["disqualifications"] == [
        {
            "starts_on": (today - dt.timedelta(days=30)).isoformat(),
            "ends_on": (today - dt.timedelta(days=1)).isoformat(),
        }
    ]
    assert "邻居" not in text(response)
    assert record["stars"] == [{"year": today.year - 1, "stars": 4, "points": "800.00"}]
    assert record["consent"]["ref"] == consent.ref and record["consent"]["fields"] == []
    head = record["ledger"]
    assert head["seq"] == 2
    assert verify_head(seq=head["seq"], hash=head["hash"]).ok


def test_a_revoke_stops_the_next_fetch_and_it_writes_nothing(credit, home):
    consent = grant(credit, home)
    assert fetch(credit, consent.ref).status_code == 200
    consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)
    before = uses()

    refused = fetch(credit, consent.ref)

    assert_error(refused, 404, "not_found")
    assert uses() == before


def test_every_failure_is_the_same_404(credit, home):
    consent = grant(credit, home)
    other = make_lender(credit.world, credit.admin, name="吉林银行", code="91350100M000100Y43")
    raw, _ = lender_key_issue(actor=actor_for_user(credit.admin), lender=other)
    expired = grant(credit, other_home(credit, "李四"))
    Consent.objects.filter(pk=expired.pk).update(ends_at=timezone.now())
    closed_home = other_home(credit, "王五")
    closed = grant(credit, closed_home)
    Household.objects.filter(pk=closed_home.pk).update(status=HouseholdStatus.CLOSED)
    before = uses()

    bodies = [
        fetch(credit, "0" * 16),
        fetch(credit, "not-a-ref"),
        fetch(credit, "x" * 300),
        fetch(credit, consent.ref, Client(HTTP_AUTHORIZATION=f"Bearer {raw}")),
        fetch(credit, expired.ref),
        fetch(credit, closed.ref),
    ]

    assert {r.status_code for r in bodies} == {404}
    assert len({r.content for r in bodies}) == 1
    assert uses() == before
    assert fetch(credit, consent.ref.lower()).status_code == 200  # as people type it


def test_the_household_sees_every_fetch(credit, home):
    consent = grant(credit, home, fields=["phone"])
    for _ in range(3):
        assert fetch(credit, consent.ref).status_code == 200
    fetches = ConsentUse.objects.filter(kind=ConsentUseKind.RECORD_FETCH)
    assert fetches.count() == 3 and all(u.fields == ["phone"] for u in fetches)
    audit = AuditEvent.objects.filter(action=AuditAction.CREDIT_RECORD_FETCH)
    assert audit.count() == 3 and home.phone not in str(list(audit.values_list("detail")))

    phone = Client()
    phone.post("/m/login/", {"card": home.card_code, "pin": PIN})
    page = phone.get("/m/credit/").content.decode()
    assert page.count("通榆农商银行 查看了积分记录（含手机号）") == 3


def test_the_consent_list_and_its_bad_queries(credit, home):
    consent = grant(credit, home, fields=["address"])
    grant(credit, other_home(credit, "赵六", credit.world.village_a2))
    client = credit.lender_client()
    first = client.get("/api/v1/lender/consents?limit=1").json()
    assert first["items"][0]["ref"] == consent.ref
    assert first["items"][0]["fields"] == ["address"]
    assert "张三" not in str(first)
    second = client.get(f"/api/v1/lender/consents?limit=1&cursor={first['next_cursor']}").json()
    assert len(second["items"]) == 1 and second["items"][0]["ref"] != consent.ref
    before = uses()
    for query in ("limit=0", "limit=1000", "limit=x", "cursor=abc", "cursor=-1", "status=all"):
        assert_error(client.get(f"/api/v1/lender/consents?{query}"), 422, "invalid_input")
    assert uses() == before


@pytest.mark.parametrize(
    "fields",
    [
        list(c)
        for n in range(4)
        for c in itertools.combinations(["id_number", "phone", "address"], n)
    ],
)
def test_no_personal_data_leaves_without_its_line(credit, home, fields):
    consent = grant(credit, home, fields=fields)
    body = text(fetch(credit, consent.ref))
    assert (ID_NUMBER in body) == ("id_number" in fields)
    assert (ID_NUMBER[-6:] in body) == ("id_number" in fields)
    assert ("13912345678" in body) == ("phone" in fields)
    assert ("三组12号" in body) == ("address" in fields)
