"""Star households over the API: thresholds (read, replace), rating a year, the list."""

from __future__ import annotations

from civicpoints.schemes.models import Role, User
from tests.api.conftest import assert_error
from tests.factories import api_client, make_staff
from tests.honours.test_stars import rated  # noqa: F401 (a fixture)


def test_a_county_admin_sets_thresholds_rates_2025_and_lists_the_stars(rated):  # noqa: F811
    w = rated
    client = api_client(User.objects.get(username="xian"))
    levels = {
        "levels": [
            {"stars": 1, "points": 100, "categories": []},
            {"stars": 2, "points": 200, "categories": ["环境卫生"]},
            {"stars": 3, "points": 300, "categories": ["环境卫生"]},
        ]
    }
    put = client.put("/api/v1/honours/star-levels", levels, content_type="application/json")
    assert put.status_code == 200, put.content
    assert put.json()["levels"][1] == {"stars": 2, "points": 200.0, "categories": ["环境卫生"]}

    run = client.put("/api/v1/honours/stars/2025")
    assert run.status_code == 200, run.content
    assert run.json()["by_stars"] == {"1": 3, "2": 1, "3": 1}
    assert client.put("/api/v1/honours/stars/2025").json()["changed"] == 0

    listed = client.get("/api/v1/honours/stars", {"year": 2025, "region": w.county.pk}).json()
    assert [(r["household_name"], r["stars"]) for r in listed][:2] == [("三星", 3), ("正好两星", 2)]


def test_who_may_do_what(rated):  # noqa: F811
    w = rated
    auditor = api_client(make_staff("shen", Role.AUDITOR, w.county, w.scheme))
    assert auditor.get("/api/v1/honours/star-levels").status_code == 200
    assert_error(auditor.put("/api/v1/honours/stars/2025"), 403)
    cun = api_client(make_staff("cun", Role.VILLAGE_ADMIN, w.village_a1, w.scheme))
    assert_error(cun.get("/api/v1/honours/star-levels"), 403)
    assert (
        cun.get("/api/v1/honours/stars", {"year": 2025, "region": w.village_a1.pk}).status_code
        == 200
    )
    assert_error(cun.get("/api/v1/honours/stars", {"year": 2025, "region": w.village_b1.pk}), 404)


def test_bad_input_is_refused_with_its_field_and_changes_nothing(rated):  # noqa: F811
    client = api_client(User.objects.get(username="xian"))
    before = client.get("/api/v1/honours/star-levels").json()
    for body, field in (
        ({"levels": [{"stars": 1, "points": 300}, {"stars": 2, "points": 200}]}, "points"),
        ({"levels": [{"stars": 1, "points": 100, "categories": ["没有的"]}]}, "categories"),
    ):
        error = assert_error(
            client.put("/api/v1/honours/star-levels", body, content_type="application/json"),
            422,
        )
        assert error["detail"]["field"] == field
    assert_error(
        client.put(
            "/api/v1/honours/star-levels",
            {"levels": [{"stars": 6, "points": 1}]},
            content_type="application/json",
        ),
        422,
    )
    assert client.get("/api/v1/honours/star-levels").json() == before
    error = assert_error(client.put("/api/v1/honours/stars/2026"), 422)
    assert error["detail"]["field"] == "year"
