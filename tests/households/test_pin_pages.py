"""Staff pages for residents' access: the household's PIN and card section (admins only),
PIN shown once or printed on a letter, card reprint, and a village's letters and card sheets
(choose -> confirm -> print; a second submit prints nothing new)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.households.models import Household, ResidentToken
from civicpoints.households.services import (
    household_check_pin,
    household_pin_login,
    household_set_pin,
)
from civicpoints.schemes.models import Role
from tests.factories import make_household, make_staff, static_text

PIN = "258369"


def snapshot() -> dict:
    return {
        "households": sorted(
            Household.objects.values_list(
                "pk", "pin_hash", "card_code", "card_issued_at", "login_epoch"
            )
        ),
        "tokens": ResidentToken.objects.count(),
        "audit": AuditEvent.objects.exclude(action__startswith="staff.").count(),
    }


def client_for(world, role: str, region) -> Client:
    client = Client()
    client.force_login(make_staff(f"u-{role}", role, region, world.scheme))
    return client


@pytest.fixture
def household(world) -> Household:
    h = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=h, pin=PIN)
    return h


@pytest.fixture
def admin(world) -> Client:
    return client_for(world, Role.VILLAGE_ADMIN, world.village_a1)


def test_admins_see_the_pin_and_card_section(admin, household):
    page = admin.get(f"/households/{household.pk}/").content.decode()
    assert f'href="/households/{household.pk}/access/"' in page
    assert "登录密码与积分卡" in page
    access = admin.get(f"/households/{household.pk}/access/").content.decode()
    assert "生成新密码并在屏幕上显示" in access and "生成新密码并打印密码信" in access
    assert "打印积分卡" in access
    listing = admin.get("/households/").content.decode()
    assert 'href="/households/letters/"' in listing


@pytest.mark.parametrize("role", [Role.GRID_WORKER, Role.STORE_CLERK, Role.AUDITOR])
def test_others_see_no_button_and_find_no_page(world, household, role):
    client = client_for(world, role, world.village_a1)
    before = snapshot()

    page = client.get(f"/households/{household.pk}/").content.decode()
    assert "/access/" not in page and "登录密码与积分卡" not in page
    assert "/households/letters/" not in client.get("/households/").content.decode()
    assert client.get(f"/households/{household.pk}/access/").status_code == 404
    url = f"/households/{household.pk}/access/pin/"
    assert client.post(url, {"how": "show"}).status_code == 404
    assert client.post(f"/households/{household.pk}/access/card/").status_code == 404
    assert client.get(f"/households/letters/{world.village_a1.pk}/").status_code == 404
    assert "晓光村" not in client.get("/households/letters/").content.decode()
    assert snapshot() == before


def test_a_new_pin_is_shown_once(admin, household):
    page = admin.post(f"/households/{household.pk}/access/pin/", {"how": "show"})

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    pin = re.search(r'class="new-pin"[^>]*>(\d{6})<', page.content.decode()).group(1)
    assert household_pin_login(card_code=household.card_code, pin=pin) == household
    assert AuditEvent.objects.filter(action="household.pin_reset").count() == 1
    # the household page shows it was set, never the PIN
    again = admin.get(f"/households/{household.pk}/").content.decode()
    assert pin not in again


def test_a_new_pin_on_a_sealed_letter(admin, household):
    page = admin.post(f"/households/{household.pk}/access/pin/", {"how": "letter"})

    text = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    pin = re.search(r'<span class="pin" data-card="\w+">(\d{6})</span>', text).group(1)
    household.refresh_from_db()
    assert household_check_pin(household=household, pin=pin)
    for part in [
        "王秀英 户 收",
        "开通镇晓光村",
        household.card_code,
        "http://testserver/m/login/",
        "修改密码",
        "沿虚线撕开",
    ]:
        assert part in text, part
    assert "css/letters-print.css" in text
    assert "@page { size: A4" in static_text("css/letters-print.css")


def test_a_reset_without_a_choice_changes_nothing(admin, household):
    before = snapshot()
    response = admin.post(f"/households/{household.pk}/access/pin/", {"how": "sms"})
    assert response.status_code == 302
    assert response["Location"] == f"/households/{household.pk}/access/"
    assert snapshot() == before
    assert admin.get(f"/households/{household.pk}/access/pin/").status_code == 405


def test_printing_a_card_then_reprinting_it_revokes_the_old_code(admin, household):
    old = household.card_code
    first = admin.post(f"/households/{household.pk}/access/card/").content.decode()
    assert first.count('class="pcard"') == 1 and old in first
    assert (
        "补办积分卡（旧卡作废）"
        in admin.get(f"/households/{household.pk}/access/").content.decode()
    )

    again = admin.post(f"/households/{household.pk}/access/card/").content.decode()

    household.refresh_from_db()
    assert household.card_code != old and household.card_code in again and old not in again
    assert household_pin_login(card_code=household.card_code, pin=PIN) == household
    refused = Client().post("/m/login/", {"card": old, "pin": PIN})
    assert refused.status_code == 401


# --- a village's letters and cards ------------------------------------------------------------


@pytest.fixture
def village(world):
    return [make_household(world.scheme, world.village_a1, f"村民{i}") for i in range(10)]


def test_village_letters_choose_confirm_print(world, admin, village):
    url = f"/households/letters/{world.village_a1.pk}/"
    listing = admin.get("/households/letters/").content.decode()
    assert f'href="{url}"' in listing
    form = admin.get(url).content.decode()
    assert form.count('name="households"') == 10 and form.count(" checked") == 12
    batch = re.search(r'name="batch" value="([^"]+)"', form).group(1)
    chosen = [h.pk for h in village]
    fields = {"batch": batch, "pins": "1", "cards": "1", "households": chosen}
    before = snapshot()

    # The first POST asks once more and writes nothing
    confirm = admin.post(url, fields)
    text = confirm.content.decode()
    assert "为 10 户生成新密码并打印密码信" in text and 'name="confirmed" value="1"' in text
    assert snapshot() == before

    # The confirmed POST prints 10 letters and two A4 sheets of cards (8 + 2)
    printed = admin.post(url, {**fields, "confirmed": "1"})
    text = printed.content.decode()
    assert printed.status_code == 200 and "no-store" in printed["Cache-Control"]
    pins = dict(re.findall(r'<span class="pin" data-card="(\w+)">(\d{6})</span>', text))
    assert len(pins) == 10
    for h in village:
        h.refresh_from_db()
        assert household_pin_login(card_code=h.card_code, pin=pins[h.card_code]) == h
    assert text.count('class="page sheet"') == 2 and text.count('class="pcard"') == 10
    assert text.count('class="segno"') == 10

    # The same confirmation sent again prints nothing and changes nothing
    after = snapshot()
    again = admin.post(url, {**fields, "confirmed": "1"}, follow=True)
    assert "这一批已经打印过了" in again.content.decode()
    assert snapshot() == after


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pins": "1", "cards": "1"}, "请至少选择一户"),
        ({"households": "ALL"}, "请选择要打印密码信还是积分卡"),
        ({"pins": "1", "households": "999999"}, "所选农户有的不在本村或已注销，请重新打开本页"),
    ],
)
def test_bad_choices_are_said_on_the_form_and_nothing_written(
    world, admin, village, fields, message
):
    url = f"/households/letters/{world.village_a1.pk}/"
    if fields.get("households") == "ALL":
        fields = {**fields, "households": [h.pk for h in village]}
    before = snapshot()
    for confirmed in ("", "1"):
        page = admin.post(url, {**fields, "confirmed": confirmed, "batch": "x"})
        assert page.status_code == 422
        assert message in page.content.decode()
    assert snapshot() == before


def test_another_villages_letters_are_not_found(world, admin):
    other = make_household(world.scheme, world.village_a2, "新华户")
    assert admin.get(f"/households/letters/{world.village_a2.pk}/").status_code == 404
    assert admin.get(f"/households/{other.pk}/access/").status_code == 404
