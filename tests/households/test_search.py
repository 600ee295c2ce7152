"""Household search (issue 10): every kind of query on both databases, the search columns kept
by the services, and on PostgreSQL a plan that uses the indexes on a never-analysed table."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicpoints.households import search
from civicpoints.households.idcard import make as make_id
from civicpoints.households.models import Household, Relation
from civicpoints.households.search import name_grams, search_fields
from civicpoints.households.selectors import household_search, household_search_ids
from civicpoints.households.services import (
    NewHousehold,
    NewMember,
    household_search_refresh,
    households_bulk_create,
    member_add,
)
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, actor_for_user
from civicpoints.schemes.services import role_grant
from tests.factories import make_household, make_staff

SPOUSE_ID = make_id("22082219820304002")


@dataclass
class County:
    actor: Actor
    zeng: Household  # 曾国涛, with 李秀英 (spouse) and 曾小明 (child)
    wang: Household  # 王建军, with 王秀兰 (spouse)
    li: Household  # 李四
    bulk: Household  # 张桂芳, with 刘海 (spouse), made by the bulk path


@pytest.fixture
def county(world) -> County:
    admin = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    zeng = make_household(world.scheme, world.village_a1, "曾国涛", phone="13812345678")
    member_add(
        actor_id=None,
        household=zeng,
        name="李秀英",
        relation=Relation.SPOUSE,
        phone="15900001111",
        id_number=SPOUSE_ID,
    )
    member_add(actor_id=None, household=zeng, name="曾小明", relation=Relation.CHILD)
    wang = make_household(world.scheme, world.village_a2, "王建军", phone="13700002222")
    member_add(actor_id=None, household=wang, name="王秀兰", relation=Relation.SPOUSE)
    li = make_household(world.scheme, world.village_b1, "李四")
    (bulk_id,) = households_bulk_create(
        actor_id=None,
        scheme=world.scheme,
        rows=[
            NewHousehold(
                village_id=world.village_a1.pk,
                head_name="张桂芳",
                phone="13600003333",
                members=[NewMember(name="刘海", relation=Relation.SPOUSE, phone="18800004444")],
            )
        ],
    )
    # The same names in another scheme are never found.
    other = make_household(world.other_scheme, world.other_village, "曾国涛", phone="13812345678")
    member_add(actor_id=None, household=other, name="李秀英", relation=Relation.SPOUSE)
    return County(
        actor=actor_for_user(admin),
        zeng=zeng,
        wang=wang,
        li=li,
        bulk=Household.objects.get(pk=bulk_id),
    )


def found(county: County, query: str, **kw: int) -> list[str]:
    return [h.head_name for h in household_search(county.actor, query, **kw)]


QUERIES = [
    # One character: a head's or a member's, each household once, in id order.
    ("曾", ["曾国涛"]),
    ("王", ["王建军"]),  # the head and a member match: listed once
    ("秀", ["曾国涛", "王建军"]),  # members only (李秀英, 王秀兰)
    ("李", ["曾国涛", "李四"]),  # a member (李秀英) and a head
    ("海", ["张桂芳"]),  # a member of a household made by the bulk path
    ("赵", []),
    # Two characters.
    ("国涛", ["曾国涛"]),
    ("秀英", ["曾国涛"]),
    ("李四", ["李四"]),
    ("小明", ["曾国涛"]),
    ("刘海", ["张桂芳"]),
    ("涛李", []),  # across two names of one household: no name holds it
    ("国强", []),
    # Three characters and more.
    ("曾国涛", ["曾国涛"]),
    ("李秀英", ["曾国涛"]),  # a member's whole name finds the household
    ("王秀兰", ["王建军"]),
    ("张桂芳", ["张桂芳"]),
    ("涛李秀", []),
    ("曾国强", []),
    ("国涛曾", []),
    # Pinyin initials and full pinyin (the head's name), every reading of the surname.
    ("zgt", ["曾国涛"]),
    ("cgt", ["曾国涛"]),
    ("ZGT", ["曾国涛"]),
    ("zengguotao", ["曾国涛"]),
    ("zg", ["曾国涛", "张桂芳"]),
    ("wjj", ["王建军"]),
    ("zgf", ["张桂芳"]),
    ("xgt", []),
    # Phone digits: four or more, anywhere in the head's or a member's number.
    ("5678", ["曾国涛"]),
    ("13812345678", ["曾国涛"]),
    ("00001111", ["曾国涛"]),  # the spouse's number
    ("15900001111", ["曾国涛"]),
    ("2222", ["王建军"]),
    ("0000", ["曾国涛", "王建军", "张桂芳"]),
    ("4444", ["张桂芳"]),  # a member's number through the bulk path
    ("567", []),  # fewer than four digits match no phone
    ("99999", []),
]


@pytest.mark.parametrize("query,heads", QUERIES)
def test_each_kind_of_query(county, query, heads):
    assert found(county, query) == heads


def test_sqlite_without_fts5_finds_the_same(county, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: a build without FTS5 reads the search columns alone")
    monkeypatch.setattr(search, "_fts_ready", lambda alias: False)

    for query, heads in QUERIES:
        assert found(county, query) == heads, query
    assert found(county, county.zeng.card_code.lower()) == ["曾国涛"]


def test_card_codes_and_id_numbers(county):
    for h in (county.zeng, county.wang, county.bulk):
        assert found(county, h.card_code) == [h.head_name]
        assert found(county, h.card_code.lower()) == [h.head_name]
    # A member's ID number finds the household (the spouse's, not the head's).
    assert found(county, SPOUSE_ID) == ["曾国涛"]
    assert found(county, make_id("22082219900101003")) == []


def test_a_longer_query_is_checked_whole(county, world):
    sun = make_household(world.scheme, world.village_b1, "孙建军")
    member_add(actor_id=None, household=sun, name="军华", relation=Relation.CHILD)

    # Each pair of 建军华 is in one of the names (建军, 军华); the three together in none.
    assert found(county, "建军华") == []
    assert found(county, "孙建军") == ["孙建军"]
    assert found(county, "建军") == ["王建军", "孙建军"]


def test_odd_queries_find_nothing_and_empty_lists_in_id_order(county):
    for query in ["%", "_", "%%", "\\", "曾%", "国_", "a b", "zg t", "😀", "𠮷", "曾\n李"]:
        assert found(county, query) == [], query
    assert found(county, "") == ["曾国涛", "王建军", "李四", "张桂芳"]
    assert found(county, "  ", limit=2) == ["曾国涛", "王建军"]
    assert found(county, "李", limit=1) == ["曾国涛"]


def test_a_search_stays_inside_each_actor_scope(county, world):
    def search_as(user, query):
        return [h.head_name for h in household_search(actor_for_user(user), query)]

    village = make_staff("village", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    township = make_staff("township", Role.TOWNSHIP_ADMIN, world.township_b, world.scheme)
    clerk = make_staff("till", Role.MERCHANT_CLERK, world.county, world.scheme)
    two = make_staff("two", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    role_grant(user=two, scheme=world.scheme, region=world.village_b1, role=Role.GRID_WORKER)
    elsewhere = make_staff("other", Role.COUNTY_ADMIN, world.other_county, world.other_scheme)

    assert search_as(village, "李") == ["曾国涛"]
    assert search_as(village, "0000") == ["曾国涛", "张桂芳"]
    assert search_as(township, "李") == ["李四"]
    assert search_as(two, "李") == ["曾国涛", "李四"]
    assert search_as(clerk, "李") == []  # merchants' clerks never browse households
    assert search_as(elsewhere, "李秀英") == ["曾国涛"]  # the other scheme's own 曾国涛
    assert search_as(elsewhere, "王") == []
    assert search_as(village, county.wang.card_code) == []


def test_the_staff_page_pages_and_counts_a_search(county, client, world):
    for i in range(55):
        make_household(world.scheme, world.village_a2, f"秀{i:02d}")
    client.force_login(make_staff("c2", Role.COUNTY_ADMIN, world.county, world.scheme))

    first = client.get("/households/", {"q": "秀"}).content.decode()
    second = client.get("/households/", {"q": "秀", "page": "2"}, HTTP_HX_REQUEST="true")

    # 曾国涛 (李秀英) and 王建军 (王秀兰) first, in id order, then 秀00 … 秀47; then 秀48 … 秀54.
    assert "共 57 条" in first
    assert first.index(f'href="/households/{county.zeng.pk}/"') < first.index(
        f'href="/households/{county.wang.pk}/"'
    )
    assert ">秀47<" in first and ">秀48<" not in first
    page2 = second.content.decode()
    assert ">秀48<" in page2 and ">秀54<" in page2 and ">曾国涛<" not in page2


def test_a_new_member_and_an_edited_name_are_found(county):
    assert found(county, "春花") == []

    member_add(
        actor_id=None,
        household=county.li,
        name="赵春花",
        relation=Relation.SPOUSE,
        phone="13500005555",
    )

    assert found(county, "春花") == ["李四"]
    assert found(county, "赵") == ["李四"]
    assert found(county, "赵春花") == ["李四"]
    assert found(county, "5555") == ["李四"]

    # The admin edits the head's name and phone (HouseholdAdmin.save_model refreshes).
    Household.objects.filter(pk=county.li.pk).update(head_name="李大海", phone="13911112222")
    household_search_refresh(household_ids=[county.li.pk])

    assert found(county, "大海") == ["李大海"]
    assert found(county, "ldh") == ["李大海"]
    assert found(county, "1111") == ["曾国涛", "李大海"]


def test_the_admin_keeps_the_search_columns(county, client, world):
    from civicpoints.schemes.models import User

    root = User.objects.create_superuser(username="root", password="x" * 20)
    client.force_login(root)
    url = f"/admin/households/household/{county.li.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = {
        "head_name": "李大海",
        "address": "",
        "phone": "13911112222",
        "size": "1",
        "status": "active",
        "members-TOTAL_FORMS": "1",
        "members-INITIAL_FORMS": "1",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
        "members-0-id": str(county.li.members.get().pk),
        "members-0-household": str(county.li.pk),
    }

    response = client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert found(county, "大海") == ["李大海"]
    assert found(county, "1111") == ["曾国涛", "李大海"]


def test_search_fields_hold_every_name_and_number():
    fields = search_fields(
        head_name="曾国涛",
        phone="13812345678",
        members=[("曾国涛", "13812345678"), ("李秀英", "15900001111"), ("曾小明", "")],
    )

    assert fields["search_names"] == "曾国涛\n李秀英\n曾小明"
    assert fields["search_phones"] == "13812345678\n15900001111"
    assert fields["search_terms"].startswith(
        " 曾 国 涛 曾国 国涛 李 秀 英 李秀 秀英 小 明 曾小 小明 p:z p:zg p:zgt p:ze p:zen p:zeng "
    )
    # Every start of every reading of the head's name (曾 is zeng and ceng), once each.
    terms = fields["search_terms"].split()
    for term in ["p:zgt", "p:zengguotao", "p:c", "p:cgt", "p:cengguo"]:
        assert terms.count(term) == 1, term
    assert "p:lxy" not in terms  # pinyin is the head's
    assert fields["search_keys"].startswith(" zgt zengguotao ")
    # White space inside a name makes no gram (a query is stripped, so none has one).
    assert name_grams(["王 国"]) == ["王", "国"]


# --- PostgreSQL: the plan on a never-analysed table ------------------------------------------

FILLER = 52_767  # the demo county's households


def _never_analysed_copy(county: County) -> dict[str, str]:
    """A temporary ``households_household`` (it hides the real one for this session's
    unqualified names) with the real table's columns, constraints and indexes, the test's
    households and the demo county's number more, never vacuumed or analysed. Index name -> definition."""
    h = county.zeng
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE households_household"
            " (LIKE public.households_household INCLUDING ALL) ON COMMIT DROP"
        )
        cursor.execute("INSERT INTO households_household SELECT * FROM public.households_household")
        # As wide as the demo county's rows (about 475 bytes), so the table has as many pages.
        cursor.execute(
            "INSERT INTO households_household (id, scheme_id, village_id, head_name, address,"
            " phone, size, status, card_code, pin_hash, pin_failures, login_epoch, search_keys,"
            " search_names, search_terms, search_phones, created_at)"
            " SELECT 1000000 + i, %s, %s, '压测户' || i, '开通镇晓光村1组1号',"
            " '139' || lpad(i::text, 8, '0'), 1, 'active', 'T' || i, repeat('h', 103), 0, 0,"
            " ' ych yacehu ', '压测户' || i || E'\\n李秀英',"
            " ' 压 测 户 压测 测户 李 秀 英 李秀 秀英 p:y p:yc p:ych p:ya p:yac p:yace p:yaceh p:yacehu ',"
            " '139' || lpad(i::text, 8, '0') || E'\\n158' || lpad(i::text, 8, '0'), now()"
            " FROM generate_series(1, %s) AS i",
            [h.scheme_id, h.village_id, FILLER],
        )
        cursor.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = pg_my_temp_schema()::regnamespace::text"
        )
        assert cursor.fetchone() == (0,)  # no column statistics: never analysed
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = pg_my_temp_schema()::regnamespace::text"
        )
        return dict(cursor.fetchall())


