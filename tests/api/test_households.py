"""Households through the API: create, search (name, every pinyin reading, phone, card), detail, history."""

from __future__ import annotations

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.households.idcard import make as make_id
from civicpoints.households.models import Household
from civicpoints.ledger.services import hold, household_account
from tests.api.conftest import assert_error, snapshot
from tests.factories import fund, make_household

HOUSEHOLDS = "/api/v1/households"
ID_NUMBER = make_id("22082219800101001")  # a valid check digit


def create(client, **fields):
    return client.post(HOUSEHOLDS, fields, content_type="application/json")


def search(client, q, **params):
    return client.get(HOUSEHOLDS, {"q": q, **params})


def test_village_admin_creates_a_household_in_their_village(world, village_admin):
    before = snapshot()

    response = create(
        village_admin,
        village=world.village_a1.pk,
        head_name="  曾国涛 ",
        id_number=ID_NUMBER.lower(),
        phone="１３８ 1234-5678",  # full-width digits, as a Chinese IME may type them
        address="晓光村三组12号",
        size=4,
    )

    assert response.status_code == 201, response.content
    body = response.json()
    household = Household.objects.get(pk=body["id"])
    assert body == {
        "id": household.pk,
        "village": world.village_a1.pk,
        "village_name": "晓光村",
        "head_name": "曾国涛",
        "phone": "13812345678",
        "status": "active",
        "card_code": household.card_code,
        "balance": 0,
        "held": 0,
        "available": 0,
        "address": "晓光村三组12号",
        "size": 4,
        "members": [
            {
                "id": household.members.get().pk,
                "name": "曾国涛",
                "relation": "head",
                "id_number": ID_NUMBER[:6] + "********" + ID_NUMBER[-4:],
                "phone": "138****5678",
            }
        ],
    }
    assert household.scheme_id == world.scheme.pk
    after = snapshot()
    assert (after["households"], after["members"], after["audit"]) == (
        before["households"] + 1,
        before["members"] + 1,
        before["audit"] + 1,
    )
    assert (after["postings"], after["entries"]) == (before["postings"], before["entries"])
    audit = AuditEvent.objects.latest("pk")
    assert (audit.action, audit.object_id, audit.scheme_id) == (
        "household.create",
        str(household.pk),
        world.scheme.pk,
    )
    # The plain ID number is stored nowhere in clear text.
    assert ID_NUMBER not in str(list(household.members.values()))


def test_same_id_number_twice_is_409_duplicate(world, village_admin):
    first = create(village_admin, village=world.village_a1.pk, head_name="甲", id_number=ID_NUMBER)
    assert first.status_code == 201
    before = snapshot()

    response = create(
        village_admin, village=world.village_a1.pk, head_name="乙", id_number=ID_NUMBER.lower()
    )

    error = assert_error(response, 409, "duplicate")
    assert error["detail"] == {"field": "id_number"}
    assert snapshot() == before


@pytest.mark.parametrize("village", ["village_a2", "village_b1", "other_village"])
def test_village_outside_scope_is_404(world, village_admin, village):
    before = snapshot()

    response = create(village_admin, village=getattr(world, village).pk, head_name="王五")

    assert_error(response, 404, "not_found")
    assert snapshot() == before


def test_region_that_is_not_a_village_is_422(world, county_admin):
    before = snapshot()

    response = create(county_admin, village=world.township_a.pk, head_name="王五")

    assert_error(response, 422, "invalid_input")
    assert snapshot() == before


@pytest.mark.parametrize(
    "field,value",
    [
        ("id_number", "220822198001010010"),  # wrong check digit
        ("id_number", "22082219800101001"),
        ("phone", "12345"),
        ("phone", "+1 415 555 0100"),
        ("head_name", "   "),
        ("status", "gone"),
        ("size", 0),
        ("size", 100),
    ],
)
def test_invalid_household_fields_are_422(world, village_admin, field, value):
    before = snapshot()

    response = create(
        village_admin, **{"village": world.village_a1.pk, "head_name": "王五", field: value}
    )

    assert_error(response, 422, "invalid_input")
    assert snapshot() == before


# --- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,query",
    [
        ("曾国涛", "zgt"),
        ("曾国涛", "cgt"),
        ("曾国涛", "ZGT"),
        ("曾国涛", "cengguotao"),
        ("曾国涛", "zengg"),
        ("单田芳", "dtf"),
        ("单田芳", "stf"),
        ("解小东", "xxd"),
        ("解小东", "jxd"),
        ("仇大海", "qdh"),
        ("仇大海", "cdh"),
        ("朴志勇", "pzy"),
        ("曾国涛", "曾国"),
        ("曾国涛", "国涛"),
    ],
)
def test_search_by_name_and_every_pinyin_reading(world, village_admin, name, query):
    wanted = make_household(world.scheme, world.village_a1, name)
    make_household(world.scheme, world.village_a1, "李四")

    response = search(village_admin, query)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [wanted.pk]
    assert response.json()[0]["head_name"] == name


