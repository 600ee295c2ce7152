"""Consent at the village office: the head types the PIN on the staff device (the lockout is the
counter's), only admins over the village see the page, and staff revoke on the household's
word with a reason (none: nothing written)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.credit.models import Consent, ConsentChannel, ConsentUse
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.households.services import household_verify_pin
from civicpoints.schemes.models import Role
from tests.credit.conftest import PIN, grant, written
from tests.factories import make_staff


@pytest.fixture
def clerk(credit) -> Client:
    admin = make_staff(
        "cun-admin", Role.VILLAGE_ADMIN, credit.world.village_a1, credit.world.scheme
    )
    client = Client()
    client.force_login(admin)
    client.user = admin  # type: ignore[attr-defined]
    return client


def confirm(client: Client, home: Household, lender_id: int, **extra: str) -> str:
    response = client.post(
        f"/households/{home.pk}/credit/",
        {"step": "confirm", "lender": lender_id, "months": "3", **extra},
    )
    assert response.status_code == 200, response.content[:300]
    return re.search(r'name="key" value="([^"]+)"', response.content.decode())[1]


def test_the_head_grants_at_the_office_with_the_pin(credit, home, clerk):
    assert "信用授权（文明积分贷）" in clerk.get(f"/households/{home.pk}/").content.decode()
    key = confirm(clerk, home, credit.lender.pk, fields="phone")
    done = clerk.post(
        f"/households/{home.pk}/credit/",
        {
            "step": "grant",
            "lender": credit.lender.pk,
            "months": "3",
            "fields": "phone",
            "key": key,
            "pin": PIN,
        },
    )
    assert done.status_code == 302
    consent = Consent.objects.get()
    assert consent.channel == ConsentChannel.OFFICE and consent.granted_by_id == clerk.user.pk
    assert consent.fields == ["phone"]
    event = AuditEvent.objects.get(action=AuditAction.CREDIT_CONSENT_GRANT)
    assert event.actor_id == clerk.user.pk
    assert event.detail["fields"] == ["phone"] and home.phone not in str(event.detail)


def test_wrong_pins_at_the_office_lock_the_counter_too(credit, home, clerk):
    key = confirm(clerk, home, credit.lender.pk)
    before = written()
    for _ in range(5):
        response = clerk.post(
            f"/households/{home.pk}/credit/",
            {
                "step": "grant",
                "lender": credit.lender.pk,
                "months": "3",
                "key": key,
                "pin": "000000",
            },
        )
        assert response.status_code in (422, 429)
    assert written() == before
    home.refresh_from_db()
    assert home.pin_locked_until is not None
    with pytest.raises(ApplicationError) as locked:
        household_verify_pin(household=home, pin=PIN)  # what the counter calls
    assert locked.value.code == ErrorCode.LOCKED_OUT


def test_no_pin_no_grant(credit, home, clerk):
    key = confirm(clerk, home, credit.lender.pk)
    before = written()
    response = clerk.post(
        f"/households/{home.pk}/credit/",
        {"step": "grant", "lender": credit.lender.pk, "months": "3", "key": key, "pin": ""},
    )
    assert response.status_code == 422 and "请输入6位密码" in response.content.decode()
    assert written() == before


@pytest.mark.parametrize(
    ("role", "region"),
    [
        (Role.GRID_WORKER, "village_a1"),
        (Role.VILLAGE_ADMIN, "village_a2"),
        (Role.AUDITOR, "county"),
    ],
)
def test_others_get_404(credit, home, role, region):
    user = make_staff(
        f"x-{role}-{region}", role, getattr(credit.world, region), credit.world.scheme
    )
    client = Client()
    client.force_login(user)
    assert client.get(f"/households/{home.pk}/credit/").status_code == 404
    consent = grant(credit, home)
    before = written()
    response = client.post(
        f"/households/{home.pk}/credit/{consent.ref}/revoke/", {"reason": "x", "confirmed": "1"}
    )
    assert response.status_code == 404
    assert written() == before


def test_staff_revoke_needs_a_reason_and_asks_first(credit, home, clerk):
    consent = grant(credit, home, fields=["id_number"])
    url = f"/households/{home.pk}/credit/{consent.ref}/revoke/"
    before = written()
    missing = clerk.post(url, {"reason": " ", "confirmed": "1"})
    assert missing.status_code == 302
    assert written() == before
    asked = clerk.post(url, {"reason": "户主电话要求撤销"})
    assert "确认撤销授权" in asked.content.decode() and written() == before
    done = clerk.post(url, {"reason": "户主电话要求撤销", "confirmed": "1"})
    assert done.status_code == 302
    consent.refresh_from_db()
    assert consent.revoked_channel == ConsentChannel.OFFICE
    assert consent.revoke_reason == "户主电话要求撤销"
    event = AuditEvent.objects.get(action=AuditAction.CREDIT_CONSENT_REVOKE)
    assert event.detail["reason"] == "户主电话要求撤销" and event.detail["fields"] == ["id_number"]
    assert ConsentUse.objects.filter(consent=consent).count() == 2
