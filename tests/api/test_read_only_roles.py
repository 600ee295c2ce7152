"""Auditors write nothing; merchant clerks see only what their till needs (issue 9, fix 6).

Every write operation of the OpenAPI schema is called with an auditor's token, with a body a
writer would send and the ids of real objects in the auditor's region (the demo county, with a
claim on notice, an activity, an order, a delivery, a merchant payment and statement): each is
refused (403, or 404 where the auditor does not even see the object) and the database is the
same afterwards. A new write operation fails the walk until it is given a body here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

from django.apps import apps
from django.test import Client, TestCase, override_settings
from django.utils import timezone
from PIL import Image

from civicpoints.activities.models import Activity, Attendance, MutualHelp
from civicpoints.activities.services.attendance import activity_check_in
from civicpoints.api.main import api
from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.honours.models import Campaign, CampaignStatus, HonourCeremony, Nominee
from civicpoints.households.models import Household
from civicpoints.ledger.models import ApprovalRequest, Posting
from civicpoints.merchants.models import Merchant, Payment, Statement
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Region, RegionLevel, Role, User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Delivery, Order, Product, Redemption, Store
from tests.api.conftest import assert_error
from tests.backoffice.test_role_crawl import PASSWORD, build_crawl_world
from tests.factories import make_staff

WRITES = ("post", "put", "patch", "delete")
# Tables a refused request may touch without writing anything of the domain: the caller's
# token (last used), the stored refusal of a keyed request, the login throttle's own rows.
BOOKKEEPING = {
    "schemes.apitoken",
    "ledger.idempotencyrecord",
    "sessions.session",
    "schemes.staffsession",  # the page session (a flash message, the seen-at mark)
}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


# The caller's own login (logging out ends their own tokens): not a write of the domain.
OWN_SESSION = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/logout-all")}


def write_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in WRITES
        and operation.get("security")
        and (method.upper(), path) not in OWN_SESSION
    )


def lender_operations() -> set[tuple[str, str]]:
    """Operations secured by a lender's key (api/lender.py): 401 to any staff token."""
    schema = api.get_openapi_schema()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"LenderKey": []}]
    }


def database_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every domain table (the demo county is small)."""
    state = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in BOOKKEEPING or label.startswith(("axes.", "admin.", "django_tasks")):
            continue
        state[label] = list(model.objects.order_by("pk").values_list())
    return state


class Estate:
    """Real objects in the auditor's region, one of each kind an operation names."""

    def __init__(self, claim: Claim, objected: Claim) -> None:
        self.claim = claim
        self.on_notice = Claim.objects.filter(status=ClaimStatus.ON_NOTICE).first()
        self.household = claim.household
        self.village = claim.village
        self.rule = Rule.objects.filter(scheme=claim.scheme, effective_to__isnull=True).first()
        self.attendance = Attendance.objects.first()
        self.activity = self.attendance.activity if self.attendance else None
        self.help = MutualHelp.objects.first()
        self.store = Store.objects.filter(region=self.village).first()
        self.product = Product.objects.filter(store=self.store).first()
        self.redemption = Redemption.objects.filter(store=self.store).first()
        self.order = Order.objects.first()
        self.delivery = Delivery.objects.first()
        self.merchant = Merchant.objects.first()
        self.payment = Payment.objects.filter(merchant=self.merchant).first()
        self.statement = Statement.objects.first()
        self.township = Region.objects.filter(level=RegionLevel.TOWNSHIP).first()
        self.approval = ApprovalRequest.objects.first()
        self.posting = Posting.objects.first()
        self.campaign = Campaign.objects.filter(status=CampaignStatus.VOTING).first()
        self.nominee = Nominee.objects.filter(campaign=self.campaign).first()
        self.ceremony = HonourCeremony.objects.first()

    def ids(self) -> dict[str, Any]:
        found = {
            "household_id": self.household,
            "claim_id": self.claim,
            "activity_id": self.activity,
            "attendance_id": self.attendance,
            "help_id": self.help,
            "store_id": self.store,
            "product_id": self.product,
            "redemption_id": self.redemption,
            "order_id": self.order,
            "delivery_id": self.delivery,
            "merchant_id": self.merchant,
            "payment_id": self.payment,
            "statement_id": self.statement,
            "approval_id": self.approval,
            "campaign_id": self.campaign,
            "nominee_id": self.nominee,
            "village_id": self.village,
            "ceremony_id": self.ceremony,
        }
        missing = [name for name, obj in found.items() if obj is None]
        assert not missing, f"the estate lacks {missing}"
        # a year that has ended, for the star households' rating
        return {name: obj.pk for name, obj in found.items()} | {"year": 2025}


