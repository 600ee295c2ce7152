"""Login by phone + SMS code: one code a minute, 5 minutes valid, used once, 5 wrong codes
lock the phone 15 minutes, the same answer whether or not the phone is on file, only keyed
digests stored, no full phone number in any log line, parallel guessing gets five checks."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.utils import timezone

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households import crypto
from civicpoints.households.models import HouseholdStatus, SmsLogin
from civicpoints.households.services import member_add
from civicpoints.households.sms import MemoryBackend, send_sms
from civicpoints.households.sms_login import sms_code_check, sms_code_request
from tests.factories import make_household
from tests.ledger.helpers import run_in_threads

PHONE = "13912345678"
MEMBER_PHONE = "13887654321"
NOBODY = "13700001111"


@pytest.fixture(autouse=True)
def outbox(settings) -> list[tuple[str, str]]:
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    return MemoryBackend.outbox


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """Ask for a code and run what waits for the commit (the text), as a request would."""

    def ask(phone):
        with django_capture_on_commit_callbacks(execute=True):
            return sms_code_request(phone=phone)

    return ask


@pytest.fixture
def household(world):
    h = make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)
    member_add(actor_id=None, household=h, name="李小军", relation="child", phone=MEMBER_PHONE)
    return h


def code_sent(outbox, phone: str = PHONE) -> str:
    sent = [text for to, text in outbox if to == phone]
    return re.search(r"验证码是(\d{6})", sent[-1]).group(1)


def row(phone: str = PHONE) -> SmsLogin:
    return SmsLogin.objects.get(phone_digest=crypto.digest(phone))


def rows() -> list[tuple]:
    return sorted(
        SmsLogin.objects.values_list(
            "phone_digest", "code_hash", "code_expires_at", "sent_at", "failures", "locked_until"
        )
    )


def back_in_time(phone: str = PHONE, **fields: dt.timedelta) -> None:
    """Move stored times into the past, as if that much time had gone by."""
    r = row(phone)
    for name, delta in fields.items():
        setattr(r, name, getattr(r, name) - delta)
    r.save(update_fields=list(fields))


def refused(call, code: ErrorCode) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        call()
    assert err.value.code == code, err.value
    return err.value


def test_a_code_is_texted_to_a_phone_on_file_and_only_digests_are_stored(ask, household, outbox):
    assert ask("139 1234-5678") == PHONE

    assert len(outbox) == 1
    to, text = outbox[0]
    code = code_sent(outbox)
    assert to == PHONE
    assert text == f"【文明积分】您的登录验证码是{code}，5分钟内有效。请勿告诉他人。"
    stored = row()
    assert PHONE not in stored.phone_digest and code not in stored.code_hash
    assert len(stored.code_hash) == 64
    assert stored.code_expires_at - stored.sent_at == dt.timedelta(minutes=5)


def test_a_member_phone_logs_into_the_members_household(ask, household, outbox):
    ask(MEMBER_PHONE)
    result = sms_code_check(phone=MEMBER_PHONE, code=code_sent(outbox, MEMBER_PHONE))
    assert result.chosen == household


def test_a_phone_not_on_file_gets_the_same_answer_and_no_text(ask, household, outbox):
    assert ask(NOBODY) == NOBODY
    assert outbox == []
    assert row(NOBODY).code_hash != ""
    # the same minute rule and the same wrong-code answer as for a registered phone
    for phone in (NOBODY, PHONE):
        if phone == PHONE:
            ask(PHONE)
        error = refused(lambda p=phone: ask(p), ErrorCode.LOCKED_OUT)
        assert error.message == "验证码刚发过，请60秒后再获取"
        wrong = refused(
            lambda p=phone: sms_code_check(phone=p, code="000000"), ErrorCode.LOGIN_FAILED
        )
        assert (wrong.message, wrong.detail) == (
            "验证码不对或已过期",
            {"attempts_left": 4, "field": "code"},
        )


def test_one_code_a_minute_says_how_long_to_wait(ask, household, outbox):
    ask(PHONE)
    back_in_time(sent_at=dt.timedelta(seconds=45))
    before = rows()

    error = refused(lambda: ask(PHONE), ErrorCode.LOCKED_OUT)

    assert error.message == "验证码刚发过，请15秒后再获取"
    assert error.detail == {"retry_after": 15, "field": "phone"}
    assert len(outbox) == 1 and rows() == before
    back_in_time(sent_at=dt.timedelta(seconds=16))
    ask(PHONE)
    assert len(outbox) == 2


def test_a_code_works_once(ask, household, outbox):
    ask(PHONE)
    code = code_sent(outbox)

    assert sms_code_check(phone=PHONE, code=f" {code} ").chosen == household

    again = refused(lambda: sms_code_check(phone=PHONE, code=code), ErrorCode.LOGIN_FAILED)
    assert again.message == "验证码不对或已过期"


def test_a_code_expires_after_five_minutes(ask, household, outbox):
    ask(PHONE)
    code = code_sent(outbox)
    back_in_time(code_expires_at=dt.timedelta(minutes=5, seconds=1))
    refused(lambda: sms_code_check(phone=PHONE, code=code), ErrorCode.LOGIN_FAILED)


def test_five_wrong_codes_lock_the_phone_for_fifteen_minutes(ask, household, outbox):
    ask(PHONE)
    code = code_sent(outbox)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        error = refused(lambda: sms_code_check(phone=PHONE, code=wrong), ErrorCode.LOGIN_FAILED)
        assert error.detail["attempts_left"] == left
    locked = row().locked_until
    assert dt.timedelta(minutes=14) < locked - timezone.now() <= dt.timedelta(minutes=15)

    # Then the right code is refused, and so is a new code, saying how long to wait
    error = refused(lambda: sms_code_check(phone=PHONE, code=code), ErrorCode.LOCKED_OUT)
    assert error.message == "验证码错误次数过多，这个手机号已锁定，请15分钟后再试"
    back_in_time(sent_at=dt.timedelta(minutes=2))
    error = refused(lambda: ask(PHONE), ErrorCode.LOCKED_OUT)
    assert error.message == "验证码错误次数过多，这个手机号已锁定，请15分钟后再试"
    assert len(outbox) == 1
    # and after the 15 minutes a new code works (the old one was voided by the lock)
    back_in_time(locked_until=dt.timedelta(minutes=15))
    refused(lambda: sms_code_check(phone=PHONE, code=code), ErrorCode.LOGIN_FAILED)
    back_in_time(locked_until=dt.timedelta(minutes=15))  # (that wrong try counted; no matter)
    ask(PHONE)
    assert sms_code_check(phone=PHONE, code=code_sent(outbox)).chosen == household


def test_one_phone_in_several_households_chooses_after_the_code(ask, world, household, outbox):
    other = make_household(world.scheme, world.village_b1, "王建国", phone=PHONE)
    make_household(
        world.scheme, world.village_a2, "已注销", phone=PHONE, status=HouseholdStatus.CLOSED
    )

    ask(PHONE)
    code = code_sent(outbox)

    # The API keeps the code valid and lists the households to choose from
    error = refused(
        lambda: sms_code_check(phone=PHONE, code=code, keep_code_to_choose=True),
        ErrorCode.INVALID_INPUT,
    )
    assert error.detail == {
        "field": "household",
        "households": [
            {"household": household.pk, "head_name": "王秀英", "village_name": "晓光村"},
            {"household": other.pk, "head_name": "王建国", "village_name": "兴盛村"},
        ],
    }
    stranger = make_household(world.scheme, world.village_a1, "别人家")
    refused(
        lambda: sms_code_check(phone=PHONE, code=code, household_id=stranger.pk),
        ErrorCode.INVALID_INPUT,
    )
    result = sms_code_check(phone=PHONE, code=code, household_id=other.pk)
    assert result.chosen == other
    # The pages use the code up and keep the choice themselves
    back_in_time(sent_at=dt.timedelta(minutes=1))
    ask(PHONE)
    result = sms_code_check(phone=PHONE, code=code_sent(outbox))
    assert (result.chosen, result.households) == (None, [household, other])
    refused(lambda: sms_code_check(phone=PHONE, code=code_sent(outbox)), ErrorCode.LOGIN_FAILED)


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("", "请填写手机号"),
        ("1391234567", "手机号应为11位，这里是10位"),
        ("abc", "手机号格式不对"),
        ("+1 650 253 0000", "只支持中国大陆手机号"),
        ("0436-1234567", "请填写11位手机号"),
        (None, "请填写手机号"),
    ],
)
def test_bad_phone_numbers_are_refused_at_the_field_and_nothing_written(
    ask, household, outbox, phone, message
):
    for call in (
        lambda: ask(phone),
        lambda: sms_code_check(phone=phone, code="123456"),
    ):
        error = refused(call, ErrorCode.INVALID_INPUT)
        assert (error.message, error.detail) == (message, {"field": "phone"})
    assert rows() == [] and outbox == []


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "１２３４５６", None])
def test_malformed_codes_are_refused_without_costing_a_try(ask, household, outbox, code):
    ask(PHONE)
    before = rows()
    error = refused(lambda: sms_code_check(phone=PHONE, code=code), ErrorCode.INVALID_INPUT)
    assert (error.message, error.detail) == ("验证码是短信里的6位数字", {"field": "code"})
    assert rows() == before


# --- logs ---------------------------------------------------------------------------------


def test_no_log_line_carries_a_full_phone_number(ask, settings, household, caplog):
    settings.SMS_BACKEND = "civicpoints.households.sms.ConsoleBackend"
    caplog.set_level(logging.DEBUG)

    ask(PHONE)
    settings.SMS_BACKEND = "tests.households.test_sms_login.FailingBackend"
    send_sms(phone=PHONE, text="测试")

    lines = [r.getMessage() for r in caplog.records]
    assert any("SMS to 139****5678: 【文明积分】您的登录验证码是" in line for line in lines)
    assert "SMS to 139****5678 failed: RuntimeError" in lines
    text = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    assert PHONE not in text and "12345678" not in text


class FailingBackend:
    def send(self, phone: str, text: str) -> None:
        raise RuntimeError(f"gateway refused {phone}")


# --- parallel guessing (PostgreSQL) -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_codes_get_five_checks(ask, world, postgres_only, outbox):
    make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)
    ask(PHONE)
    code = code_sent(outbox)
    guesses = [f"{(int(code) + 1 + i) % 10**6:06d}" for i in range(20)]

    outcomes = run_in_threads(20, lambda i: sms_code_check(phone=PHONE, code=guesses[i]))

    codes = [str(o.error.code) if isinstance(o.error, ApplicationError) else o for o in outcomes]
    assert codes.count(ErrorCode.LOGIN_FAILED) == 5, codes
    assert codes.count(ErrorCode.LOCKED_OUT) == 15, codes
    assert row().locked_until is not None
    refused(lambda: sms_code_check(phone=PHONE, code=code), ErrorCode.LOCKED_OUT)


@pytest.mark.django_db(transaction=True)
def test_the_right_code_sent_twenty_times_at_once_logs_in_once(ask, world, postgres_only, outbox):
    h = make_household(world.scheme, world.village_a1, "王秀英", phone=PHONE)
    ask(PHONE)
    code = code_sent(outbox)

    outcomes = run_in_threads(20, lambda i: sms_code_check(phone=PHONE, code=code).chosen.pk)

    wins = [o.value for o in outcomes if o.error is None]
    assert wins == [h.pk]
    errors = [o.error for o in outcomes if o.error is not None]
    assert all(isinstance(e, ApplicationError) for e in errors), errors
    # the 19 late ones were checked against a used-up code: at most five, the rest locked out
    assert sum(1 for e in errors if e.code == ErrorCode.LOGIN_FAILED) <= 5
