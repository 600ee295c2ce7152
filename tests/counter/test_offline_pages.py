"""The offline counter's pages (issue 13): the devices page for county admins only, the code
shown once, revocation behind a confirmation that reports the unsynced queue; the conflicts
for the clerk and for the village admin; a write-off by two county admins; the service worker
and the manifest."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.utils import timezone

from civicpoints.schemes.models import Role
from civicpoints.stores.models import (
    CounterDevice,
    DeviceStatus,
    OfflineResolution,
    OfflineSale,
    OfflineStatus,
    StockMove,
    StockMoveKind,
)
from civicpoints.stores.services.offline import device_enrol, device_register
from tests.counter.conftest import client_for
from tests.factories import make_staff
from tests.stores.conftest import Shop, build_shop
from tests.stores.test_offline import session, sync


@pytest.fixture
def shop(world: Any) -> Shop:
    shop = build_shop(world)
    world.scheme.offline_allowance = 10**8
    world.scheme.save(update_fields=["offline_allowance"])
    shop.store.scheme.refresh_from_db()
    return shop


def test_only_a_county_admin_sees_and_uses_the_devices_page(shop: Shop) -> None:
    url = f"/stores/{shop.store.pk}/devices/"
    admin = client_for(shop.admin)
    store_page = admin.get(f"/stores/{shop.store.pk}/").content.decode()
    assert url in store_page
    village_admin = make_staff("va", Role.VILLAGE_ADMIN, shop.world.village_a1, shop.world.scheme)
    township = make_staff("ta", Role.TOWNSHIP_ADMIN, shop.world.township_a, shop.world.scheme)
    for user in (shop.clerk, village_admin, township):
        client = client_for(user)
        assert client.get(url).status_code == 404
        page = client.get(f"/stores/{shop.store.pk}/")
        assert url not in page.content.decode()  # no link that would answer 404
        answer = client.post(f"{url}new/", {"name": "偷偷登记"})
        assert answer.status_code == 404
    assert not CounterDevice.objects.exists()

    refused = admin.post(f"{url}new/", {"name": ""}, follow=True)
    assert "请填写设备名称" in refused.content.decode()
    assert not CounterDevice.objects.exists()
    made = admin.post(f"{url}new/", {"name": "一号收银台"})
    assert made.status_code == 200 and made["Cache-Control"].startswith("max-age=0")
    code = re.search(r'class="big-code"><b>([A-Z0-9]{8})</b>', made.content.decode())
    assert code, made.content.decode()
    # Shown once: the list again does not hold it
    assert code.group(1) not in admin.get(url).content.decode()
    device, _token = device_enrol(actor=shop.clerk_actor, store=shop.store, code=code.group(1))
    CounterDevice.objects.filter(pk=device.pk).update(
        reported_queued=3, reported_max_seq=17, reported_at=timezone.now()
    )

    revoke = f"{url}{device.pk}/revoke/"
    ask = admin.post(revoke, {"reason": "平板丢失"})
    text = ask.content.decode()
    assert "确认停用" in text and "还有 3 笔离线兑换未同步，最大流水号 17" in text
    assert CounterDevice.objects.get(pk=device.pk).status == DeviceStatus.ACTIVE
    no_reason = admin.post(revoke, {"reason": "", "confirmed": "1"}, follow=True)
    assert "请填写停用原因" in no_reason.content.decode()
    assert CounterDevice.objects.get(pk=device.pk).status == DeviceStatus.ACTIVE
    done = admin.post(revoke, {"reason": "平板丢失", "confirmed": "1"}, follow=True)
    assert "已停用设备" in done.content.decode()
    assert CounterDevice.objects.get(pk=device.pk).status == DeviceStatus.REVOKED
    # What it sends afterwards is listed on its row, never booked
    assert sync(session(shop.clerk), shop, _token, seq=1, key="lost-1").status_code == 403
    assert "停用后送来 1 笔离线兑换，未入账" in admin.get(url).content.decode()


def _conflict(shop: Shop, key: str) -> OfflineSale:
    _device, code = device_register(actor=shop.admin_actor, store=shop.store, name=key)
    _device, token = device_enrol(actor=shop.clerk_actor, store=shop.store, code=code)
    shop.household.status = "closed"
    shop.household.save(update_fields=["status"])
    assert sync(session(shop.clerk), shop, token, seq=1, key=key).status_code == 409
    shop.household.status = "active"
    shop.household.save(update_fields=["status"])
    return OfflineSale.objects.get(key__endswith=key)


def test_the_clerk_settles_a_conflict_in_cash_at_the_counter(shop: Shop) -> None:
    sale = _conflict(shop, "c1")
    clerk = client_for(shop.clerk)
    page = clerk.get(f"/counter/store/{shop.store.pk}/conflicts/").content.decode()
    assert "王秀英" in page and "美的电饭煲×1" in page and "offline_conflict" not in page
    url = f"/counter/store/{shop.store.pk}/conflicts/{sale.pk}/"
    bad = clerk.post(url, {"resolution": "cash", "cash": "abc"}, follow=True)
    assert "现金金额应为数字" in bad.content.decode()
    assert OfflineSale.objects.get(pk=sale.pk).status == OfflineStatus.CONFLICT
    clerk.post(url, {"resolution": "cash", "cash": "200"})
    sale.refresh_from_db()
    assert sale.status == OfflineStatus.RESOLVED and sale.resolution == OfflineResolution.CASH
    assert StockMove.objects.filter(kind=StockMoveKind.OFFLINE_CASH).count() == 1


def test_the_household_redeems_again_with_its_pin(shop: Shop) -> None:
    sale = _conflict(shop, "c2")
    clerk = client_for(shop.clerk)
    url = f"/counter/store/{shop.store.pk}/conflicts/{sale.pk}/"
    wrong = clerk.post(url, {"resolution": "redeemed", "pin": "000000"}, follow=True)
    assert "密码不对" in wrong.content.decode()
    again = clerk.post(url, {"resolution": "redeemed", "pin": "246813"})
    assert again.status_code == 302 and "/receipts/" in again["Location"]
    sale.refresh_from_db()
    assert sale.status == OfflineStatus.RESOLVED and sale.resolved_redemption_id


def test_the_village_admin_sees_it_and_two_county_admins_write_it_off(shop: Shop) -> None:
    sale = _conflict(shop, "c3")
    village_admin = make_staff("va", Role.VILLAGE_ADMIN, shop.world.village_a1, shop.world.scheme)
    other_village = make_staff("vb", Role.VILLAGE_ADMIN, shop.world.village_b1, shop.world.scheme)
    va = client_for(village_admin)
    home = va.get("/").content.decode()
    assert "/offline-conflicts/" in home  # in the menu
    assert 'id="tile-offline_conflicts"' in home  # and counted on the home page
    page = va.get("/offline-conflicts/").content.decode()
    assert "王秀英" in page and ">申请核销</button>" not in page  # a village admin cannot write off
    assert "王秀英" not in client_for(other_village).get("/offline-conflicts/").content.decode()
    act = f"/offline-conflicts/{sale.pk}/"
    assert client_for(other_village).post(act, {"action": "collected"}).status_code == 404
    va.post(act, {"action": "write_off", "note": "x"}, follow=True)
    assert OfflineSale.objects.get(pk=sale.pk).status == OfflineStatus.CONFLICT

    admin = client_for(shop.admin)
    assert ">申请核销</button>" in admin.get("/offline-conflicts/").content.decode()
    admin.post(act, {"action": "write_off", "note": "农户已搬走"})
    assert OfflineSale.objects.get(pk=sale.pk).status == OfflineStatus.WRITE_OFF_PENDING
    assert "须由另一位县管理员复核" in admin.get("/offline-conflicts/").content.decode()
    refused = admin.post(act, {"action": "approve", "confirmed": "1"}, follow=True)
    assert "另一位县管理员" in refused.content.decode()
    second = client_for(make_staff("c2", Role.COUNTY_ADMIN, shop.world.county, shop.world.scheme))
    ask = second.post(act, {"action": "approve"})
    assert "确认核销" in ask.content.decode()
    assert OfflineSale.objects.get(pk=sale.pk).status == OfflineStatus.WRITE_OFF_PENDING
    second.post(act, {"action": "approve", "confirmed": "1"})
    sale.refresh_from_db()
    assert sale.status == OfflineStatus.RESOLVED
    assert sale.resolution == OfflineResolution.WRITTEN_OFF
    assert StockMove.objects.filter(kind=StockMoveKind.WRITE_OFF).count() == 1


def test_the_service_worker_and_the_manifest(shop: Shop) -> None:
    sw = client_for(shop.clerk).get("/counter/sw.js")
    assert sw.status_code == 200 and sw["Content-Type"].startswith("text/javascript")
    assert sw["Cache-Control"] == "no-cache" and "cp-counter-" in sw.content.decode()
    manifest = client_for(shop.clerk).get(f"/counter/store/{shop.store.pk}/manifest.webmanifest")
    body = json.loads(manifest.content)
    assert body["start_url"] == f"/counter/store/{shop.store.pk}/" and body["scope"] == "/counter/"
    shell = client_for(shop.clerk).get(f"/counter/store/{shop.store.pk}/offline/")
    assert shell.status_code == 200 and "离线柜台" in shell.content.decode()
    other = make_staff("other", Role.STORE_CLERK, shop.world.village_b1, shop.world.scheme)
    assert client_for(other).get(f"/counter/store/{shop.store.pk}/offline/").status_code == 404


def test_enrolment_over_the_counter_page_refuses_a_bad_code(shop: Shop) -> None:
    client = session(shop.clerk)
    url = f"/counter/store/{shop.store.pk}/offline/enrol/"
    csrf = client.cookies["csrftoken"].value
    for body in ("{", "[]", json.dumps({"code": 5}), json.dumps({"code": "NOPE1234"})):
        answer = client.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
        assert answer.status_code == 422, answer.content
        assert answer.json()["error"]["message"]
    _device, code = device_register(actor=shop.admin_actor, store=shop.store, name="x")
    ok = client.post(
        url, json.dumps({"code": code}), content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert ok.status_code == 201 and ok.json()["token"].startswith(f"{ok.json()['device']}.")