def build_estate() -> Estate:
    """The crawl's demo county plus one attendance at its activity."""
    made = build_crawl_world()
    activity = Activity.objects.get(title="爬虫志愿活动")
    walker = Household.objects.filter(village=activity.region).order_by("-pk").first()
    grid = actor_for_user(User.objects.get(username="grid-worker"))
    activity_check_in(actor=grid, activity=activity, code=walker.card_code)
    return Estate(made["claim"], made["objected"])  # type: ignore[arg-type]


def token_client(username: str) -> Client:
    token = Client().post(
        "/api/v1/auth/token",
        {"username": username, "password": PASSWORD},
        content_type="application/json",
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {token.json()['token']}")


def bodies(e: Estate) -> dict[tuple[str, str], dict[str, Any]]:
    today = timezone.localdate()
    later = timezone.now() + dt.timedelta(days=3)
    items = [{"product": e.product.pk, "quantity": 1}]
    return {
        ("POST", "/api/v1/households"): {"village": e.village.pk, "head_name": "审计新户"},
        ("POST", "/api/v1/ledger/adjustments"): {
            "household": e.household.pk,
            "points": 1,
            "reason": "审计调整",
        },
        ("POST", "/api/v1/ledger/reversals"): {"posting": e.posting.pk, "reason": "审计冲正"},
        ("POST", "/api/v1/ledger/approvals/{approval_id}/approve"): {"note": "审计"},
        ("POST", "/api/v1/ledger/approvals/{approval_id}/reject"): {"note": "审计"},
        ("POST", "/api/v1/ledger/approvals/{approval_id}/withdraw"): {"note": "审计"},
        ("POST", "/api/v1/households/{household_id}/disqualifications"): {
            "reason": "审计",
            "starts_on": str(today),
            "ends_on": str(today + dt.timedelta(days=30)),
        },
        ("POST", "/api/v1/claims"): {
            "household": e.household.pk,
            "rule": e.rule.pk,
            "quantity": 1,
        },
        ("POST", "/api/v1/claims/{claim_id}/approve"): {},
        ("POST", "/api/v1/claims/{claim_id}/reject"): {"reason": "审计驳回"},
        ("POST", "/api/v1/claims/{claim_id}/withdraw"): {"reason": "审计撤回"},
        ("POST", "/api/v1/claims/{claim_id}/objections"): {"reason": "审计异议"},
        ("POST", "/api/v1/claims/{claim_id}/photos"): {"photo": "png"},
        ("POST", "/api/v1/notices/finalize"): {},
        ("POST", "/api/v1/budget/funds"): {
            "kind": "grant",
            "yuan": 100,
            "source": "县财政",
            "received_on": str(today),
        },
        ("PUT", "/api/v1/budget/quotas"): {
            "village": e.village.pk,
            "year": today.year,
            "points": 1000,
        },
        ("PUT", "/api/v1/honours/star-levels"): {"levels": [{"stars": 1, "points": 100}]},
        ("PUT", "/api/v1/honours/stars/{year}"): {},
        ("POST", "/api/v1/honours/campaigns"): {
            "region": e.village.pk,
            "title": "审计称号",
            "rule": e.rule.pk,
            "quota": 1,
            "shortlist_rule": "nomination",
            "period_start": str(today.replace(month=1, day=1)),
            "period_end": str(today),
        },
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/nominees"): {"household": e.household.pk},
        ("DELETE", "/api/v1/honours/campaigns/{campaign_id}/nominees/{nominee_id}"): {},
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/shortlist"): {},
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/voting"): {
            "starts": timezone.now().isoformat(),
            "ends": later.isoformat(),
        },
        ("PUT", "/api/v1/honours/campaigns/{campaign_id}/tallies/{village_id}"): {
            "counts": {str(e.nominee.pk): 1}
        },
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/publish"): {},
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/votes"): {
            "member": e.nominee.household.members.first().pk,
            "nominee": e.nominee.pk,
        },
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/certificates"): {},
        ("POST", "/api/v1/honours/campaigns/{campaign_id}/proposals"): {
            "name": e.nominee.household.head_name,
            "reason": "审计推荐",
        },
        ("POST", "/api/v1/honours/ceremonies"): {
            "region": e.village.pk,
            "name": "审计大会",
            "held_on": str(today),
            "campaigns": [e.campaign.pk],
        },
        ("POST", "/api/v1/activities"): {
            "region": e.village.pk,
            "title": "审计活动",
            "place": "村委会",
            "starts_at": later.isoformat(),
            "ends_at": (later + dt.timedelta(hours=2)).isoformat(),
            "rule": e.activity.rule_id,
        },
        ("POST", "/api/v1/activities/{activity_id}/publish"): {},
        ("POST", "/api/v1/activities/{activity_id}/cancel"): {"reason": "审计取消"},
        ("POST", "/api/v1/activities/{activity_id}/enrolments"): {"household": e.household.pk},
        ("POST", "/api/v1/activities/{activity_id}/checkins"): {"code": e.household.card_code},
        ("POST", "/api/v1/activities/{activity_id}/checkouts"): {"code": e.household.card_code},
        ("POST", "/api/v1/activities/{activity_id}/attendances/{attendance_id}/checkout"): {
            "reason": "审计补签退"
        },
        ("POST", "/api/v1/activities/{activity_id}/close"): {},
        ("POST", "/api/v1/mutual-help"): {
            "helper": e.household.pk,
            "helped": e.on_notice.household_id,
            "hours": 1,
            "occurred_on": str(today),
        },
        ("POST", "/api/v1/mutual-help/{help_id}/confirm"): {},
        ("POST", "/api/v1/mutual-help/{help_id}/reject"): {"reason": "审计驳回"},
        ("POST", "/api/v1/stores"): {"name": "审计超市", "region": e.village.pk},
        ("POST", "/api/v1/stores/{store_id}/products"): {"name": "审计商品", "price": 1},
        ("POST", "/api/v1/stores/{store_id}/products/{product_id}/stock"): {
            "kind": "purchase",
            "quantity": 1,
            "cost_yuan": 1,
        },
        ("POST", "/api/v1/stores/{store_id}/redemptions"): {
            "household": e.household.pk,
            "items": items,
            "assisted_reason": "审计代办",
        },
        ("POST", "/api/v1/stores/{store_id}/redemptions/{redemption_id}/return"): {
            "reason": "审计退货"
        },
        ("POST", "/api/v1/stores/{store_id}/ceremonies"): {
            "title": "审计表彰",
            "held_on": str(today),
            "rows": [{"household": e.household.pk, "items": items}],
        },
        ("POST", "/api/v1/stores/{store_id}/orders"): {"items": items},
        ("POST", "/api/v1/orders/{order_id}/pickup"): {},
        ("POST", "/api/v1/orders/{order_id}/cancel"): {},
        ("POST", "/api/v1/deliveries/{delivery_id}/dispatch"): {"courier": "审计"},
        ("POST", "/api/v1/deliveries/{delivery_id}/delivered"): {"photo": "png"},
        ("POST", "/api/v1/deliveries/{delivery_id}/failed"): {"reason": "审计"},
        ("POST", "/api/v1/merchants"): {
            "legal_name": "审计商户",
            "shop_name": "审计店",
            "bank_name": "农行",
            "account_name": "审计",
            "bank_account": "622848000011112222",
            "regions": [e.village.pk],
        },
        ("POST", "/api/v1/merchants/{merchant_id}/payments"): {
            "card": e.household.card_code,
            "pin": "123456",
            "points": 1,
        },
        ("POST", "/api/v1/merchants/{merchant_id}/payments/{payment_id}/refunds"): {
            "points": 0.01,
            "reason": "审计退款",
        },
        ("POST", "/api/v1/households/{household_id}/payment-codes"): {},
        ("POST", "/api/v1/settlements/run"): {"date": str(today - dt.timedelta(days=1))},
        ("POST", "/api/v1/settlements/{statement_id}/paid"): {"bank_reference": "AUDIT-1"},
        # The lender API takes lender keys only: a staff token is 401 there.
        ("POST", "/api/v1/lender/consents/{ref}/statements"): {},
    }