def _indexes_used(plan: str, indexes: dict[str, str]) -> list[str]:
    names = re.findall(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan) (?:using|on) (\w+)", plan)
    return [indexes.get(n, n) for n in names]


@pytest.mark.parametrize(
    "query,index",
    [
        ("王", "string_to_array(search_terms"),
        ("国涛", "string_to_array(search_terms"),
        ("曾国涛", "string_to_array(search_terms"),
        ("李秀英", "string_to_array(search_terms"),
        ("zgt", "string_to_array(search_terms"),
        ("z", "string_to_array(search_terms"),
        ("5678", "search_phones gin_trgm_ops"),
        ("13812345678", "search_phones gin_trgm_ops"),
        ("CARD", "btree (card_code)"),
        ("ID", "households_member_id_number_digest"),
    ],
)
def test_the_plan_uses_the_indexes_on_a_never_analysed_table(
    county, world, postgres_only, query, index
):
    indexes = _never_analysed_copy(county)
    query = {"CARD": county.zeng.card_code, "ID": SPOUSE_ID}.get(query, query)
    village = actor_for_user(
        make_staff("village", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    )

    for actor in (county.actor, village):
        # The API's page of rows; the staff page's count of every match.
        plans = [household_search(actor, query).explain()]
        with CaptureQueriesContext(connection) as sent:
            household_search_ids(actor, query, limit=100_000).count()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sent.captured_queries[-1]["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))

        for plan in plans:
            assert any(index in used for used in _indexes_used(plan, indexes)), plan
            assert "Seq Scan on households_household" not in plan, plan
    # The copy answers (it holds the real rows too).
    assert list(household_search(county.actor, query))