@pytest.mark.parametrize("query", ["xgt", "zg t", "zzz", "李"])
def test_search_finds_nothing_for_other_names(world, village_admin, query):
    make_household(world.scheme, world.village_a1, "曾国涛")

    response = search(village_admin, query)

    assert response.status_code == 200
    assert response.json() == []


def test_search_by_phone_digits_masks_the_phone(world, village_admin):
    wanted = make_household(world.scheme, world.village_a1, "张三", phone="13812345678")
    make_household(world.scheme, world.village_a1, "李四", phone="13900001111")

    for digits in ["5678", "1234567", "13812345678"]:
        response = search(village_admin, digits)
        assert response.status_code == 200
        rows = response.json()
        assert [row["id"] for row in rows] == [wanted.pk], digits
        assert rows[0]["phone"] == "138****5678"
    # Fewer than four digits match no phone (too broad to be useful, too easy to enumerate).
    assert search(village_admin, "567").json() == []


def test_search_by_card_code(world, village_admin):
    wanted = make_household(world.scheme, world.village_a1, "张三")
    make_household(world.scheme, world.village_a1, "李四")

    for code in [wanted.card_code, wanted.card_code.lower()]:
        response = search(village_admin, code)
        assert [row["id"] for row in response.json()] == [wanted.pk], code


def test_search_by_full_id_number(world, village_admin):
    wanted = make_household(world.scheme, world.village_a1, "张三", id_number=ID_NUMBER)

    response = search(village_admin, ID_NUMBER)

    assert [row["id"] for row in response.json()] == [wanted.pk]


def test_search_rows_show_balance_and_no_secrets(world, village_admin):
    h = make_household(
        world.scheme, world.village_a1, "张三", phone="13812345678", id_number=ID_NUMBER
    )
    fund(h, 12345)

    (row,) = search(village_admin, "张三").json()

    assert row == {
        "id": h.pk,
        "village": world.village_a1.pk,
        "village_name": "晓光村",
        "head_name": "张三",
        "phone": "138****5678",
        "status": "active",
        "card_code": h.card_code,
        "balance": 123.45,
        "available": 123.45,
    }


def test_search_limit_and_order(world, village_admin):
    made = [make_household(world.scheme, world.village_a1, f"王{i}") for i in range(5)]

    response = search(village_admin, "", limit=3)

    assert [row["id"] for row in response.json()] == [h.pk for h in made[:3]]


# --- detail and history -----------------------------------------------------------------


def test_detail_shows_balance_held_and_available(world, village_admin):
    h = make_household(
        world.scheme, world.village_a1, "张三", phone="13812345678", id_number=ID_NUMBER
    )
    fund(h, 12750)
    hold(account=household_account(household=h), amount=2025, memo="app order")

    response = village_admin.get(f"{HOUSEHOLDS}/{h.pk}")

    assert response.status_code == 200
    body = response.json()
    assert (body["balance"], body["held"], body["available"]) == (127.5, 20.25, 107.25)
    assert body["members"][0]["id_number"] == ID_NUMBER[:6] + "********" + ID_NUMBER[-4:]
    assert ID_NUMBER not in response.content.decode()
    assert body["members"][0]["phone"] == "138****5678"


def test_entries_newest_first_with_balance_after_and_memo(world, village_admin):
    h = make_household(world.scheme, world.village_a1, "张三")
    first = fund(h, 1000, memo="清理垃圾")
    second = fund(h, 250, memo="志愿服务")
    third = fund(h, 5, memo="捡拾农药瓶")

    response = village_admin.get(f"{HOUSEHOLDS}/{h.pk}/entries")

    assert response.status_code == 200
    rows = response.json()
    assert [
        (r["posting"], r["points"], r["balance_after"], r["memo"], r["kind"]) for r in rows
    ] == [
        (third.pk, 0.05, 12.55, "捡拾农药瓶", "award"),
        (second.pk, 2.5, 12.5, "志愿服务", "award"),
        (first.pk, 10.0, 10.0, "清理垃圾", "award"),
    ]
    page = village_admin.get(f"{HOUSEHOLDS}/{h.pk}/entries", {"limit": 1, "offset": 1}).json()
    assert [r["posting"] for r in page] == [second.pk]


def test_entries_of_a_new_household_are_empty(world, village_admin):
    h = make_household(world.scheme, world.village_a1, "张三")

    response = village_admin.get(f"{HOUSEHOLDS}/{h.pk}/entries")

    assert response.status_code == 200
    assert response.json() == []
