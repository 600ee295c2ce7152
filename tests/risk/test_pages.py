"""The risk pages: who sees them, the list's filters, a flag with its rows, resolve/dismiss."""

from __future__ import annotations

import pytest
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.risk.models import FlagStatus, RiskFlag, RiskNote
from civicpoints.schemes.models import Role, User
from tests.factories import World, make_household, make_staff
from tests.risk.conftest import code_guessing_row, scan

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def flagged(world: World) -> RiskFlag:
    cashier = make_staff("cashier", Role.MERCHANT_CLERK, world.township_a, world.scheme)
    code_guessing_row(scheme_id=world.scheme.pk, merchant_id=999, cashier_id=cashier.pk, count=40)
    home = make_household(world.scheme, world.village_a1, "李村长家", address="晓光村1号")
    from tests.risk.conftest import approved_claim, make_rule
    from tests.risk.test_rules import Village

    v = Village(world)
    v.admin.household = home
    v.admin.save(update_fields=["household"])
    approved_claim(
        proposer=v.grid_actor,
        approver=v.admin_actor,
        household=home,
        rule=make_rule(world.scheme, "A1", 500),
    )
    flags = scan(world.scheme)
    assert len(flags) == 2
    return next(f for f in flags if f.rule == "own_household")


def test_auditor_and_county_admin_see_the_list_others_do_not(world, flagged) -> None:
    auditor = make_staff("auditor", Role.AUDITOR, world.county, world.scheme)
    page = login(auditor).get("/risk/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "审核本人或同住址户的申报" in text and "李村长家" in text
    assert ">own_household" not in text and "own_household<" not in text  # labels, not codes
    county = User.objects.get(username="xian")
    assert "风险提示" in login(county).get("/").content.decode()
    village_admin = User.objects.get(username="cun")
    assert login(village_admin).get("/risk/").status_code == 404
    assert login(village_admin).get(f"/risk/{flagged.pk}/").status_code == 404
    assert "/risk/" not in login(village_admin).get("/").content.decode()
    other = make_staff("other-auditor", Role.AUDITOR, world.other_county, world.other_scheme)
    assert login(other).get(f"/risk/{flagged.pk}/").status_code == 404


def test_filters_by_rule_status_and_village(world, flagged) -> None:
    client = login(make_staff("auditor", Role.AUDITOR, world.county, world.scheme))
    assert f"flag-{flagged.pk}" in client.get("/risk/?rule=own_household").content.decode()
    assert f"flag-{flagged.pk}" not in client.get("/risk/?rule=code_guessing").content.decode()
    assert f"flag-{flagged.pk}" not in client.get("/risk/?status=dismissed").content.decode()
    here = client.get(f"/risk/?status=all&village={world.village_a1.pk}").content.decode()
    there = client.get(f"/risk/?village={world.village_a2.pk}").content.decode()
    assert f"flag-{flagged.pk}" in here and f"flag-{flagged.pk}" not in there


def test_detail_links_rows_and_dismiss_needs_a_reason(world, flagged) -> None:
    auditor = make_staff("auditor", Role.AUDITOR, world.county, world.scheme)
    client = login(auditor)
    text = client.get(f"/risk/{flagged.pk}/").content.decode()
    claim_id = flagged.evidence.get(kind="claim").object_id
    assert f'href="/claims/{claim_id}/"' in text
    assert f'href="/households/{flagged.detail["household"]}/"' in text

    refused = client.post(f"/risk/{flagged.pk}/dismiss/", {"note": "  "})
    assert refused.status_code == 422 and "请写明" in refused.content.decode()
    assert RiskFlag.objects.get(pk=flagged.pk).status == FlagStatus.OPEN

    done = client.post(f"/risk/{flagged.pk}/dismiss/", {"note": "村长家的申报经乡镇复核，无问题"})
    assert done.status_code == 302
    flag = RiskFlag.objects.get(pk=flagged.pk)
    assert (flag.status, flag.closed_by_id) == (FlagStatus.DISMISSED, auditor.pk)
    assert AuditEvent.objects.filter(action="risk.dismiss", actor=auditor).count() == 1
    again = client.post(f"/risk/{flagged.pk}/resolve/", {"note": "再处理一次"})
    assert again.status_code == 422 and "已经处理过" in again.content.decode()
    client.post(f"/risk/{flagged.pk}/note/", {"note": "补充：已告知纪委"})
    assert list(RiskNote.objects.filter(flag=flag).values_list("action", flat=True)) == [
        "dismiss",
        "note",
    ]


def test_scan_button_and_settings_for_county_admin(world, flagged) -> None:
    county = User.objects.get(username="xian")
    client = login(county)
    assert client.post("/risk/scan/", {"scheme": world.scheme.pk}).status_code == 302
    assert AuditEvent.objects.filter(action="risk.scan").count() == 1
    page = client.get("/risk/settings/")
    assert page.status_code == 200 and 'value="200"' in page.content.decode()
    bad = client.post("/risk/settings/", {"scheme": world.scheme.pk, "scan_minutes": "x"})
    assert bad.status_code == 422
    auditor = make_staff("auditor", Role.AUDITOR, world.county, world.scheme)
    assert login(auditor).get("/risk/settings/").status_code == 404
    assert "/risk/settings/" not in login(auditor).get("/risk/").content.decode()


def test_crawl_of_the_risk_pages_offers_nothing_broken_and_shows_no_code(world) -> None:
    """The role crawl's two checks on pages with flags of several rules, for both reviewers."""
    import re

    from civicpoints.stores.services import stock_count
    from tests.backoffice.crawler import Crawl
    from tests.backoffice.test_role_crawl import enum_values
    from tests.stores.conftest import build_shop

    shop = build_shop(world)  # a county admin "county", a clerk, goods
    stock_count(actor=shop.clerk_actor, product=shop.cooker, counted=7, reason="无")
    code_guessing_row(scheme_id=world.scheme.pk, merchant_id=1, cashier_id=shop.clerk.pk, count=40)
    flags = scan(world.scheme)
    assert {f.rule for f in flags} == {"writeoff_no_reason", "code_guessing"}
    auditor = make_staff("auditor", Role.AUDITOR, world.county, world.scheme)
    for user, name in ((auditor, "县纪检审计员"), (shop.admin, "县文明办"), (shop.clerk, "店员")):
        user.display_name = name  # a username such as "auditor" is also a role's code
        user.save(update_fields=["display_name"])
    codes = enum_values()
    pattern = re.compile(
        r"(?<![A-Za-z0-9_./=-])("
        + "|".join(map(re.escape, sorted(codes)))
        + r")(?![A-Za-z0-9_./-])"
    )

    class RiskCrawl(Crawl):
        def _local(self, base: str, href: str, variant: str = "") -> str | None:
            url = super()._local(base, href, variant)
            return url if url and url.startswith("/risk/") else None  # the risk pages only

    for user in (shop.admin, auditor):
        crawl = RiskCrawl(user.username, login(user)).run("/risk/")
        assert [str(p) for p in crawl.problems] == []
        risk_pages = [url for url in crawl.pages if url.startswith("/risk/")]
        assert {f"/risk/{f.pk}/" for f in flags} <= set(risk_pages)
        shown = [
            f"{url}: {m.group(1)}"
            for url in risk_pages
            for m in pattern.finditer(crawl.pages[url].visible_text)
        ]
        assert shown == []
        assert "600" in crawl.pages[f"/risk/{flags[0].pk}/"].visible_text  # points, not 60000
