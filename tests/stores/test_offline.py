"""The offline counter's server side (issue 13): devices, the PIN check value, the snapshot,
the sync through the API's redemption call on the counter page's session, and conflicts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households import crypto
from civicpoints.households.models import Household
from civicpoints.households.services import household_check_pin, household_set_pin
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import (
    CounterDevice,
    DeviceStatus,
    OfflineResolution,
    OfflineSale,
    OfflineStatus,
    Redemption,
    RedemptionMode,
    RedemptionSource,
    StockMove,
    StockMoveKind,
)
from civicpoints.stores.services import redeem, stock_receive
from civicpoints.stores.services.counter import Item
from civicpoints.stores.services.offline import (
    device_enrol,
    device_register,
    device_revoke,
    offline_resolve,
    offline_snapshot,
    offline_write_off_decide,
    offline_write_off_request,
)
from tests.factories import make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, Shop, build_shop
from tests.stores.helpers import refused

ALLOWANCE = 50_000  # 500 points a day
_times: dict[str, dt.datetime] = {}  # a queued sale keeps its time, as the device keeps it
_seals: dict[tuple[str, str], str] = {}  # and its sealed PIN


@pytest.fixture
def shop(world: Any) -> Shop:
    shop = build_shop(world)
    world.scheme.offline_allowance = ALLOWANCE
    world.scheme.save(update_fields=["offline_allowance"])
    shop.store.scheme.refresh_from_db()
    return shop


def enrolled(shop: Shop, name: str = "收银台1") -> tuple[CounterDevice, str]:
    _device, code = device_register(actor=shop.admin_actor, store=shop.store, name=name)
    return device_enrol(actor=shop.clerk_actor, store=shop.store, code=code)


def session(user: Any) -> Client:
    """The counter page's own session, with its CSRF cookie, as the page's script has it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/counter/")
    return client


def sync(
    client: Client,
    shop: Shop,
    token: str,
    *,
    seq: int,
    key: str,
    items: list[tuple[int, int]] | None = None,
    household: Household | None = None,
    at: dt.datetime | None = None,
    csrf: bool = True,
    pin: str | None = PIN,
    seal: str | None = None,
) -> Any:
    """One queued sale as the page syncs it: the PIN the household typed comes sealed to the
    server for this sale's key (``seal`` overrides it; ``pin=None`` sends none)."""
    if seal is None and pin is not None:  # sealed once, kept with the queued sale, as the page
        seal = _seals.setdefault(
            (key, pin), crypto.pin_seal(pin, key, crypto.pin_seal_public_key())
        )
    body = {
        "household": (household or shop.household).pk,
        "items": [{"product": p, "quantity": q} for p, q in (items or [(shop.cooker.pk, 1)])],
        "offline": {
            "seq": seq,
            "offline_at": (
                at or _times.setdefault(key, timezone.now() - dt.timedelta(minutes=5))
            ).isoformat(),
            "recorded_by": shop.clerk.pk,
            **({"pin_seal": seal} if seal is not None else {}),
        },
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key, "HTTP_X_COUNTER_DEVICE": token}
    if csrf:
        headers["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client.post(
        f"/api/v1/stores/{shop.store.pk}/redemptions",
        json.dumps(body),
        content_type="application/json",
        **headers,
    )


# --- the PIN's check value ---------------------------------------------------------------------


def test_the_pin_check_value_is_made_with_the_pin_and_changes_with_it(shop: Shop) -> None:
    h = Household.objects.get(pk=shop.household.pk)
    assert h.offline_pin_tag == crypto.offline_pin_tag(h.pin_hash, PIN)
    # A fixed vector, shared with the page's script (the same HMAC-SHA256, first byte).
    key = crypto.offline_pin_key("pin_hmac_sha256$fixed$vector")
    assert len(key) == 16
    household_set_pin(actor_id=None, household=h, pin="135792")
    h2 = Household.objects.get(pk=h.pk)
    assert h2.pin_hash != h.pin_hash
    assert h2.offline_pin_tag == crypto.offline_pin_tag(h2.pin_hash, "135792")
    assert make_household(shop.world.scheme, shop.world.village_a1).offline_pin_tag is None


