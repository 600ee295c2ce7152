"""Residents getting in on the phone pages: card + PIN, phone + SMS code (and choosing the
household), PIN change, and being signed out when the PIN is reset elsewhere."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.households.models import Household, SmsLogin
from civicpoints.households.pins import household_pin_reset
from civicpoints.households.services import household_check_pin, household_set_pin
from civicpoints.households.sms import MemoryBackend
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff

PIN = "258369"
PHONE = "13912345678"


@pytest.fixture(autouse=True)
def outbox(settings):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    return MemoryBackend.outbox


@pytest.fixture
def me(world) -> Household:
    h = make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)
    household_set_pin(actor_id=None, household=h, pin=PIN)
    h.refresh_from_db()
    return h


def card_login(me: Household, pin: str = PIN) -> Client:
    client = Client()
    response = client.post("/m/login/", {"card": me.card_code, "pin": pin})
    assert response.status_code == 302 and response["Location"] == "/m/", response
    return client


def test_the_login_page_offers_card_and_pin_and_phone_and_code(db):
    page = Client().get("/m/login/")
    text = page.content.decode()
    assert page.status_code == 200
    assert 'action="/m/login/"' in text and 'name="card"' in text and 'name="pin"' in text
    assert 'action="/m/login/sms/send/"' in text and 'name="phone"' in text
    assert "用手机号和短信验证码登录" in text and "获取验证码" in text


def test_a_wrong_pin_is_said_at_the_field(me):
    page = Client().post("/m/login/", {"card": me.card_code, "pin": "111112"})
    text = page.content.decode()
    assert page.status_code == 401
    assert '<p class="field-error" id="pin-error" role="alert">卡号或密码不对</p>' in text
    assert f'value="{me.card_code}"' in text


def test_phone_and_code_log_in(me, outbox, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/m/login/sms/send/", {"phone": PHONE})
    assert sent.status_code == 302 and sent["Location"] == "/m/login/sms/"
    page = client.get("/m/login/sms/").content.decode()
    assert "如果手机号 139****5678 已登记，验证码已发到这个手机，5分钟内有效。" in page
    assert PHONE not in page  # masked
    code = re.search(r"验证码是(\d{6})", outbox[-1][1]).group(1)

    done = client.post("/m/login/sms/", {"code": code})

    assert done.status_code == 302 and done["Location"] == "/m/"
    assert "王秀英" in client.get("/m/").content.decode()


def test_an_unknown_phone_gets_the_same_page(db, outbox):
    client = Client()
    sent = client.post("/m/login/sms/send/", {"phone": "13700001111"})
    assert sent.status_code == 302 and sent["Location"] == "/m/login/sms/"
    assert "如果手机号 137****1111 已登记" in client.get("/m/login/sms/").content.decode()
    assert outbox == []
    wrong = client.post("/m/login/sms/", {"code": "123456"})
    assert wrong.status_code == 401
    assert "验证码不对或已过期" in wrong.content.decode()


def test_asking_again_within_a_minute_says_how_long_to_wait(me):
    client = Client()
    client.post("/m/login/sms/send/", {"phone": PHONE})
    again = client.post("/m/login/sms/send/", {"phone": PHONE, "again": "1"})
    assert again.status_code == 429
    assert re.search(r"验证码刚发过，请(60|59)秒后再获取", again.content.decode())


@pytest.mark.parametrize(
    ("phone", "message"),
    [("", "请填写手机号"), ("1391234567", "手机号应为11位，这里是10位"), ("abc", "手机号格式不对")],
)
def test_a_bad_phone_is_said_at_the_field_and_nothing_written(db, outbox, phone, message):
    page = Client().post("/m/login/sms/send/", {"phone": phone})
    assert page.status_code == 422
    assert (
        f'<p class="field-error" id="phone-error" role="alert">{message}</p>'
        in page.content.decode()
    )
    assert SmsLogin.objects.count() == 0 and outbox == []


def test_the_code_page_needs_a_phone_first(db):
    response = Client().get("/m/login/sms/")
    assert response.status_code == 302 and response["Location"] == "/m/login/"


def test_a_phone_in_two_households_chooses_one(
    world, me, outbox, django_capture_on_commit_callbacks
):
    other = make_household(world.scheme, world.village_b1, "王建国", phone=PHONE)
    stranger = make_household(world.scheme, world.village_a1, "别人家")
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/m/login/sms/send/", {"phone": PHONE})
    code = re.search(r"验证码是(\d{6})", outbox[-1][1]).group(1)

    chose = client.post("/m/login/sms/", {"code": code})

    assert chose["Location"] == "/m/login/choose/"
    page = client.get("/m/login/choose/").content.decode()
    assert "王秀英 · 晓光村" in page and "王建国 · 兴盛村" in page and "别人家" not in page
    bad = client.post("/m/login/choose/", {"household": str(stranger.pk)})
    assert bad.status_code == 422 and "请选择要登录的一户" in bad.content.decode()
    assert client.get("/m/").status_code == 302
    done = client.post("/m/login/choose/", {"household": str(other.pk)})
    assert done["Location"] == "/m/"
    assert "王建国" in client.get("/m/").content.decode()


def test_a_resident_changes_the_pin_and_stays_signed_in(me):
    client = card_login(me)
    other_phone = card_login(me)
    home = client.get("/m/").content.decode()
    assert 'href="/m/pin/"' in home and "修改密码" in home

    done = client.post("/m/pin/", {"old_pin": PIN, "new_pin": "907314", "again": "907314"})

    assert done.status_code == 302 and done["Location"] == "/m/"
    assert "密码已修改，下次登录请用新密码" in client.get("/m/").content.decode()
    assert household_check_pin(household=Household.objects.get(pk=me.pk), pin="907314")
    # the other phone was signed out
    assert other_phone.get("/m/")["Location"] == "/m/login/"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"old_pin": PIN, "new_pin": "123456", "again": "123456"},
            "new_pin",
            "这个密码太容易被猜到（如000000、123456、121212），请换一个",
        ),
        (
            {"old_pin": PIN, "new_pin": "000000", "again": "000000"},
            "new_pin",
            "这个密码太容易被猜到（如000000、123456、121212），请换一个",
        ),
        (
            {"old_pin": PIN, "new_pin": "907314", "again": "907341"},
            "again",
            "两次输入的新密码不一样",
        ),
        (
            {"old_pin": "111112", "new_pin": "907314", "again": "907314"},
            "old_pin",
            "原密码不对，还可以再试4次",
        ),
        ({"old_pin": PIN, "new_pin": "9073", "again": "9073"}, "new_pin", "密码应为6位数字"),
    ],
)
def test_bad_pin_changes_are_said_at_the_field_and_change_nothing(me, form, field, message):
    client = card_login(me)
    before = Household.objects.values_list("pin_hash", "login_epoch").get(pk=me.pk)

    page = client.post("/m/pin/", form)

    assert page.status_code in (401, 422)
    assert (
        f'<p class="field-error" id="{field}-error" role="alert">{message}</p>'
        in page.content.decode()
    )
    assert Household.objects.values_list("pin_hash", "login_epoch").get(pk=me.pk) == before


def test_a_staff_reset_signs_the_phone_out(world, me):
    client = card_login(me)
    admin = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))

    pin = household_pin_reset(actor=admin, household=me)

    assert client.get("/m/")["Location"] == "/m/login/"
    assert card_login(me, pin).get("/m/").status_code == 200


def test_the_pin_page_needs_a_login(db):
    assert Client().get("/m/pin/")["Location"] == "/m/login/?next=%2Fm%2Fpin%2F"


def test_a_page_opened_while_logged_out_is_where_the_login_brings_the_resident_back(me):
    """The door's QR code scanned with the phone's own camera opens the scan page logged out."""
    client = Client()
    opened = client.get("/m/activities/scan/?code=ABC123")
    assert opened.status_code == 302
    assert opened["Location"] == "/m/login/?next=%2Fm%2Factivities%2Fscan%2F%3Fcode%3DABC123"
    page = client.get(opened["Location"]).content.decode()
    assert (
        page.count('<input type="hidden" name="next" value="/m/activities/scan/?code=ABC123">') == 2
    )
    response = client.post(
        "/m/login/", {"card": me.card_code, "pin": PIN, "next": "/m/activities/scan/?code=ABC123"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/m/activities/scan/?code=ABC123"


def test_the_sms_login_brings_the_resident_back_too(me, outbox, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/m/login/sms/send/", {"phone": PHONE, "next": "/m/activities/"})
    code = re.search(r"验证码是(\d{6})", outbox[-1][1]).group(1)
    response = client.post("/m/login/sms/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/m/activities/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/m/", "/admin/", "/m//x"]
)
def test_only_a_resident_page_of_this_site_is_returned_to(me, target):
    client = Client()
    response = client.post("/m/login/", {"card": me.card_code, "pin": PIN, "next": target})
    assert response["Location"] == "/m/"
