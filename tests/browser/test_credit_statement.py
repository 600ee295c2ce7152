"""A lender's A4 statement page and the public check page behind its QR, in Chromium: no CSP
violation (no inline script or style), the print stylesheet applied, the QR drawn, axe clean."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from civicpoints.credit.lenders import lender_create, lender_key_issue, uscc_make
from civicpoints.credit.statements import statement_issue
from civicpoints.households.services import household_set_pin
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.browser.a11y import axe_violations
from tests.browser.conftest import shot
from tests.browser.test_csp import Watched
from tests.credit.conftest import PIN, grant
from tests.factories import build_world, make_household, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Credit:  # what tests.credit.conftest.grant needs
    def __init__(self, world, lender) -> None:
        self.world, self.lender = world, lender


def test_the_print_page_and_the_check_page_hold_under_the_policy(browser, live_server):
    world = build_world()
    admin = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
    lender = lender_create(
        actor=actor_for_user(admin),
        scheme=world.scheme,
        name="通榆农商银行",
        code=uscc_make("93220822MA17ABCD0"),
        contact_name="王经理",
        contact_phone="13800138000",
    )
    raw, key = lender_key_issue(actor=actor_for_user(admin), lender=lender)
    call_command("statement", "keygen", "--scheme", str(world.scheme.pk))
    home = make_household(world.scheme, world.village_a1, "张三明", phone="13912345678")
    household_set_pin(actor_id=None, household=home, pin=PIN)
    home.refresh_from_db()
    consent = grant(Credit(world, lender), home, fields=["phone"])
    code = statement_issue(
        key=key, ref=consent.ref, keys_url=live_server.url + "/open/keys.json"
    ).code

    lender_view = Watched(browser, live_server.url, {"width": 1280, "height": 900})
    lender_view.context.set_extra_http_headers({"Authorization": f"Bearer {raw}"})
    lender_view.goto(f"/api/v1/lender/statements/{code}/print")
    page = lender_view.page
    assert page.locator(".qr svg").count() == 1
    assert (
        page.evaluate("() => getComputedStyle(document.querySelector('h1')).textAlign") == "center"
    )
    assert "13912345678" in page.content()
    assert axe_violations(page) == []
    shot(page, "credit-statement-print")
    lender_view.close()
    assert lender_view.refused == []

    public = Watched(browser, live_server.url, {"width": 360, "height": 740})
    public.goto(f"/s/{code}/")
    assert "签名有效" in public.page.content() and "张*明" in public.page.content()
    assert axe_violations(public.page) == []
    shot(public.page, "credit-statement-check")
    public.close()
    assert public.refused == []
