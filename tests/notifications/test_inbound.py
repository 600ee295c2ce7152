"""Inbound SMS commands: only signed, fresh requests from phones on file are answered, at
most five commands per phone per ten minutes; every refusal sends nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.households.models import Member
from civicpoints.ledger.services import household_account
from civicpoints.notifications.inbound import command_of, signature_for
from civicpoints.notifications.models import InboundCounter, Notification
from civicpoints.stores.services import Item, redeem
from tests.factories import fund, make_household
from tests.stores.conftest import PIN, build_shop

SECRET = "test-webhook-secret"


@pytest.fixture(autouse=True)
def _secret(settings) -> None:
    settings.SMS_WEBHOOK_SECRET = SECRET


def body_for(phone: str, text: str, *, at: dt.datetime | None = None) -> bytes:
    stamp = int((at or timezone.now()).timestamp())
    return json.dumps({"phone": phone, "text": text, "timestamp": stamp}).encode()


def send(body: bytes, *, signature: str | None = None):
    sig = signature if signature is not None else signature_for(body, SECRET)
    return Client().post(
        "/sms/inbound", data=body, content_type="application/json", HTTP_X_SIGNATURE=sig
    )


@pytest.fixture
def wang(earning):
    household = make_household(
        earning.scheme, earning.world.village_a1, "王秀英", phone="13912345678"
    )
    fund(household, 12700)
    return household


def test_jf_replies_with_the_balance_and_the_points_on_notice(
    earning, wang, outbox, django_capture_on_commit_callbacks
):
    # Given 15 bottles on notice until 3 days after approval
    claim = claim_submit(
        actor=earning.grid_worker,
        household=wang,
        rule_id=earning.rules["B01"].pk,
        quantity=15,
        occurred_on=timezone.localdate(),
    )
    approved_at = timezone.now()
    claim_approve(actor=earning.village_admin, claim=claim, at=approved_at)
    ends = timezone.localtime(approved_at + dt.timedelta(days=3))
    # When the resident texts " jf " (any case, spaces trimmed)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(body_for("13912345678", " jf "))
    # Then one reply tells the available balance and what is coming
    assert (response.status_code, response.json()) == (200, {"status": "replied"})
    assert outbox == [
        (
            "13912345678",
            f"【文明积分】您家可用积分 127 分；公示中 +15 分，{ends.month}月{ends.day}日前入账。",
        )
    ]


def test_mingxi_replies_with_the_last_three_entries_in_plain_words(
    world, outbox, django_capture_on_commit_callbacks, settings
):
    shop = build_shop(world)  # 王秀英 13912345678 with 12,700 points
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.rice.pk, 1)],
        pin=PIN,
    )
    fund(shop.household, 500, memo="测试奖励")
    fund(shop.household, 300, memo="第三笔")
    with django_capture_on_commit_callbacks(execute=True):
        response = send(body_for("+86 139 1234 5678", "明细"))
    assert response.status_code == 200
    today = timezone.localdate()
    day = f"{today.month}月{today.day}日"
    assert outbox == [
        (
            "13912345678",
            f"【文明积分】最近三笔：{day} 第三笔 +3；{day} 测试奖励 +5；"
            f"{day} 开通镇爱心超市 兑换 -30。",
        )
    ]


def test_anything_else_gets_the_help_text(wang, outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert send(body_for("13912345678", "你好")).status_code == 200
    assert outbox == [
        ("13912345678", "【文明积分】回复“积分”或“JF”查积分，回复“明细”查最近三笔记录。")
    ]


def test_a_members_phone_is_on_file_too(earning, wang, outbox, django_capture_on_commit_callbacks):
    Member.objects.create(scheme=earning.scheme, household=wang, name="王小明", phone="13600002222")
    with django_capture_on_commit_callbacks(execute=True):
        assert send(body_for("13600002222", "积分")).status_code == 200
    assert outbox == [("13600002222", "【文明积分】您家可用积分 127 分；暂无公示中的积分。")]


def test_commands_are_read_loosely():
    assert [command_of(t) for t in ("积分", " JF", "ｊｆ", "j f", "明 细", "mx", "余额", "")] == [
        "balance",
        "balance",
        "balance",
        "balance",
        "history",
        "history",
        "help",
        "help",
    ]


# --- refusals: nothing sent, nothing counted -------------------------------------------------


def _nothing_happened(outbox) -> None:
    assert outbox == []
    assert Notification.objects.count() == 0
    assert InboundCounter.objects.count() == 0


def test_a_bad_signature_is_refused(wang, outbox, django_capture_on_commit_callbacks):
    body = body_for("13912345678", "JF")
    with django_capture_on_commit_callbacks(execute=True):
        wrong_key = send(body, signature=signature_for(body, "another-secret"))
        tampered = send(body.replace(b"JF", b"MX"), signature=signature_for(body, SECRET))
        missing = send(body, signature="")
    assert [r.status_code for r in (wrong_key, tampered, missing)] == [401, 401, 401]
    assert wrong_key.json() == {"status": "bad_signature"}
    _nothing_happened(outbox)


def test_a_stale_or_future_timestamp_is_refused(wang, outbox, django_capture_on_commit_callbacks):
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        old = send(body_for("13912345678", "JF", at=now - dt.timedelta(minutes=5, seconds=5)))
        ahead = send(body_for("13912345678", "JF", at=now + dt.timedelta(minutes=6)))
    assert [(r.status_code, r.json()["status"]) for r in (old, ahead)] == [
        (401, "stale_timestamp"),
        (401, "stale_timestamp"),
    ]
    _nothing_happened(outbox)


def test_an_unknown_phone_gets_nothing(wang, outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        unknown = send(body_for("13000000000", "JF"))
        garbage = send(body_for("not a phone", "JF"))
    assert [(r.status_code, r.json()["status"]) for r in (unknown, garbage)] == [
        (202, "unknown_phone"),
        (202, "unknown_phone"),
    ]
    _nothing_happened(outbox)


def test_a_malformed_body_is_refused(wang, outbox):
    for body in (
        b"not json",
        b'{"phone": "13912345678"}',
        b'{"phone": 1, "text": "JF", "timestamp": 1}',
    ):
        assert send(body).status_code == 400
    _nothing_happened(outbox)


def test_without_a_secret_the_webhook_is_off(wang, outbox, settings):
    settings.SMS_WEBHOOK_SECRET = ""
    body = body_for("13912345678", "JF")
    assert send(body, signature=signature_for(body, "")).status_code == 503
    _nothing_happened(outbox)


def test_the_sixth_command_in_ten_minutes_is_refused(
    wang, outbox, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        answers = [send(body_for("13912345678", f"JF{i}", at=start)).status_code for i in range(6)]
    assert answers == [200, 200, 200, 200, 200, 429]
    assert len(outbox) == 5
    assert Notification.objects.count() == 5
    assert InboundCounter.objects.get().count == 5


def test_a_replayed_request_is_answered_once(wang, outbox, django_capture_on_commit_callbacks):
    body = body_for("13912345678", "JF")
    with django_capture_on_commit_callbacks(execute=True):
        first = send(body)
        again = send(body)
    assert [(r.status_code, r.json()["status"]) for r in (first, again)] == [
        (200, "replied"),
        (200, "duplicate"),
    ]
    assert len(outbox) == 1
    assert InboundCounter.objects.get().count == 1


def test_only_post_is_accepted(wang, outbox):
    assert Client().get("/sms/inbound").status_code == 405
    _nothing_happened(outbox)


def test_the_balance_counts_held_points(world, outbox, django_capture_on_commit_callbacks):
    shop = build_shop(world)
    account = household_account(household=shop.household)
    assert account.balance == 1_270_000
    from civicpoints.stores.services import order_place

    order_place(household=shop.household, store=shop.store, items=[Item(shop.cooker.pk, 1)])
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        send(body_for("13912345678", "积分"))
    assert outbox == [
        (
            "13912345678",
            "【文明积分】您家可用积分 12500 分（另有 200 分冻结待取货）；暂无公示中的积分。",
        )
    ]