def call(client: Client, method: str, path: str, body: dict[str, Any], key: str) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key}
    if body.get("photo") == "png":
        photo = io.BytesIO(_png())
        photo.name = "proof.png"
        return client.post(path, {"photo": photo}, **headers)
    return client.generic(
        method, path, json.dumps(body), content_type="application/json", **headers
    )


@override_settings(AXES_ENABLED=False)
class AuditorsWriteNothing(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.estate = build_estate()

    def setUp(self) -> None:
        self.auditor = User.objects.get(username="auditor")
        self.client = token_client("auditor")

    def test_every_write_operation_is_refused_and_writes_nothing(self) -> None:
        known = bodies(self.estate)
        operations = write_operations()
        assert sorted(set(operations) - set(known)) == [], "give new write operations a body"
        ids = {**self.estate.ids(), "ref": "0" * 16}
        lender_only = lender_operations()
        before = database_state()
        answers = {}

        for n, (method, template) in enumerate(operations):
            path = template.format(**{k: v for k, v in ids.items() if "{" + k + "}" in template})
            response = call(self.client, method, path, known[(method, template)], f"audit-{n}")
            if (method, template) in lender_only:
                assert_error(response, 401)  # a staff token is no lender key
                continue
            answers[f"{method} {template}"] = response.status_code
            if response.status_code in (403, 404):
                assert_error(response, response.status_code)

        assert {op: code for op, code in answers.items() if code not in (403, 404)} == {}
        assert database_state() == before
        # Most are refused for the role, not because the auditor cannot see the object.
        assert sum(code == 403 for code in answers.values()) >= len(answers) // 2

    def test_an_auditor_reads_the_notice_board_but_cannot_object(self) -> None:
        claim = self.estate.on_notice
        board = self.client.get("/api/v1/notices", {"village": claim.village_id})
        before = database_state()

        objection = self.client.post(
            f"/api/v1/claims/{claim.pk}/objections",
            {"reason": "审计员异议"},
            content_type="application/json",
        )

        assert board.status_code == 200
        assert claim.pk in [c["id"] for c in board.json()["claims"]]
        error = assert_error(objection, 403, "permission_denied")
        assert error["detail"] == {"action": "claim.object"}
        assert database_state() == before

    def test_nor_on_the_claims_page(self) -> None:
        claim = self.estate.on_notice
        page = Client()
        page.force_login(self.auditor)
        before = database_state()

        response = page.post(f"/claims/{claim.pk}/object/", {"reason": "审计员异议"}, follow=True)

        assert "没有权限执行此操作" in response.content.decode()
        assert database_state() == before
        assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.ON_NOTICE


class MerchantClerksReadNoNotices(TestCase):
    """A cashier's till needs their shop, its payments, refunds and statements: no claims."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.estate = build_estate()
        cls.on_notice = Claim.objects.filter(status=ClaimStatus.ON_NOTICE).first()
        cls.cashier = make_staff(
            "till-clerk", Role.MERCHANT_CLERK, cls.on_notice.village, cls.on_notice.scheme
        )
        cls.cashier.set_password(PASSWORD)
        cls.cashier.save()

    def test_not_over_the_api(self) -> None:
        client = token_client("till-clerk")

        board = client.get("/api/v1/notices", {"village": self.on_notice.village_id})

        assert_error(board, 404, "not_found")
        assert client.get("/api/v1/claims").json() == []

    def test_every_read_gives_a_cashier_only_the_till(self) -> None:
        """Of every GET operation, only the shop's own rows (and the shared reference data:
        regions, the published rule catalogue) come back to the demo county's cashier."""
        client = token_client("merchant-clerk")
        ids = {**self.estate.ids(), "photo_id": 1, "ref": "0" * 16, "code": "0" * 20}  # lender: 401
        schema = api.get_openapi_schema()
        with_data = []

        for template, operations in schema["paths"].items():
            if "get" not in operations or not operations["get"].get("security"):
                continue
            path = template.format(**{k: v for k, v in ids.items() if "{" + k + "}" in template})
            query = {"village": self.estate.village.pk} if template.endswith("/notices") else {}
            response = client.get(path, query)
            if response.status_code == 200 and response.json() not in ([], {}):
                with_data.append(template)

        assert sorted(with_data) == [
            "/api/v1/merchants",
            "/api/v1/merchants/{merchant_id}",
            "/api/v1/merchants/{merchant_id}/payments",
            "/api/v1/regions",
            "/api/v1/rules",
            "/api/v1/settlements",
        ]

    def test_not_on_the_pages(self) -> None:
        client = Client()
        client.force_login(self.cashier)
        village = self.on_notice.village_id

        for url in ("/notices/", f"/notices/{village}/", f"/notices/{village}/print/"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert self.on_notice.household.head_name not in response.content.decode()

    def test_store_clerks_neither(self) -> None:
        clerk = User.objects.get(username="store-clerk")
        client = Client()
        client.force_login(clerk)

        assert client.get(f"/notices/{self.on_notice.village_id}/").status_code == 404
        assert Household.objects.exists()
