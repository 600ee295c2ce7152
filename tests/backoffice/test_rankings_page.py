"""排行榜 in the staff menu: a region's ranking for a period, from the same selector as the API."""

from __future__ import annotations

from django.test import Client

from civicpoints.schemes.models import Role
from tests.factories import make_staff
from tests.honours.test_rankings import county  # noqa: F401 (a fixture)


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_county_admin_reads_november_from_the_menu(county):  # noqa: F811
    w = county
    client = logged_in(make_staff("xian", Role.COUNTY_ADMIN, w.county, w.scheme))

    home = client.get("/").content.decode()
    assert 'href="/rankings/"' in home and "排行榜" in home
    page = client.get("/rankings/", {"period": "month", "value": "2026-11"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "2026年11月" in text and "已定稿" in text and "共 4 名" in text
    # ranks 1, 2, 2, 4 in order, with names and points
    order = [text.index(name) for name in ("王秀英", "张桂芝", "李桂兰", "赵淑珍")]
    assert order == sorted(order)
    assert "45" in text and "-5" in text
    assert "month" not in text.split("<table", 1)[1]  # no internal codes in the table


def test_a_village_admin_sees_their_village_by_default_and_a_bad_period_is_explained(
    county,  # noqa: F811
):
    w = county
    client = logged_in(make_staff("cun", Role.VILLAGE_ADMIN, w.village_b1, w.scheme))

    page = client.get("/rankings/", {"period": "year", "value": "2026"}).content.decode()
    assert "李桂兰" in page and "王秀英" not in page

    bad = client.get("/rankings/", {"period": "month", "value": "11/2026"})
    assert bad.status_code == 200
    assert "期间写法不对" in bad.content.decode()
    assert client.get("/rankings/", {"region": w.village_a1.pk}).status_code == 404


def test_a_cashier_is_not_offered_rankings(county):  # noqa: F811
    w = county
    client = logged_in(make_staff("shou", Role.MERCHANT_CLERK, w.village_a1, w.scheme))
    assert "/rankings/" not in client.get("/").content.decode()
    assert client.get("/rankings/").status_code == 403
