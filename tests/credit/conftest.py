"""Credit fixtures: a county admin and an auditor over Tongyu, a registered lender with a key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.credit.consents import consent_grant, consent_terms
from civicpoints.credit.lenders import lender_create, lender_key_issue, uscc_make
from civicpoints.credit.models import Consent, ConsentChannel, ConsentUse, Lender
from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.notifications.models import Notification
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.factories import World, make_household, make_staff

BANK_CODE = uscc_make("93220822MA17ABCD0")  # a cooperative's code, check character computed
OTHER_CODE = uscc_make("91220822MA17XYW00")


@dataclass
class Credit:
    world: World
    admin: User
    auditor: User
    lender: Lender
    key: str

    def lender_client(self, key: str | None = None) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {key or self.key}")


def make_lender(world: World, admin: User, name: str = "通榆农商银行", code: str = BANK_CODE):
    return lender_create(
        actor=actor_for_user(admin),
        scheme=world.scheme,
        name=name,
        code=code,
        contact_name="王经理",
        contact_phone="13800138000",
    )


@pytest.fixture
def credit(world: World) -> Credit:
    admin = make_staff("xian-admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    auditor = make_staff("xian-audit", Role.AUDITOR, world.county, world.scheme)
    lender = make_lender(world, admin)
    raw, _ = lender_key_issue(actor=actor_for_user(admin), lender=lender)
    return Credit(world=world, admin=admin, auditor=auditor, lender=lender, key=raw)


PIN = "246813"


@pytest.fixture
def home(credit: Credit) -> Household:
    household = make_household(
        credit.world.scheme,
        credit.world.village_a1,
        "张三",
        phone="13912345678",
        address="晓光村三组12号",
    )
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    return household


def written() -> dict:
    return {
        "consents": list(Consent.objects.order_by("pk").values_list("pk", "revoked_at")),
        "uses": ConsentUse.objects.count(),
        "audit": AuditEvent.objects.count(),
        "texts": Notification.objects.count(),
    }


_keys = iter(range(10**6))


def grant(credit: Credit, home: Household, *, fields=(), months=6, pin=PIN, key=None, lender=None):
    terms = consent_terms(
        household=home,
        lender_id=(lender or credit.lender).pk,
        months=months,
        fields=list(fields),
    )
    return consent_grant(
        household=home,
        terms=terms,
        pin=pin,
        channel=ConsentChannel.PHONE,
        form_key=key or f"credit-consent-test{next(_keys):012d}",
    )
