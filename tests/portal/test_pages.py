"""Residents' phone pages: card + PIN login with lockout, balance, self-report with a photo,
reading the village notice and objecting."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.households.services import household_set_pin
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import (
    PNG,  # real images: uploads are re-encoded
    build_world,
    fund,
    make_household,
    make_staff,
)

PIN = "258369"


@pytest.fixture
def village(db, settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    me = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=me, pin=PIN)
    me.refresh_from_db()
    return world, rules, admin, me


def login(card: str, pin: str) -> tuple[Client, str]:
    client = Client()
    response = client.post("/m/login/", {"card": card, "pin": pin}, follow=True)
    return client, response.content.decode()


def test_login_shows_the_balance_in_big_text(village):
    _, _, _, me = village
    fund(me, 12700)
    _, page = login(f" {me.card_code.lower()} ", PIN)
    assert "可用积分" in page and "<strong>127</strong>" in page
    assert "申报好人好事" in page


def test_wrong_pins_lock_the_card(village):
    _, _, _, me = village
    for _ in range(5):
        _, page = login(me.card_code, "111111")
        assert "卡号或密码不对" in page
    _, page = login(me.card_code, PIN)
    assert "密码错误次数过多" in page
    _, page = login("NOSUCHCARD", PIN)
    assert "卡号或密码不对" in page


def test_self_report_with_a_photo_goes_to_review(village):
    _, rules, admin, me = village
    client, _ = login(me.card_code, PIN)
    no_photo = client.post(
        "/m/report/",
        {"rule": rules["E02"].pk, "quantity": "1", "occurred_on": dt.date.today().isoformat()},
        follow=True,
    )
    assert "这一项需要拍张照片" in no_photo.content.decode()
    assert Claim.objects.count() == 0
    photo = _upload(PNG)
    done = client.post(
        "/m/report/",
        {
            "rule": rules["E02"].pk,
            "quantity": "1",
            "occurred_on": dt.date.today().isoformat(),
            "photo": photo,
        },
        follow=True,
    )
    assert "已提交" in done.content.decode()
    claim = Claim.objects.get()
    assert (claim.source, claim.status, claim.household_id) == (
        ClaimSource.SELF_REPORT,
        ClaimStatus.SUBMITTED,
        me.pk,
    )
    assert claim.evidence.count() == 1
    claim_approve(actor=admin, claim=claim)
    assert Claim.objects.get().status == ClaimStatus.ON_NOTICE


def test_residents_read_their_village_notice_and_object(village):
    world, rules, admin, me = village
    neighbour = make_household(world.scheme, world.village_a1, "曾国涛")
    elsewhere = make_household(world.scheme, world.village_a2, "外村户")
    ours = claim_submit(actor=admin, household=neighbour, rule_id=rules["B01"].pk, quantity=50)
    claim_approve(actor=admin, claim=ours)
    other_admin = actor_for_user(
        make_staff("cun2", Role.VILLAGE_ADMIN, world.village_a2, world.scheme)
    )
    theirs = claim_submit(
        actor=other_admin, household=elsewhere, rule_id=rules["B01"].pk, quantity=50
    )
    claim_approve(actor=other_admin, claim=theirs)

    client, _ = login(me.card_code, PIN)
    board = client.get("/m/notices/").content.decode()
    assert "曾国涛" in board and "外村户" not in board
    assert client.post(f"/m/notices/{theirs.pk}/object/", {"reason": "x"}).status_code == 404
    client.post(f"/m/notices/{ours.pk}/object/", {"reason": "他家没有回收这么多瓶子"})
    ours.refresh_from_db()
    assert ours.status == ClaimStatus.SUBMITTED
    assert ours.events.last().actor_household_id == me.pk


def test_pages_need_a_login(client):
    for path in ("/m/", "/m/history/", "/m/notices/", "/m/report/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].split("?")[0] == "/m/login/"


def _upload(data: bytes):
    return SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
