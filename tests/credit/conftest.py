"""Credit fixtures: a county admin and an auditor over Tongyu, a registered lender with a key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from civicpoints.credit.lenders import lender_create, lender_key_issue, uscc_make
from civicpoints.credit.models import Lender
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.factories import World, make_staff

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
