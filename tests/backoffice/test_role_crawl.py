"""Every role, crawled: no link, button or form offered to a person answers 403, 404 or 500
(or refuses with "没有权限"), and no page shows a raw code or raw hundredths.

The world is the demo county with a few households (``build_demo``) plus what makes every page
have data: a household with a distinctive balance, a claim with distinctive points, an objected
claim, an activity, an app order and a home delivery. The crawl runs once for the class; each
POST it tries is rolled back (see ``crawler.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client, TestCase, override_settings
from django.utils import timezone

from civicpoints.activities.services import activity_create
from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.services import claim_object, claim_submit
from civicpoints.demo.county import DEMO_PIN, STAFF, build_demo
from civicpoints.households.models import Household
from civicpoints.ledger.models import AccountKind, PostingKind
from civicpoints.ledger.services import Leg, post, system_account
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Product, Store
from civicpoints.stores.services import Item, order_place, redeem
from tests.backoffice.crawler import Crawl

# Which links and buttons each role sees does not depend on the database: the crawl (a minute
# of building and crawling) runs once per scripts/test. The ``one_database`` tests (the
# browser's among them) fill the PostgreSQL pass, which sets the run's time, so the crawl
# runs in the SQLite pass, which ends minutes earlier (docs/testing.md). A class's world is
# built before a fixture could skip it, hence a module mark.
_ONE_PASS = os.environ.get("CIVICPOINTS_ONE_DB_PASS", "")
pytestmark = pytest.mark.skipif(
    bool(_ONE_PASS) and "sqlite" not in settings.DATABASES["default"]["ENGINE"],
    reason="runs once per scripts/test, in the SQLite pass (see docs/testing.md)",
)

PASSWORD = "crawl-pass-123"
BIG = 1_234_567  # hundredths: shown as 12345.67, never as 1234567
CLAIM_QUANTITY = Decimal("7.25")  # x 15 points an hour = 108.75 points = 10875 hundredths
OBJECTION = "爬虫异议：时间对不上"
RESULTS: dict[str, Crawl] = {}


def _staff(username: str):
    return actor_for_user(User.objects.get(username=username))


def build_crawl_world() -> dict[str, object]:
    result = build_demo(households=80, password=PASSWORD, history=40)
    scheme = result.scheme
    village_homes = Household.objects.filter(scheme=scheme, village__name="晓光村").order_by("pk")
    rich = {Household.objects.filter(scheme=scheme).order_by("pk").first(), village_homes.first()}
    issuance = system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE)
    for home in rich:
        post(
            scheme_id=scheme.pk,
            kind=PostingKind.AWARD,
            legs=[Leg(issuance, -BIG), Leg(home.account, BIG)],
            memo="爬虫检查",
            idempotency_key=f"crawl:{home.pk}",
        )
    grid, admin = _staff("grid-worker"), _staff("village-admin")
    helper = village_homes[1]
    claim = claim_submit(
        actor=grid,
        household=helper,
        rule_id=Rule.objects.get(scheme=scheme, code="H01", effective_to__isnull=True).pk,
        quantity=CLAIM_QUANTITY,
        occurred_on=timezone.localdate(),
        witness="邻居",
    )
    on_notice = Claim.objects.filter(scheme=scheme, status=ClaimStatus.ON_NOTICE).first()
    claim_object(actor=grid, claim=on_notice, reason=OBJECTION)
    village = village_homes.first().village
    now = timezone.now()
    activity_create(
        actor=admin,
        scheme=scheme,
        region=village,
        title="爬虫志愿活动",
        place="村委会",
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=3),
        rule_id=Rule.objects.filter(scheme=scheme, unit="hour", effective_to__isnull=True)
        .order_by("pk")
        .first()
        .pk,
        publish=True,
    )
    store = Store.objects.get(scheme=scheme, region=village)
    buyer = village_homes.first()
    rice = Product.objects.get(store=store, name="大米 10斤")
    order_place(household=buyer, store=store, items=[Item(product_id=rice.pk, quantity=1)])
    freezer = Product.objects.get(store=store, name="冰柜")
    redeem(
        actor=_staff("store-clerk"),
        store=store,
        household=buyer,
        items=[Item(product_id=freezer.pk, quantity=1)],
        assisted_reason="爬虫检查",
        delivery_address="晓光村3组8号",
    )
    # Four eyes: one adjustment waiting for the crawl's county admin (filed by another), one
    # filed by it (it sees "waiting" and a withdraw button, no approve button).
    from civicpoints.ledger.adjustments import adjustment_request
    from tests.factories import make_staff

    other = make_staff("county-admin-2", Role.COUNTY_ADMIN, village.parent.parent, scheme)
    adjustment_request(actor=_staff(other.username), household=buyer, amount=1250, reason="补录")
    adjustment_request(actor=_staff("county-admin"), household=buyer, amount=-50, reason="扣回")
    return {"claim": claim, "objected": on_notice}


class RoleCrawl(TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # Uploads the crawl checks (and photos it sends) go to a directory of its own.
        cls._var = tempfile.TemporaryDirectory()
        cls._settings = override_settings(
            VAR_DIR=Path(cls._var.name), EVIDENCE_ROOT=Path(cls._var.name) / "evidence"
        )
        cls._settings.enable()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls._settings.disable()
        cls._var.cleanup()

    @classmethod
    def setUpTestData(cls) -> None:
        build_crawl_world()
        RESULTS.clear()
        for username, *_rest in STAFF:
            client = Client()
            client.force_login(User.objects.get(username=username))
            RESULTS[username] = Crawl(username, client).run("/")
        # A resident on the phone pages, for the same two checks.
        resident = Client()
        home = Household.objects.filter(village__name="晓光村").order_by("pk").first()
        resident.post("/m/login/", {"card": home.card_code, "pin": DEMO_PIN})
        RESULTS["resident"] = Crawl("resident", resident).run("/m/")

    def test_no_role_is_offered_a_link_or_button_it_cannot_use(self) -> None:
        problems = [str(p) for crawl in RESULTS.values() for p in crawl.problems]
        assert problems == []
        # The crawl went somewhere for each role (a broken home would pass the check above).
        pages = {role: len(crawl.pages) for role, crawl in RESULTS.items()}
        assert all(n >= 3 for role, n in pages.items() if role != "merchant-clerk"), pages
        assert pages["merchant-clerk"] >= 2, pages
        assert pages["resident"] >= 8, pages
        assert RESULTS["village-admin"].posted, "no form was tried"
        # Four eyes: the county admin reached 调整复核 and tried approve, reject and withdraw.
        tried = " ".join(RESULTS["county-admin"].posted)
        assert all(f"/{verb}/" in tried for verb in ("approve", "reject", "withdraw")), tried
        # An auditor reads: not one form that writes is on any page they reach.
        assert RESULTS["auditor"].posted == []
        # The audit log and its exports: crawled for county admins and auditors, no one else.
        for role, crawl in RESULTS.items():
            audit = {u.split("?")[0] for u in crawl.statuses if u.startswith("/audit/")}
            wanted = {"/audit/", "/audit/log.csv", "/audit/log.xlsx"}
            assert audit == (wanted if role in ("county-admin", "auditor") else set()), role

    def test_no_page_shows_a_raw_code_or_raw_hundredths(self) -> None:
        codes = enum_values()
        pattern = re.compile(
            r"(?<![A-Za-z0-9_./=-])("
            + "|".join(map(re.escape, sorted(codes)))
            + r")(?![A-Za-z0-9_./-])"
        )
        raw = re.compile(rf"(?<![\d,.]){BIG}(?![\d])|(?<![\d,.])10875(?![\d])|1500/100")
        found = []
        shown_big = shown_claim = False
        for role, crawl in RESULTS.items():
            for url, page in crawl.pages.items():
                text = page.visible_text
                for match in pattern.finditer(text):
                    found.append(f"{role} {url}: {match.group(1)!r} in …{_around(text, match)}…")
                for match in raw.finditer(text):
                    found.append(f"{role} {url}: raw {match.group(0)!r} …{_around(text, match)}…")
                shown_big |= "12345.67" in text
                shown_claim |= "108.75" in text
        assert found == []
        assert shown_big and shown_claim  # the amounts were on pages the crawl read

    def test_every_page_carries_the_csp_and_nothing_inline_it_would_refuse(self) -> None:
        missing, inline, pages = [], [], 0
        for role, crawl in RESULTS.items():
            for url, page in crawl.pages.items():
                pages += 1
                directives = dict([*d.split(" ", 1), ""][:2] for d in page.policy.split("; ") if d)
                wanted = {
                    "script-src": "'self'",
                    "style-src": "'self'",
                    "frame-ancestors": "'none'",
                }
                if (
                    any(directives.get(k) != v for k, v in wanted.items())
                    or "unsafe" in page.policy
                ):
                    missing.append(f"{role} {url}: {page.policy!r}")
                inline += [f"{role} {url}: {found}" for found in page.inline]
        assert pages > 100
        assert missing == []
        assert inline == []


def enum_values() -> set[str]:
    """Every stored value of the project's choices (``TextChoices`` of any model field)."""
    values = set()
    for model in apps.get_models():
        if not model.__module__.startswith("civicpoints"):
            continue
        for f in model._meta.get_fields():
            choices = getattr(f, "choices", None)
            if isinstance(f, models.Field) and choices:
                values |= {str(v) for v, _label in f.flatchoices if isinstance(v, str) and v}
    return values


def _around(text: str, match: re.Match) -> str:
    return text[max(match.start() - 30, 0) : match.end() + 30]
