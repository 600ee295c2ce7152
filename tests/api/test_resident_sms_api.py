"""Residents over HTTP by phone: POST /auth/sms-code then /auth/resident-sms-token, the same
token as the card + PIN login; the same answer for a phone not on file; bad bodies are 422
and write nothing."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.households.models import Household, ResidentToken, SmsLogin
from civicpoints.households.sms import MemoryBackend
from tests.api.conftest import assert_error
from tests.api.spending import post
from tests.factories import make_household

PHONE = "13912345678"
CODE_URL = "/api/v1/auth/sms-code"
TOKEN_URL = "/api/v1/auth/resident-sms-token"


@pytest.fixture(autouse=True)
def outbox(settings):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    return MemoryBackend.outbox


@pytest.fixture
def household(world) -> Household:
    return make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    def ask(phone: str):
        with django_capture_on_commit_callbacks(execute=True):
            return post(Client(), CODE_URL, {"phone": phone})

    return ask


def sent_code(outbox) -> str:
    return re.search(r"验证码是(\d{6})", outbox[-1][1]).group(1)


def test_a_resident_logs_in_by_phone_and_code(household, outbox, ask):
    asked = ask(PHONE)
    assert asked.status_code == 200
    assert asked.json() == {
        "message": "如果该手机号已登记，验证码已发送，5分钟内有效",
        "expires_in": 300,
        "retry_after": 60,
    }

    response = post(Client(), TOKEN_URL, {"phone": PHONE, "code": sent_code(outbox)})

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"token", "expires_at", "household", "head_name", "village", "village_name"}
    assert (body["household"], body["head_name"], body["village_name"]) == (
        household.pk,
        "王秀英",
        "晓光村",
    )
    resident = Client(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    code = post(resident, f"/api/v1/households/{household.pk}/payment-codes", {})
    assert code.status_code == 201, code.content
    again = post(Client(), TOKEN_URL, {"phone": PHONE, "code": sent_code(outbox)})
    assert_error(again, 401, "login_failed")


def test_a_phone_not_on_file_gets_the_same_answer(household, outbox, ask):
    asked = ask("13700001111")
    assert asked.status_code == 200
    assert asked.json()["message"] == "如果该手机号已登记，验证码已发送，5分钟内有效"
    assert outbox == []
    wrong = post(Client(), TOKEN_URL, {"phone": "13700001111", "code": "123456"})
    error = assert_error(wrong, 401, "login_failed")
    assert error["detail"] == {"attempts_left": 4, "field": "code"}


def test_one_code_a_minute(household, ask):
    ask(PHONE)
    again = ask(PHONE)
    error = assert_error(again, 429, "locked_out")
    assert error["message"] == "验证码刚发过，请60秒后再获取"
    assert error["detail"] == {"retry_after": 60, "field": "phone"}


def test_five_wrong_codes_lock_the_phone(household, outbox, ask):
    ask(PHONE)
    code = sent_code(outbox)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        error = assert_error(post(Client(), TOKEN_URL, {"phone": PHONE, "code": wrong}), 401)
        assert error["detail"]["attempts_left"] == left
    locked = post(Client(), TOKEN_URL, {"phone": PHONE, "code": code})
    assert assert_error(locked, 429, "locked_out")["message"] == (
        "验证码错误次数过多，这个手机号已锁定，请15分钟后再试"
    )
    assert ResidentToken.objects.count() == 0


def test_a_phone_in_two_households_names_the_household(world, household, outbox, ask):
    other = make_household(world.scheme, world.village_b1, "王建国", phone=PHONE)
    ask(PHONE)
    code = sent_code(outbox)

    choose = post(Client(), TOKEN_URL, {"phone": PHONE, "code": code})

    error = assert_error(choose, 422, "invalid_input")
    assert error["detail"]["households"] == [
        {"household": household.pk, "head_name": "王秀英", "village_name": "晓光村"},
        {"household": other.pk, "head_name": "王建国", "village_name": "兴盛村"},
    ]
    chosen = post(Client(), TOKEN_URL, {"phone": PHONE, "code": code, "household": other.pk})
    assert chosen.status_code == 200 and chosen.json()["household"] == other.pk


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (CODE_URL, {}, "phone"),
        (CODE_URL, {"phone": ""}, "phone"),
        (CODE_URL, {"phone": "1391234567"}, "phone"),
        (CODE_URL, {"phone": 13912345678}, "phone"),
        (CODE_URL, {"phone": "1" * 40}, "phone"),
        (TOKEN_URL, {"phone": PHONE}, "code"),
        (TOKEN_URL, {"phone": PHONE, "code": "12345"}, "code"),
        (TOKEN_URL, {"phone": PHONE, "code": "123456", "household": 0}, "household"),
        (TOKEN_URL, {"phone": PHONE, "code": "123456", "household": "x"}, "household"),
        (TOKEN_URL, {"phone": "abc", "code": "123456"}, "phone"),
    ],
)
def test_bad_bodies_are_422_at_the_field_and_write_nothing(household, outbox, url, body, field):
    response = post(Client(), url, body)
    error = assert_error(response, 422, "invalid_input")
    fields = {e["field"] for e in error["detail"].get("errors", [])} | {
        error["detail"].get("field")
    }
    assert field in fields, error
    assert SmsLogin.objects.count() == 0 and outbox == [] and ResidentToken.objects.count() == 0