def test_a_pin_set_before_the_offline_counter_gets_its_value_when_next_used(shop: Shop) -> None:
    Household.objects.filter(pk=shop.household.pk).update(offline_pin_tag=None)
    h = Household.objects.get(pk=shop.household.pk)
    assert not household_check_pin(household=h, pin="999999")
    assert Household.objects.get(pk=h.pk).offline_pin_tag is None  # a wrong PIN makes nothing
    assert household_check_pin(household=h, pin=PIN)
    assert Household.objects.get(pk=h.pk).offline_pin_tag == crypto.offline_pin_tag(h.pin_hash, PIN)


# --- devices -----------------------------------------------------------------------------------


def test_only_a_county_admin_registers_and_the_code_works_once(shop: Shop) -> None:
    with pytest.raises(ApplicationError) as caught:
        device_register(actor=shop.clerk_actor, store=shop.store, name="x")
    assert caught.value.code == ErrorCode.PERMISSION_DENIED
    village_admin = make_staff("va", Role.VILLAGE_ADMIN, shop.world.village_a1, shop.world.scheme)
    with pytest.raises(ApplicationError):
        device_register(actor=actor_for_user(village_admin), store=shop.store, name="x")
    device, code = device_register(actor=shop.admin_actor, store=shop.store, name="收银台1")
    stored = CounterDevice.objects.get(pk=device.pk)
    assert code not in stored.enrol_code_hash and stored.status == DeviceStatus.PENDING
    refused(
        ErrorCode.ENROL_CODE_INVALID,
        shop.world.scheme.pk,
        lambda: device_enrol(actor=shop.clerk_actor, store=shop.store, code="WRONG123"),
    )
    device, token = device_enrol(actor=shop.clerk_actor, store=shop.store, code=code.lower())
    assert device.status == DeviceStatus.ACTIVE and token.startswith(f"{device.pk}.")
    assert token.split(".", 1)[1] not in CounterDevice.objects.get(pk=device.pk).secret_hash
    with pytest.raises(ApplicationError) as again:
        device_enrol(actor=shop.clerk_actor, store=shop.store, code=code)
    assert again.value.code == ErrorCode.ENROL_CODE_INVALID


