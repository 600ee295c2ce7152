"""The staff store form offers county / township / village and, for a county store, the
townships it serves; township admins neither see nor reach a county store."""

from __future__ import annotations

import re

import pytest

from civicpoints.stores.models import Ceremony, Store
from tests.backoffice_spending.conftest import Staff, client_for, shelf_snapshot
from tests.backoffice_spending.test_store_pages import follow_post, messages_of, text
from tests.factories import fund, make_household

pytestmark = pytest.mark.django_db


def test_a_county_admin_opens_a_county_store_for_two_townships(staff: Staff):
    world = staff.world
    admin = client_for(staff.shop.admin)
    form = text(admin.get("/stores/new/"))
    assert f'<option value="{world.county.pk}" >县级：通榆县</option>' in form
    assert 'id="served-townships"' in form
    for township in (world.township_a, world.township_b):
        assert f'name="served_townships" value="{township.pk}"' in form

    status, page, said = follow_post(
        admin,
        "/stores/new/",
        {
            "name": "通榆县积分超市",
            "region": world.county.pk,
            "window_kind": "always",
            "served_townships": [str(world.township_a.pk), str(world.township_b.pk)],
            "clerks": [str(staff.shop.clerk.pk)],
        },
    )

    store = Store.objects.get(name="通榆县积分超市")
    assert status == 200 and said == ["已开设超市：通榆县积分超市"]
    assert store.region_id == world.county.pk
    assert sorted(store.served_townships.values_list("name", flat=True)) == ["兴隆山镇", "开通镇"]
    assert "服务范围：开通镇、兴隆山镇" in page or "服务范围：兴隆山镇、开通镇" in page
    listed = text(admin.get("/stores/"))
    row = re.search(rf'<tr id="store-{store.pk}">(.*?)</tr>', listed).group(1)
    assert "<td>通榆县</td>" in row
    assert "开通镇" in row and "兴隆山镇" in row


def test_a_county_store_without_townships_serves_the_whole_county(staff: Staff):
    world = staff.world
    admin = client_for(staff.shop.admin)

    status, page, _said = follow_post(
        admin,
        "/stores/new/",
        {"name": "县超市", "region": world.county.pk, "window_kind": "always"},
    )

    assert status == 200
    assert "服务范围：全县" in page
    assert Store.objects.get(name="县超市").served_townships.count() == 0


def test_a_township_admin_is_offered_neither_the_county_nor_townships_to_choose(staff: Staff):
    world = staff.world
    page = text(client_for(staff.township_admin).get("/stores/new/"))

    assert "县级：通榆县" not in page
    assert 'id="served-townships"' not in page
    assert f'<option value="{world.township_a.pk}"' in page


@pytest.mark.parametrize(
    ("who", "data", "message"),
    [
        ("township_admin", {"region": "county"}, "请选择您管辖范围内的县、乡镇或村"),
        (
            "admin",
            {"region": "township_a", "served_townships": ["township_b"]},
            "只有县级超市可以选择服务的乡镇",
        ),
        (
            "admin",
            {"region": "county", "served_townships": ["village_a1"]},
            "请选择您管辖范围内的乡镇",
        ),
        ("admin", {"region": "county", "served_townships": ["x"]}, "请选择您管辖范围内的乡镇"),
    ],
)
def test_a_county_store_is_refused_with_a_reason_and_nothing_written(
    staff: Staff, who, data, message
):
    world = staff.world
    user = staff.shop.admin if who == "admin" else getattr(staff, who)
    regions = {
        "county": world.county.pk,
        "township_a": world.township_a.pk,
        "township_b": world.township_b.pk,
        "village_a1": world.village_a1.pk,
        "x": "x",
    }
    form = {
        "name": "县超市",
        "window_kind": "always",
        "region": regions[data["region"]],
        "served_townships": [str(regions[t]) for t in data.get("served_townships", [])],
    }
    before = (Store.objects.count(), Store.served_townships.through.objects.count())

    response = client_for(user).post("/stores/new/", form)

    assert response.status_code == 422
    assert messages_of(response) == [message]
    assert (Store.objects.count(), Store.served_townships.through.objects.count()) == before


def test_township_admins_do_not_see_a_county_store(staff: Staff):
    world = staff.world
    follow_post(
        client_for(staff.shop.admin),
        "/stores/new/",
        {
            "name": "通榆县积分超市",
            "region": world.county.pk,
            "window_kind": "always",
            "served_townships": [str(world.township_a.pk)],
        },
    )
    store = Store.objects.get(name="通榆县积分超市")
    township = client_for(staff.township_admin)
    before = shelf_snapshot(world.scheme.pk)

    assert "通榆县积分超市" not in text(township.get("/stores/"))
    assert township.get(f"/stores/{store.pk}/").status_code == 404
    # The ceremony page offers only the stores they manage (the township's own one).
    ceremony = township.get(f"/ceremonies/new/?store={store.pk}")
    assert ceremony.status_code == 200
    assert "通榆县积分超市" not in text(ceremony) and "开通镇爱心超市" in text(ceremony)
    assert client_for(staff.auditor).get(f"/stores/{store.pk}/").status_code == 200
    assert shelf_snapshot(world.scheme.pk) == before


def test_a_preview_with_short_stock_and_a_limit_names_both_and_refuses_a_forced_confirm(
    staff: Staff,
):
    shop = staff.shop
    li = make_household(staff.world.scheme, staff.world.village_a2, "李淑珍")
    fund(li, 1_000_000)
    data = {
        "store": shop.store.pk,
        "title": "县级表彰",
        "held_on": "2026-11-20",
        # 3 freezers in stock, 4 asked; 王秀英 asks 3 bags of rice (2 a month).
        "text": f"王秀英\t海尔冰柜\t2\n王秀英\t大米 10斤\t3\n{li.card_code}\t海尔冰柜\t2\n",
    }
    client = client_for(shop.admin)
    before = shelf_snapshot(staff.world.scheme.pk)

    preview = client.post("/ceremonies/new/", data)
    forced = client.post("/ceremonies/new/", {**data, "step": "confirm", "key": "forced-key"})

    for response in (preview, forced):
        assert response.status_code == 422
        page = text(response)
        failing = re.search(r'id="failing">(.*?)</div>', page).group(1)
        assert "1 户不能兑换" in failing
        assert "第 1 户 王秀英（名单第 1、2 行）：大米 10斤 每月每户限兑 2袋，本期已兑 0" in failing
        assert "<li>海尔冰柜 共需 4，库存只有 3</li>" in failing
        assert 'name="step" value="confirm"' not in page
    assert messages_of(forced) == ["名单中还有不能兑换的行，未兑换任何一户"]
    assert Ceremony.objects.count() == 0
    assert shelf_snapshot(staff.world.scheme.pk) == before
