"""Opening stores over HTTP (``POST /api/v1/stores``): county stores for the county admin only,
chosen townships, clerks named by id or username; ``POST /api/v1/merchants`` names cashiers.
Every bad field is a 422 naming the field, with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civicpoints.households.services import household_set_pin
from civicpoints.merchants.models import Merchant
from civicpoints.schemes.models import Role, User
from civicpoints.stores.models import Store
from tests.api.conftest import assert_error, snapshot
from tests.api.spending import post, resident_client
from tests.factories import World, api_client, make_household, make_staff
from tests.stores.conftest import PIN, build_shop

pytestmark = pytest.mark.django_db


def written() -> dict[str, Any]:
    """Everything opening a store or signing a merchant writes."""
    return {
        **snapshot(),
        "stores": sorted(Store.objects.values_list("pk", flat=True)),
        "store_clerks": Store.clerks.through.objects.count(),
        "served": Store.served_townships.through.objects.count(),
        "merchants": Merchant.objects.count(),
        "cashiers": Merchant.clerks.through.objects.count(),
    }


@pytest.fixture
def staff(world: World) -> dict[str, User]:
    return {
        "county": make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme),
        "township": make_staff("township", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme),
        "auditor": make_staff("auditor", Role.AUDITOR, world.county, world.scheme),
        "clerk_a": make_staff("clerk_a", Role.STORE_CLERK, world.village_a1, world.scheme),
        "clerk_b": make_staff("clerk_b", Role.STORE_CLERK, world.township_b, world.scheme),
        "cashier": make_staff("cashier", Role.MERCHANT_CLERK, world.township_a, world.scheme),
        "grid": make_staff("grid", Role.GRID_WORKER, world.village_a1, world.scheme),
        "foreign_clerk": make_staff(
            "foreign_clerk", Role.STORE_CLERK, world.other_village, world.other_scheme
        ),
    }


def county_store(world: World, **extra: Any) -> dict[str, Any]:
    return {"name": "通榆县积分超市", "region": world.county.pk, **extra}


def test_a_county_admin_opens_a_county_store_serving_two_townships(world, staff):
    client = api_client(staff["county"])

    response = post(
        client,
        "/api/v1/stores",
        county_store(
            world,
            served_townships=[world.township_a.pk, world.township_b.pk],
            clerks=["clerk_a", staff["clerk_b"].pk],
            window_kind="weekdays",
            window_weekdays=[5, 2],
            return_days=3,
        ),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    store = Store.objects.get()
    assert body["id"] == store.pk
    assert body["region"] == world.county.pk
    assert body["region_level"] == 3
    assert body["served_townships"] == sorted([world.township_a.pk, world.township_b.pk])
    assert body["window_kind"] == "weekdays"
    assert body["return_days"] == 3
    assert store.window_weekdays == "2,5"
    assert sorted(store.clerks.values_list("username", flat=True)) == ["clerk_a", "clerk_b"]
    assert sorted(store.served_townships.values_list("pk", flat=True)) == sorted(
        [world.township_a.pk, world.township_b.pk]
    )
    listed = client.get("/api/v1/stores").json()
    assert [s["id"] for s in listed] == [store.pk]


def test_a_county_store_without_townships_serves_the_whole_county(world, staff):
    response = post(api_client(staff["county"]), "/api/v1/stores", county_store(world))

    assert response.status_code == 201
    assert response.json()["served_townships"] == []
    assert response.json()["region_level"] == 3


def test_a_township_admin_cannot_open_a_county_store(world, staff):
    client = api_client(staff["township"])
    before = written()

    response = post(client, "/api/v1/stores", county_store(world))

    error = assert_error(response, 422, "invalid_input")
    assert error["detail"]["field"] == "region"
    assert error["message"] == "请选择您管辖范围内的县、乡镇或村"
    assert written() == before
    # Their own township is theirs to open a store in.
    own = post(client, "/api/v1/stores", {"name": "开通镇超市", "region": world.township_a.pk})
    assert own.status_code == 201
    assert own.json()["region_level"] == 4


def test_an_auditor_reads_but_opens_no_store(world, staff):
    auditor = api_client(staff["auditor"])
    before = written()

    response = post(auditor, "/api/v1/stores", county_store(world))

    assert_error(response, 403, "permission_denied")
    assert written() == before


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"clerks": ["nobody"]}, "clerks", "不是您管辖范围内的超市店员：nobody"),
        ({"clerks": ["grid"]}, "clerks", "不是您管辖范围内的超市店员：grid"),
        ({"clerks": ["cashier"]}, "clerks", "不是您管辖范围内的超市店员：cashier"),
        ({"clerks": ["foreign_clerk"]}, "clerks", "不是您管辖范围内的超市店员：foreign_clerk"),
        ({"clerks": [999_999]}, "clerks", "不是您管辖范围内的超市店员：999999"),
        ({"clerks": ["clerk_a", "ghost"]}, "clerks", "不是您管辖范围内的超市店员：ghost"),
        ({"served_townships": ["village_a1"]}, "served_townships", "不是通榆县下的乡镇"),
        ({"served_townships": ["other_county"]}, "served_townships", "请选择您管辖范围内的"),
        ({"region": "other_county"}, "region", "请选择您管辖范围内的县、乡镇或村"),
        ({"region": 999_999}, "region", "请选择您管辖范围内的县、乡镇或村"),
        ({"name": "  "}, "name", "不能为空"),
        ({"window_kind": "weekdays"}, "window_weekdays", "开放的星期应为 1-7"),
        ({"window_kind": "dates"}, "window_dates", "请至少填写一个兑换日期"),
        ({"window_weekdays": [8]}, "window_weekdays.0", "不能大于 7"),
        ({"clerks": [True]}, "clerks.0", "应为用户 id（数字）或用户名（文字）"),
        ({"clerks": [""]}, "clerks.0", "应为用户 id（数字）或用户名（文字）"),
        ({"kind": "shop"}, "kind", "不是允许的值"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_written(world, staff, change, field, message):
    regions = {"village_a1": world.village_a1.pk, "other_county": world.other_county.pk}
    body = county_store(world)
    for key, value in change.items():
        if key == "served_townships":
            value = [regions[v] for v in value]
        elif key == "region" and isinstance(value, str):
            value = regions[value]
        body[key] = value
    client = api_client(staff["county"])
    before = written()

    response = post(client, "/api/v1/stores", body)

    error = assert_error(response, 422, "invalid_input")
    fields = [e["field"] for e in error["detail"].get("errors", [])] or [error["detail"]["field"]]
    assert field in fields, error
    assert message in error["message"] + str(error["detail"]), error
    assert written() == before


def test_townships_are_only_chosen_for_a_county_store(world, staff):
    client = api_client(staff["county"])
    before = written()

    response = post(
        client,
        "/api/v1/stores",
        {
            "name": "开通镇超市",
            "region": world.township_a.pk,
            "served_townships": [world.township_b.pk],
        },
    )

    error = assert_error(response, 422, "invalid_input")
    assert error["detail"]["field"] == "served_townships"
    assert error["message"] == "只有县级超市可以选择服务的乡镇"
    assert written() == before


def test_a_resident_sees_the_county_store_only_where_it_serves(world, staff):
    made = post(
        api_client(staff["county"]),
        "/api/v1/stores",
        county_store(world, served_townships=[world.township_b.pk]),
    ).json()
    inside = make_household(world.scheme, world.village_b1, "兴盛村户")
    outside = make_household(world.scheme, world.village_a1, "晓光村户")
    for h in (inside, outside):
        household_set_pin(actor_id=None, household=h, pin="246813")
        h.refresh_from_db()

    seen_inside = resident_client(inside, "246813").get("/api/v1/stores").json()
    seen_outside = resident_client(outside, "246813").get("/api/v1/stores").json()

    assert [s["id"] for s in seen_inside] == [made["id"]]
    assert seen_outside == []
    products = resident_client(outside, "246813").get(f"/api/v1/stores/{made['id']}/products")
    assert_error(products, 404, "not_found")


# --- merchants name their cashiers -----------------------------------------------------------


def merchant_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "legal_name": "通榆县惠民超市有限公司",
        "shop_name": "惠民超市",
        "bank_name": "中国农业银行通榆支行",
        "account_name": "通榆县惠民超市有限公司",
        "bank_account": "6228480123456789012",
        "regions": [world.county.pk],
        **extra,
    }


def test_a_merchant_is_signed_with_its_cashiers_by_name_or_id(world, staff):
    second = make_staff("cashier_2", Role.MERCHANT_CLERK, world.village_b1, world.scheme)

    response = post(
        api_client(staff["county"]),
        "/api/v1/merchants",
        merchant_body(world, cashiers=["cashier", second.pk]),
    )

    assert response.status_code == 201, response.content
    assert response.json()["cashiers"] == ["cashier", "cashier_2"]
    merchant = Merchant.objects.get()
    assert sorted(merchant.clerks.values_list("username", flat=True)) == ["cashier", "cashier_2"]
    # The named cashier now works the till: the merchant is theirs to read.
    till = api_client(staff["cashier"]).get(f"/api/v1/merchants/{merchant.pk}")
    assert till.status_code == 200


@pytest.mark.parametrize(
    "cashiers", [["nobody"], ["clerk_a"], ["grid"], [999_999], ["cashier", "ghost"]]
)
def test_a_cashier_who_is_not_a_merchant_clerk_in_scope_is_refused(world, staff, cashiers):
    client = api_client(staff["county"])
    before = written()

    response = post(client, "/api/v1/merchants", merchant_body(world, cashiers=cashiers))

    error = assert_error(response, 422, "invalid_input")
    assert error["detail"]["field"] == "cashiers"
    bad = [c for c in cashiers if c != "cashier"]
    assert error["message"] == "不是您管辖范围内的商家收银员：" + "、".join(map(str, bad))
    assert written() == before


def test_the_openapi_schema_documents_both_bodies(client: Client):
    schema = client.get("/api/openapi.json").json()
    store_post = schema["paths"]["/api/v1/stores"]["post"]
    assert {"201", "403", "422"} <= set(store_post["responses"])
    store_in = schema["components"]["schemas"]["StoreIn"]["properties"]
    assert {"region", "served_townships", "clerks", "window_kind"} <= set(store_in)
    merchant_in = schema["components"]["schemas"]["MerchantIn"]["properties"]
    assert "cashiers" in merchant_in


def test_a_resident_is_told_why_a_product_cannot_be_ordered(world):
    shop = build_shop(world, balance=11_000)  # 110 points: rice yes, the cooker (200) no
    client = resident_client(shop.household, PIN)

    listed = {p["id"]: p for p in client.get(f"/api/v1/stores/{shop.store.pk}/products").json()}

    assert listed[shop.cooker.pk]["why_not"] == "需 200 分，您可用 110 分"
    assert listed[shop.rice.pk]["why_not"] is None
    staff_view = api_client(shop.admin).get(f"/api/v1/stores/{shop.store.pk}/products").json()
    assert {p["why_not"] for p in staff_view} == {None}