def test_an_expired_code_and_a_scheme_without_allowance_are_refused(shop: Shop) -> None:
    device, code = device_register(actor=shop.admin_actor, store=shop.store, name="旧码")
    CounterDevice.objects.filter(pk=device.pk).update(
        enrol_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(ApplicationError) as caught:
        device_enrol(actor=shop.clerk_actor, store=shop.store, code=code)
    assert caught.value.code == ErrorCode.ENROL_CODE_INVALID
    shop.store.scheme.offline_allowance = 0
    shop.store.scheme.save(update_fields=["offline_allowance"])
    with pytest.raises(ApplicationError) as off:
        device_register(actor=shop.admin_actor, store=shop.store, name="y")
    assert off.value.code == ErrorCode.OFFLINE_DISABLED


# --- the snapshot ------------------------------------------------------------------------------


def test_the_snapshot_holds_what_a_sale_needs_and_no_secret(shop: Shop) -> None:
    device, token = enrolled(shop)
    client = session(shop.clerk)
    url = f"/counter/store/{shop.store.pk}/offline/snapshot/"
    response = client.get(url, HTTP_X_COUNTER_DEVICE=token)
    assert response.status_code == 200
    data = response.json()
    text = response.content.decode()
    h = Household.objects.get(pk=shop.household.pk)
    assert h.phone and h.phone not in text and h.pin_hash not in text and PIN not in text
    assert h.address not in text or not h.address
    row = next(r for r in data["households"] if r[0] == h.pk)
    assert row[1] == h.card_code and row[2] == "王秀英"
    assert row[5] == household_balance(household_id=h.pk).available
    assert row[9] == h.offline_pin_tag
    products = {p[0]: p for p in data["products"]}
    assert products[shop.cooker.pk][5] is True
    assert products[shop.freezer.pk][5] is False  # large: not offline
    assert products[shop.rice.pk][5] is False  # limited: not offline
    assert data["allowance"] == ALLOWANCE
    # Another store's token, a bad one, none: refused
    for bad in [f"{device.pk}.nope", "", "x", f"{device.pk + 99}.{token.split('.')[1]}"]:
        answer = client.get(url, HTTP_X_COUNTER_DEVICE=bad)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "device_unknown"
    device_revoke(actor=shop.admin_actor, device=device, reason="丢失")
    gone = client.get(url, HTTP_X_COUNTER_DEVICE=token)
    assert gone.status_code == 403 and gone.json()["error"]["code"] == "device_revoked"


def test_the_snapshot_query_count_does_not_grow_with_households(shop: Shop) -> None:
    device, _token = enrolled(shop)
    with CaptureQueriesContext(connection) as few:
        offline_snapshot(store=shop.store, device=device)
    for _ in range(20):
        make_household(shop.world.scheme, shop.world.village_a1, phone="")
    with CaptureQueriesContext(connection) as many:
        data = offline_snapshot(store=shop.store, device=device)
    assert len(data["households"]) >= 21
    assert len(many) == len(few)


# --- the sync ----------------------------------------------------------------------------------


def test_a_synced_sale_is_booked_once_whoever_retries_it(shop: Shop) -> None:
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    before = household_balance(household_id=shop.household.pk).balance
    first = sync(client, shop, token, seq=1, key="off-1-1-a")
    assert first.status_code == 201, first.content
    assert first.json()["source"] == RedemptionSource.OFFLINE
    again = sync(client, shop, token, seq=1, key="off-1-1-a")
    assert again.status_code == 201 and again["Idempotency-Replayed"] == "true"
    # The next clerk on the same device (a shift change): the same answer, not a second sale
    other = make_staff("clerk2", Role.STORE_CLERK, shop.world.village_a1, shop.world.scheme)
    shop.store.clerks.add(other)
    third = sync(session(other), shop, token, seq=1, key="off-1-1-a")
    assert third.status_code == 201 and third.json()["id"] == first.json()["id"]
    r = Redemption.objects.get()
    assert r.mode == RedemptionMode.OFFLINE and r.points == shop.cooker.price
    sale = OfflineSale.objects.get()
    assert sale.status == OfflineStatus.SYNCED and sale.redemption_id == r.pk
    assert sale.recorded_by_id == shop.clerk.pk
    after = household_balance(household_id=shop.household.pk).balance
    assert before - after == shop.cooker.price
    assert_ledger_ok(shop.world.scheme.pk)


def test_the_sync_needs_the_csrf_token_and_a_device(shop: Shop) -> None:
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    no_csrf = sync(client, shop, token, seq=1, key="k1", csrf=False)
    assert no_csrf.status_code in (401, 403)
    assert Client().post(f"/api/v1/stores/{shop.store.pk}/redemptions").status_code == 401
    no_device = sync(client, shop, "", seq=1, key="k1")
    assert no_device.status_code == 422
    assert not Redemption.objects.exists() and not OfflineSale.objects.exists()


def test_a_sequence_number_names_one_sale(shop: Shop) -> None:
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    assert sync(client, shop, token, seq=1, key="a").status_code == 201
    reused = sync(client, shop, token, seq=1, key="b")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "offline_seq_reused"
    assert Redemption.objects.count() == 1


def test_bad_offline_input_is_refused_and_writes_nothing(shop: Shop) -> None:
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    future = sync(client, shop, token, seq=1, key="f", at=timezone.now() + dt.timedelta(hours=2))
    assert future.status_code == 422
    path = f"/api/v1/stores/{shop.store.pk}/redemptions"
    csrf = client.cookies["csrftoken"].value
    for body in [
        {"household": shop.household.pk, "items": [], "offline": {"seq": 1, "offline_at": "x"}},
        {"household": shop.household.pk, "items": [{"product": shop.cooker.pk, "quantity": 1}],
         "offline": {"seq": 0, "offline_at": timezone.now().isoformat()}},
        {"household": shop.household.pk, "items": [{"product": shop.cooker.pk, "quantity": 1}],
         "pin": PIN, "offline": {"seq": 2, "offline_at": timezone.now().isoformat()}},
    ]:  # fmt: skip
        answer = client.post(
            path,
            json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="bad",
            HTTP_X_COUNTER_DEVICE=token,
            HTTP_X_CSRFTOKEN=csrf,
        )
        assert answer.status_code == 422, answer.content
    assert not Redemption.objects.exists() and not OfflineSale.objects.exists()


# --- the sealed PIN --------------------------------------------------------------------------


def test_a_sealed_pin_opens_only_on_the_server_only_for_its_sale() -> None:
    public = crypto.pin_seal_public_key()
    seal = crypto.pin_seal(PIN, "off-1-1-a", public)
    assert PIN not in seal and crypto.pin_unseal(seal, "off-1-1-a") == PIN
    assert crypto.pin_unseal(seal, "off-1-2-a") is None  # moved to another sale
    assert crypto.pin_seal(PIN, "off-1-1-a", public) != seal  # a fresh device key each time
    _version, point, nonce, _sealed = seal.split(".")
    for part in (1, 2, 3):  # any byte of the device's point, the nonce or the ciphertext
        raw = bytearray(crypto._unb64(seal.split(".")[part]))
        for i in range(len(raw)):
            raw[i] ^= 0x01
            parts = seal.split(".")
            parts[part] = crypto._b64(bytes(raw))
            assert crypto.pin_unseal(".".join(parts), "off-1-1-a") is None
            raw[i] ^= 0x01
    for bad in ("", "v1", "v2.a.b.c", "v1.a.b.c", f"v1.{point}.{nonce}", "v1." + "A" * 500):
        assert crypto.pin_unseal(bad, "off-1-1-a") is None


@pytest.mark.parametrize("case", ["wrong PIN", "another sale's seal", "no seal", "not a seal"])
def test_a_pin_the_server_cannot_confirm_makes_a_conflict(shop: Shop, case: str) -> None:
    # Given a sale made offline whose PIN does not hold up at the sync: a clerk who typed a
    # PIN that passed the device's 8-bit check, moved a genuine seal, or sent none
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    public = crypto.pin_seal_public_key()
    seal = {
        "wrong PIN": crypto.pin_seal("999999", "off-9", public),
        "another sale's seal": crypto.pin_seal(PIN, "off-8", public),
        "no seal": None,
        "not a seal": "v1.x.y.z",
    }[case]
    failures = Household.objects.get(pk=shop.household.pk).pin_failures
    answer = sync(client, shop, token, seq=1, key="off-9", seal=seal, pin=None)

    # Then it is a conflict, kept once, nothing booked, and the household's PIN is not locked
    assert answer.status_code == 409, answer.content
    error = answer.json()["error"]
    assert error["code"] == "offline_conflict"
    assert error["detail"]["reason"] == "offline_pin_unconfirmed"
    assert "密码不符" in error["message"]
    sale = OfflineSale.objects.get()
    assert sale.status == OfflineStatus.CONFLICT and sale.reason_code == "offline_pin_unconfirmed"
    assert not Redemption.objects.exists()
    again = sync(client, shop, token, seq=1, key="off-9", seal=seal, pin=None)
    assert again.status_code == 409 and again["Idempotency-Replayed"] == "true"
    assert OfflineSale.objects.count() == 1
    assert Household.objects.get(pk=shop.household.pk).pin_failures == failures
    # The same household's next sale with its PIN sealed books
    assert sync(client, shop, token, seq=2, key="off-10").status_code == 201
    assert_ledger_ok(shop.world.scheme.pk)


def test_points_spent_elsewhere_meanwhile_make_a_conflict_kept_once(shop: Shop) -> None:
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    balance = household_balance(household_id=shop.household.pk).available
    # Online, at another counter, the household spends all but 50 points meanwhile
    shop.store.scheme.offline_allowance = 10**9
    shop.store.scheme.save(update_fields=["offline_allowance"])
    spend_to = balance - 5_000
    stock_receive(actor=shop.clerk_actor, product=shop.cooker, quantity=100, value_fen=100)
    while household_balance(household_id=shop.household.pk).available - 20_000 >= 5_000:
        redeem(
            actor=shop.clerk_actor,
            store=shop.store,
            household=shop.household,
            items=[Item(shop.cooker.pk, 1)],
            pin=PIN,
        )
    assert household_balance(household_id=shop.household.pk).available <= spend_to
    answer = sync(client, shop, token, seq=1, key="late", items=[(shop.cooker.pk, 1)])
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert (
        error["code"] == "offline_conflict" and error["detail"]["reason"] == "insufficient_points"
    )
    sale = OfflineSale.objects.get(key__endswith="late")
    assert sale.status == OfflineStatus.CONFLICT and sale.redemption_id is None
    replay = sync(client, shop, token, seq=1, key="late", items=[(shop.cooker.pk, 1)])
    assert replay.status_code == 409 and replay["Idempotency-Replayed"] == "true"
    assert OfflineSale.objects.filter(status=OfflineStatus.CONFLICT).count() == 1
    assert_ledger_ok(shop.world.scheme.pk)


def test_the_allowance_counts_every_device(shop: Shop) -> None:
    _one, token1 = enrolled(shop, "收银台1")
    _two, token2 = enrolled(shop, "收银台2")
    client = session(shop.clerk)
    shop.store.scheme.offline_allowance = 10_000  # 100 points a day: one cooker (200) is over
    shop.store.scheme.save(update_fields=["offline_allowance"])
    over = sync(client, shop, token1, seq=1, key="a")
    assert over.status_code == 409
    assert over.json()["error"]["detail"]["reason"] == "offline_allowance_exceeded"
    shop.store.scheme.offline_allowance = 50_000  # 500 points: the refused 200 count too
    shop.store.scheme.save(update_fields=["offline_allowance"])
    assert sync(client, shop, token2, seq=1, key="b").status_code == 201
    second = sync(client, shop, token1, seq=2, key="c")
    assert second.status_code == 409
    assert second.json()["error"]["detail"]["reason"] == "offline_allowance_exceeded"
    assert Redemption.objects.count() == 1


def test_a_revoked_devices_sales_are_listed_never_booked(shop: Shop) -> None:
    device, token = enrolled(shop)
    client = session(shop.clerk)
    device_revoke(actor=shop.admin_actor, device=device, reason="设备丢失")
    answer = sync(client, shop, token, seq=1, key="lost")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "device_revoked"
    again = sync(client, shop, token, seq=1, key="lost")
    assert again.status_code == 403
    sale = OfflineSale.objects.get()
    assert sale.status == OfflineStatus.REVOKED and sale.redemption_id is None
    assert not Redemption.objects.exists()


# --- conflicts ---------------------------------------------------------------------------------


def conflict(shop: Shop, key: str, seq: int) -> OfflineSale:
    _device, token = enrolled(shop, f"设备{seq}")
    client = session(shop.clerk)
    Household.objects.filter(pk=shop.household.pk).update(status="closed")
    assert sync(client, shop, token, seq=seq, key=key).status_code == 409
    Household.objects.filter(pk=shop.household.pk).update(status="active")
    shop.store.scheme.offline_allowance = 10**9
    shop.store.scheme.save(update_fields=["offline_allowance"])
    return OfflineSale.objects.select_related("store", "household__village").get(key__endswith=key)


def test_cash_takes_the_goods_out_of_stock_and_closes_it(shop: Shop) -> None:
    shop.store.scheme.offline_allowance = 10**9
    shop.store.scheme.save(update_fields=["offline_allowance"])
    sale = conflict(shop, "cash", 1)
    stock = shop.cooker.stock
    offline_resolve(
        actor=shop.clerk_actor, sale=sale, resolution=OfflineResolution.CASH, cash_fen=20_000
    )
    shop.cooker.refresh_from_db()
    assert shop.cooker.stock == stock - 1
    assert StockMove.objects.filter(kind=StockMoveKind.OFFLINE_CASH, quantity=-1).count() == 1
    sale.refresh_from_db()
    assert sale.status == OfflineStatus.RESOLVED and sale.resolution_cash_fen == 20_000
    with pytest.raises(ApplicationError) as twice:
        offline_resolve(actor=shop.clerk_actor, sale=sale, resolution=OfflineResolution.COLLECTED)
    assert twice.value.code == ErrorCode.INVALID_TRANSITION


def test_a_write_off_needs_a_second_county_admin(shop: Shop) -> None:
    shop.store.scheme.offline_allowance = 10**9
    shop.store.scheme.save(update_fields=["offline_allowance"])
    sale = conflict(shop, "wo", 1)
    with pytest.raises(ApplicationError):
        offline_write_off_request(actor=shop.clerk_actor, sale=sale, note="找不到人")
    offline_write_off_request(actor=shop.admin_actor, sale=sale, note="农户已外出务工")
    sale.refresh_from_db()
    with pytest.raises(ApplicationError) as same:
        offline_write_off_decide(actor=shop.admin_actor, sale=sale, approve=True)
    assert same.value.code == ErrorCode.SAME_APPROVER
    second = make_staff("county2", Role.COUNTY_ADMIN, shop.world.county, shop.world.scheme)
    offline_write_off_decide(actor=actor_for_user(second), sale=sale, approve=True)
    sale.refresh_from_db()
    assert sale.status == OfflineStatus.RESOLVED
    assert sale.resolution == OfflineResolution.WRITTEN_OFF
    assert StockMove.objects.filter(kind=StockMoveKind.WRITE_OFF).count() == 1
    assert_ledger_ok(shop.world.scheme.pk)


# --- the sync on PostgreSQL's two calls ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_sync_takes_the_counters_two_calls_on_postgresql(world: Any, postgres_only: None) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    shop = build_shop(world)
    world.scheme.offline_allowance = 45_000  # 450 points: two cookers, not three
    world.scheme.save(update_fields=["offline_allowance"])
    # A first sale makes the store's account (the general way); the next ones are fast
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1)],
        pin=PIN,
    )
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    with CaptureQueriesContext(connection) as seen:
        first = sync(client, shop, token, seq=1, key="fast-1")
    assert first.status_code == 201, first.content
    sql = [q["sql"] for q in seen.captured_queries]
    # The session with its user and their grants, then the counter's read and write: nothing
    # else (as an online sale: the token with its user and grants, the read, the write)
    assert len(sql) == 3, sql
    assert "schemes_staffsession" in sql[0] and "schemes_rolegrant" in sql[0]
    assert sum("stores_counter_context" in q for q in sql) == 1
    assert sum("stores_counter_redeem" in q for q in sql) == 1
    assert not any('INSERT INTO "stores_redemption"' in q for q in sql)  # not the general way
    sale = OfflineSale.objects.get(key__endswith="fast-1")
    assert sale.status == OfflineStatus.SYNCED and sale.redemption_id == first.json()["id"]
    assert sale.items == [[shop.cooker.pk, 1]] and sale.recorded_by_id == shop.clerk.pk
    r = Redemption.objects.get(pk=first.json()["id"])
    assert (r.source, r.mode) == (RedemptionSource.OFFLINE, RedemptionMode.OFFLINE)
    replay = sync(client, shop, token, seq=1, key="fast-1")
    assert replay.status_code == 201 and replay["Idempotency-Replayed"] == "true"
    assert sync(client, shop, token, seq=1, key="fast-other").status_code == 422  # seq reused
    assert sync(client, shop, token, seq=2, key="fast-2").status_code == 201
    # The third is over the allowance: found by the write under the account's lock, then
    # recorded as a conflict the general way
    over = sync(client, shop, token, seq=3, key="fast-3")
    assert over.status_code == 409
    assert over.json()["error"]["detail"]["reason"] == "offline_allowance_exceeded"
    assert OfflineSale.objects.filter(status=OfflineStatus.CONFLICT).count() == 1
    assert Redemption.objects.filter(source=RedemptionSource.OFFLINE).count() == 2
    wrong = sync(client, shop, token.split(".")[0] + ".wrong", seq=4, key="fast-4")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "device_unknown"
    assert_ledger_ok(world.scheme.pk)


def test_the_counters_session_is_refused_once_the_password_changes(shop: Shop) -> None:
    """The sync's session check is ``get_user``'s: a password changed since the login (or a
    deactivated user) ends it on the next request."""
    _device, token = enrolled(shop)
    client = session(shop.clerk)
    assert sync(client, shop, token, seq=1, key="s1").status_code == 201
    shop.clerk.set_password("another-long-password-2026")
    shop.clerk.save()
    assert sync(client, shop, token, seq=2, key="s2").status_code == 401
    other = make_staff("clerk9", Role.STORE_CLERK, shop.world.village_a1, shop.world.scheme)
    shop.store.clerks.add(other)
    fresh = session(other)
    other.is_active = False
    other.save()
    assert sync(fresh, shop, token, seq=3, key="s3").status_code == 401
    assert OfflineSale.objects.count() == 1
