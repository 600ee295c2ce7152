"""The dashboard page: the figures it shows are ``reports.stats``'s; who may open it; a
village's page has no level below; a bad period is told on the page."""

from __future__ import annotations

import json
import re

from django.test import Client

from civicpoints.schemes.models import Role
from tests.factories import make_staff
from tests.reports.test_stats import _county


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _data(response) -> dict:
    found = re.search(
        r'<script id="dashboard-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, response.content[:300]
    return json.loads(found.group(1))


def test_the_county_dashboard_shows_the_figures(world):
    _county(world)
    admin = _client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    page = admin.get("/dashboard/", {"period": "year", "value": "2026"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "通榆县文明积分 · 2026年" in text and "数据大屏" in text
    data = _data(page)
    assert [c["region_name"] for c in data["children"]] == ["开通镇", "兴隆山镇"]
    assert data["households"]["active_taking_part"] == 2
    assert "/dashboard/?region=" in text  # the drill-down links
    assert "积分覆盖面" in text and "基尼系数" in text
    assert "治理指标和积分参与（2026年，括号内为2025年同月）" in text


def test_who_sees_the_dashboard(world):
    village = _client(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    page = village.get("/dashboard/")
    assert page.status_code == 200 and _data(page)["children"] == []
    assert "数据大屏" in village.get("/").content.decode()
    clerk = _client(make_staff("dian", Role.STORE_CLERK, world.village_a1, world.scheme))
    assert clerk.get("/dashboard/").status_code == 403
    assert "数据大屏" not in clerk.get("/").content.decode()
    grid = _client(make_staff("wang", Role.GRID_WORKER, world.village_a1, world.scheme))
    assert grid.get("/dashboard/").status_code == 403
    county = _client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    bad = county.get("/dashboard/", {"period": "month", "value": "2026-13"})
    assert bad.status_code == 422 and "期间写法不对" in bad.content.decode()


def test_the_staff_home_shows_this_years_figures_at_a_desks_size(world):
    _county(world)
    admin = _client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    home = admin.get("/").content.decode()
    assert "参与率" in home and 'href="/dashboard/"' in home and "通榆县 · " in home
    grid = _client(make_staff("wang", Role.GRID_WORKER, world.village_a1, world.scheme))
    assert "参与率" not in grid.get("/").content.decode()


def test_the_stock_and_redeemed_figures_open_the_regions_stores(world):
    """The dashboard's stock figure opens the region's stores short of stock; its redeemed
    figure the region's stores; both the page and its file hold those rows only."""
    from civicpoints.schemes.scope import actor_for_user
    from civicpoints.stores.models import Product
    from civicpoints.stores.services.catalogue import product_create, store_create

    user = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
    actor = actor_for_user(user)
    made = {}
    for village, name in [
        (world.village_a1, "晓光爱心超市"),
        (world.village_a2, "新华爱心超市"),
        (world.village_b1, "兴隆爱心超市"),
    ]:
        store = store_create(actor=actor, scheme_id=world.scheme.pk, region=village, name=name)
        made[name] = product_create(actor=actor, store=store, name="肥皂", price=500)
    # stock 0 is at or below the mark (5) until stocked
    Product.objects.filter(pk=made["新华爱心超市"].pk).update(stock=50)

    admin = _client(user)
    page = admin.get("/dashboard/", {"region": world.township_a.pk})
    text = page.content.decode()
    # 晓光 and 兴隆 are short of stock, 兴隆 in the other township
    assert "库存提醒</span><strong>1</strong>" in text
    stock = f"/stores/?region={world.township_a.pk}&amp;low=1"
    assert f'href="{stock}"' in text
    assert f'href="/stores/?region={world.township_a.pk}"' in text

    short = admin.get(stock.replace("&amp;", "&")).content.decode()
    assert "晓光爱心超市" in short and "新华爱心超市" not in short and "兴隆爱心超市" not in short
    assert "范围：开通镇" in short and "只看有商品库存不足的超市" in short
    of_township = admin.get("/stores/", {"region": world.township_a.pk}).content.decode()
    assert "晓光爱心超市" in of_township and "新华爱心超市" in of_township
    assert "兴隆爱心超市" not in of_township
    file = admin.get("/stores/", {"region": world.township_a.pk, "low": "1", "export": "csv"})
    lines = b"".join(file.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and "晓光爱心超市" in lines[1]

    other = _client(make_staff("other", Role.COUNTY_ADMIN, world.other_county, world.other_scheme))
    assert other.get("/stores/", {"region": world.township_a.pk}).status_code == 404
