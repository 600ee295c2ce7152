"""Residents are texted once per event, after commit: points posted (one text per household
per finalize run), claim rejected, claim objected, order ready, delivery on its way."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from civicpoints.awards.services import (
    claim_approve,
    claim_object,
    claim_reject,
    claim_submit,
    notices_finalize,
)
from civicpoints.awards.services import notices as notices_module
from civicpoints.households.models import Member, Relation
from civicpoints.notifications.models import Notification
from civicpoints.notifications.services import notify
from civicpoints.stores.models import Delivery
from civicpoints.stores.services import Item, delivery_dispatch, order_place, redeem
from tests.awards.conftest import MONDAY
from tests.factories import make_household
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN, build_shop


def _at(days: float) -> dt.datetime:
    return MONDAY + dt.timedelta(days=days)


@pytest.fixture(autouse=True)
def _frozen_today(monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda value=None: dt.date(2026, 11, 2))


def submit(earning, household, code, quantity):
    return claim_submit(
        actor=earning.grid_worker,
        household=household,
        rule_id=earning.rules[code].pk,
        quantity=quantity,
        occurred_on=dt.date(2026, 11, 1),
    )


def test_one_text_per_household_per_finalize_run_and_none_on_a_rerun(
    earning, outbox, django_capture_on_commit_callbacks, monkeypatch
):
    # Given two claims of one household and one of a neighbour, all on notice,
    # and batches of one claim so the household's claims fall in different transactions
    monkeypatch.setattr(notices_module, "BATCH", 1)
    wang = make_household(earning.scheme, earning.world.village_a1, "王秀英", phone="13912345678")
    li = make_household(earning.scheme, earning.world.village_a1, "李建国", phone="13812345678")
    for claim in (submit(earning, wang, "B01", 150), submit(earning, wang, "V02", 1)):
        claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))
    claim_approve(actor=earning.village_admin, claim=submit(earning, li, "B01", 20), at=_at(0))

    # When notice ends and the finalizer runs, then runs again
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_finalize(at=_at(3)).count == 3
        assert notices_finalize(at=_at(4)).count == 0

    # Then each household got exactly one text, summing its claims
    assert sorted(outbox) == [
        ("13812345678", "【文明积分】您家「回收农药瓶」20 分已公示期满入账。"),
        ("13912345678", "【文明积分】您家「回收农药瓶」等 2 项共 160 分已公示期满入账。"),
    ]
    assert Notification.objects.filter(sent_at__isnull=False).count() == 2
    assert_ledger_ok(earning.scheme.pk)


def test_a_rejected_claim_texts_its_reason_once(
    earning, outbox, django_capture_on_commit_callbacks
):
    household = make_household(earning.scheme, earning.world.village_a1, phone="13912345678")
    claim = submit(earning, household, "V02", 1)
    with django_capture_on_commit_callbacks(execute=True):
        claim_reject(actor=earning.village_admin, claim=claim, reason="当天没有组织义务劳动")
    assert outbox == [
        (
            "13912345678",
            "【文明积分】您家申报的「参加村集体义务劳动」没有通过审核。原因：当天没有组织义务劳动",
        )
    ]
    row = Notification.objects.get()
    assert (row.event_key, row.household_id) == (f"claim_rejected:{claim.pk}", household.pk)
    assert row.sent_at is not None


def test_an_objection_texts_the_claims_household_not_the_objector(
    earning, outbox, django_capture_on_commit_callbacks
):
    household = make_household(earning.scheme, earning.world.village_a1, phone="13912345678")
    neighbour = make_household(earning.scheme, earning.world.village_a1, phone="13812345678")
    claim = submit(earning, household, "V02", 1)
    claim_approve(actor=earning.village_admin, claim=claim, at=_at(0))
    with django_capture_on_commit_callbacks(execute=True):
        claim_object(claim=claim, objector=neighbour, reason="那天他不在村里", at=_at(1))
    assert outbox == [
        (
            "13912345678",
            "【文明积分】您家「参加村集体义务劳动」在公示期间有人提出异议，"
            "村里会重新审核，审核后再公示。",
        )
    ]


def test_nothing_is_texted_when_the_event_rolls_back(earning, outbox):
    household = make_household(earning.scheme, earning.world.village_a1, phone="13912345678")
    claim = submit(earning, household, "V02", 1)
    with pytest.raises(RuntimeError), transaction.atomic():
        claim_reject(actor=earning.village_admin, claim=claim, reason="重复申报")
        raise RuntimeError("the caller fails after the service")
    assert outbox == []
    assert Notification.objects.count() == 0


def test_the_head_members_phone_is_used_when_the_household_has_none(
    earning, outbox, django_capture_on_commit_callbacks
):
    household = make_household(earning.scheme, earning.world.village_a1, "赵大娘")
    Member.objects.filter(household=household, relation=Relation.HEAD).update(phone="13700001111")
    with django_capture_on_commit_callbacks(execute=True):
        claim_reject(
            actor=earning.village_admin,
            claim=submit(earning, household, "V02", 1),
            reason="证明材料不全",
        )
    assert [phone for phone, _ in outbox] == ["13700001111"]


def test_no_phone_on_file_records_and_sends_nothing(
    earning, outbox, django_capture_on_commit_callbacks
):
    household = make_household(earning.scheme, earning.world.village_a1, "赵大爷")
    with django_capture_on_commit_callbacks(execute=True):
        claim_reject(
            actor=earning.village_admin,
            claim=submit(earning, household, "V02", 1),
            reason="证明材料不全",
        )
    assert outbox == []
    assert Notification.objects.count() == 0


def test_the_same_event_key_sends_once(earning, outbox, django_capture_on_commit_callbacks):
    household = make_household(earning.scheme, earning.world.village_a1, phone="13912345678")
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(
            scheme_id=household.scheme_id, household_id=household.pk, event_key="x:1", text="一"
        )
        again = notify(
            scheme_id=household.scheme_id, household_id=household.pk, event_key="x:1", text="二"
        )
    assert (first, again) == (True, False)
    assert outbox == [("13912345678", "一")]
    assert Notification.objects.count() == 1


def test_order_ready_and_delivery_on_its_way(world, outbox, django_capture_on_commit_callbacks):
    shop = build_shop(world)
    # An app order: the goods are set aside at once, so the resident hears it is ready
    with django_capture_on_commit_callbacks(execute=True):
        order = order_place(
            household=shop.household, store=shop.store, items=[Item(shop.cooker.pk, 1)]
        )
    day = order.expires_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert outbox == [
        (
            "13912345678",
            f"【文明积分】您在开通镇爱心超市的订单已备好货（冻结 200 分），"
            f"请在{day.month}月{day.day}日前到店取货。",
        )
    ]
    # A large item for home delivery: the resident hears when it leaves the store
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组 12 号",
    )
    delivery = Delivery.objects.get(redemption=redemption)
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        delivery_dispatch(actor=shop.clerk_actor, delivery=delivery, courier="李师傅")
    assert outbox == [
        ("13912345678", "【文明积分】您在开通镇爱心超市兑换的物品已出发送货上门，请留意接收。")
    ]
    assert sorted(Notification.objects.values_list("event_key", flat=True))[0] == (
        f"delivery_out:{delivery.pk}:{int(Delivery.objects.get().out_at.timestamp())}"
    )
