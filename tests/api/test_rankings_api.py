"""GET /api/v1/rankings: a region's households (or members) in rank order for a period."""

from __future__ import annotations

from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error
from tests.factories import api_client, make_staff
from tests.honours.test_rankings import county  # noqa: F401 (a fixture)

URL = "/api/v1/rankings"


def test_a_county_admin_reads_a_closed_month_with_names_and_shared_ranks(county):  # noqa: F811
    w = county
    admin = make_staff("xian", Role.COUNTY_ADMIN, w.county, w.scheme)

    response = api_client(admin).get(URL, {"region": w.county.pk, "value": "2026-11"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["label"], body["closed"], body["total"]) == ("2026年11月", True, 4)
    assert [(r["rank"], r["household_name"], r["points"]) for r in body["rows"]] == [
        (1, "王秀英", 45.0),
        (2, "张桂芝", 30.0),
        (2, "李桂兰", 30.0),
        (4, "赵淑珍", -5.0),
    ]
    members = (
        api_client(admin)
        .get(URL, {"region": w.county.pk, "value": "2026-11", "by": "member"})
        .json()
    )
    assert [(r["member_name"], r["household_name"]) for r in members["rows"]] == [
        ("王小红", "王秀英")
    ]


def test_a_village_admin_ranks_their_village_and_cannot_see_another(county):  # noqa: F811
    w = county
    cun = make_staff("cun", Role.VILLAGE_ADMIN, w.village_b1, w.scheme)
    client = api_client(cun)

    mine = client.get(URL, {"region": w.village_b1.pk, "period": "year", "value": "2026"})
    assert [r["household_name"] for r in mine.json()["rows"]] == ["李桂兰", "赵淑珍"]
    assert_error(client.get(URL, {"region": w.village_a1.pk}), 404, "not_found")


def test_a_cashier_has_no_households_to_rank(county):  # noqa: F811
    w = county
    cashier = make_staff("shou", Role.MERCHANT_CLERK, w.village_a1, w.scheme)
    assert_error(api_client(cashier).get(URL, {"region": w.village_a1.pk}), 403)


def test_bad_parameters_are_refused_with_the_field(county):  # noqa: F811
    w = county
    client = api_client(make_staff("xian", Role.COUNTY_ADMIN, w.county, w.scheme))
    error = assert_error(client.get(URL, {"region": w.county.pk, "value": "11/2026"}), 422)
    assert error["detail"]["field"] == "value"
    assert_error(client.get(URL, {"region": w.county.pk, "period": "week"}), 422)
    assert_error(client.get(URL, {"region": w.county.pk, "limit": 0}), 422)
    assert_error(client.get(URL, {"region": "x"}), 422)
