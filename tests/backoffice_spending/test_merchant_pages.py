"""Back-office merchant and settlement pages through the test client: county admins act,
auditors read, a merchant's cashier and village admins get 404; bank accounts masked on every
page, in full only in the payout files; exact numbers from the worked example (36.5 - 10)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from civicpoints.audit.models import AuditEvent
from civicpoints.merchants.models import Merchant, MerchantStatus, Statement, StatementStatus
from civicpoints.merchants.services import payment_code_issue, payment_take, refund_create
from civicpoints.merchants.settlement import settle
from civicpoints.schemes.models import Role, User
from tests.backoffice_spending.conftest import client_for
from tests.factories import make_staff
from tests.ledger.helpers import assert_ledger_ok, ledger_snapshot
from tests.merchants.conftest import Till

pytestmark = pytest.mark.django_db

FULL = "6228480123456789012"


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def business_day() -> dt.date:
    return timezone.localdate() - dt.timedelta(days=2)


def take_and_refund(till: Till, day: dt.date) -> None:
    """The worked example: 36.5 points taken at noon, 10 refunded an hour later."""
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    code = payment_code_issue(household=till.household, at=noon)
    payment = payment_take(
        actor=till.cashier_actor,
        merchant=till.merchant,
        code=code.code,
        points=3650,
        at=noon + dt.timedelta(seconds=5),
    )
    refund_create(
        actor=till.cashier_actor,
        payment=payment,
        points=1000,
        reason="退一瓶酱油",
        at=noon + dt.timedelta(hours=1),
    )


@pytest.fixture
def others(till: Till) -> dict[str, User]:
    world = till.world
    return {
        "auditor": make_staff("shenji", Role.AUDITOR, world.county, world.scheme),
        "village_admin": make_staff("cunzhang", Role.VILLAGE_ADMIN, world.village_a1, world.scheme),
        "township_admin": make_staff("zhenli", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme),
        "other_county": make_staff(
            "zhenlai", Role.COUNTY_ADMIN, world.other_county, world.other_scheme
        ),
    }


@pytest.fixture
def settled(till: Till) -> Statement:
    day = business_day()
    take_and_refund(till, day)
    settle(scheme=till.world.scheme, day=day)
    return Statement.objects.get(merchant=till.merchant, business_date=day)


# --- who sees what ---------------------------------------------------------------------------

PAGES = [
    "/merchants/",
    "/merchants/new/",
    "/settlement/",
    "/settlement/payouts/",
    "/settlement/payouts.csv",
    "/settlement/payouts.xlsx",
    "/settlement/reconcile/",
]


def test_merchant_pages_are_404_for_cashiers_and_village_and_township_admins(
    till: Till, others, settled
):
    for user in (till.cashier, others["village_admin"], others["township_admin"]):
        client = client_for(user)
        for url in PAGES:
            assert client.get(url).status_code == 404, (user.username, url)
        assert (
            client.post(
                f"/settlement/statements/{settled.pk}/paid/",
                {"bank_reference": "X", "confirmed": "1"},
            ).status_code
            == 404
        )
        assert (
            client.post(
                f"/merchants/{till.merchant.pk}/status/",
                {"status": "ended", "reason": "x", "confirmed": "1"},
            ).status_code
            == 404
        )
    # another county's admin reads only their own county (no merchants there)
    page = text(client_for(others["other_county"]).get("/merchants/"))
    assert "惠民超市" not in page and "镇赉县文明积分" in page
    assert (
        client_for(others["other_county"])
        .post(
            f"/settlement/statements/{settled.pk}/paid/", {"bank_reference": "X", "confirmed": "1"}
        )
        .status_code
        == 404
    )
    settled.refresh_from_db()
    assert settled.status == StatementStatus.UNPAID
    till.merchant.refresh_from_db()
    assert till.merchant.status == MerchantStatus.ACTIVE


def test_an_auditor_reads_but_gets_no_buttons_and_no_full_accounts(till: Till, others, settled):
    client = client_for(others["auditor"])
    merchants = text(client.get("/merchants/"))
    assert "惠民超市" in merchants and "**** 9012" in merchants
    assert "签约新商家" not in merchants and "更改状态" not in merchants
    day = settled.business_date.isoformat()
    page = text(client.get(f"/settlement/?date={day}"))
    assert "惠民超市" in page
    assert "标记已付款" not in page and "运行" not in page
    payouts = text(client.get("/settlement/payouts/"))
    assert "**** 9012" in payouts and "payouts.csv" not in payouts
    assert client.get("/settlement/payouts.csv").status_code == 403
    assert client.get("/merchants/new/").status_code == 404
    response = client.post("/settlement/run/", {"date": day, "confirmed": "1"}, follow=True)
    assert messages_of(response) == ["没有权限执行此操作"]


def test_the_nav_offers_merchants_and_settlement_to_county_admins_and_auditors(till: Till, others):
    assert 'href="/settlement/"' in text(client_for(till.admin).get("/"))
    assert 'href="/merchants/"' in text(client_for(others["auditor"]).get("/"))
    for user in (till.cashier, others["village_admin"]):
        page = text(client_for(user).get("/"))
        assert 'href="/settlement/"' not in page and 'href="/merchants/"' not in page


# --- merchants -------------------------------------------------------------------------------


def test_the_list_shows_shop_legal_name_status_masked_account_and_regions(till: Till):
    page = text(client_for(till.admin).get("/merchants/"))
    row = re.search(rf'<tr id="merchant-{till.merchant.pk}">(.*?)</tr>', page).group(1)
    assert "惠民超市" in row and "通榆县开通镇惠民超市有限公司" in row
    assert "中国农业银行通榆支行<br>**** 9012" in row
    assert "开通镇" in row and "cashier" in row and "正常" in row
    assert FULL not in page and "6228" not in page


def test_a_county_admin_signs_a_merchant(till: Till):
    world = till.world
    extra = make_staff("shouyin2", Role.MERCHANT_CLERK, world.township_b, world.scheme)
    client = client_for(till.admin)
    form = text(client.get("/merchants/new/"))
    assert "兴隆山镇" in form and "shouyin2" in form and "镇赉" not in form

    response = client.post(
        "/merchants/new/",
        {
            "shop_name": "兴盛农资店",
            "legal_name": "通榆县兴盛农资经销部",
            "contact_name": "刘强",
            "contact_phone": "13600000000",
            "bank_name": "通榆农商银行",
            "account_name": "通榆县兴盛农资经销部",
            "bank_account": "6217 0000 1111 2222 333",
            "regions": [str(world.township_b.pk), str(world.village_a2.pk)],
            "clerks": [str(extra.pk)],
        },
        follow=True,
    )

    merchant = Merchant.objects.get(shop_name="兴盛农资店")
    assert messages_of(response) == ["已签约：兴盛农资店（收款账号 **** 2333）"]
    assert merchant.bank_account_last4 == "2333"
    assert "6217000011112222333" not in merchant.bank_account_encrypted
    assert sorted(merchant.regions.values_list("name", flat=True)) == ["兴隆山镇", "新华村"]
    assert list(merchant.clerks.values_list("username", flat=True)) == ["shouyin2"]
    assert "6217000011112222333" not in response.content.decode()
    assert AuditEvent.objects.filter(action="merchant.create", object_id=str(merchant.pk)).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bank_account": "12ab5678"}, "银行账号应为8-30位数字"),
        ({"regions": []}, "请选择服务区域"),
        ({"regions": ["other"]}, "请选择服务区域"),  # another county's region is not offered
        ({"shop_name": " "}, "请填写所有必填项"),
    ],
)
def test_signing_is_refused_with_a_reason(till: Till, data, message):
    world = till.world
    form = {
        "shop_name": "兴盛农资店",
        "legal_name": "通榆县兴盛农资经销部",
        "bank_name": "通榆农商银行",
        "account_name": "通榆县兴盛农资经销部",
        "bank_account": "6217000011112222333",
        "regions": [str(world.township_b.pk)],
        **data,
    }
    if form["regions"] == ["other"]:
        form["regions"] = [str(world.other_village.pk)]
    before = Merchant.objects.count()

    response = client_for(till.admin).post("/merchants/new/", form)

    assert response.status_code == 422
    assert messages_of(response) == [message]
    assert Merchant.objects.count() == before


def test_suspending_a_merchant_asks_first_and_records_the_reason(till: Till):
    client = client_for(till.admin)
    url = f"/merchants/{till.merchant.pk}/status/"
    data = {"status": "suspended", "reason": "营业执照过期"}

    ask = client.post(url, data)

    page = text(ask)
    assert "惠民超市（通榆县开通镇惠民超市有限公司）：正常 → 暂停" in page
    assert "原因：营业执照过期" in page
    till.merchant.refresh_from_db()
    assert till.merchant.status == MerchantStatus.ACTIVE

    done = client.post(url, {**data, "confirmed": "1"}, follow=True)

    assert messages_of(done) == ["惠民超市 已改为：暂停"]
    till.merchant.refresh_from_db()
    assert till.merchant.status == MerchantStatus.SUSPENDED
    event = AuditEvent.objects.get(action="merchant.status")
    assert event.detail == {"from": "active", "to": "suspended", "reason": "营业执照过期"}
    refused = client.post(url, {"status": "ended", "reason": " "}, follow=True)
    assert messages_of(refused) == ["请填写原因"]


# --- settlement ------------------------------------------------------------------------------


def test_running_settlement_asks_first_then_makes_the_statement(till: Till):
    day = business_day()
    take_and_refund(till, day)
    client = client_for(till.admin)
    page = text(client.get(f"/settlement/?date={day.isoformat()}"))
    assert f"运行 {day.isoformat()} 的结算" in page and "这一天没有结算单" in page

    ask = client.post("/settlement/run/", {"date": day.isoformat()})
    assert f"确认结算 {day.isoformat()}" in text(ask)
    assert Statement.objects.count() == 0

    done = client.post("/settlement/run/", {"date": day.isoformat(), "confirmed": "1"}, follow=True)
    again = client.post(
        "/settlement/run/", {"date": day.isoformat(), "confirmed": "1"}, follow=True
    )

    statement = Statement.objects.get()
    assert messages_of(done) == [f"已结算 {day.isoformat()}：生成 1 张结算单"]
    assert messages_of(again) == [
        f"{day.isoformat()} 没有需要结算的收款（已结算过，或当天没有交易）"
    ]
    row = re.search(rf'<tr id="statement-{statement.pk}">(.*?)</tr>', text(again)).group(1)
    assert "惠民超市" in row
    assert '<td class="num">36.5<br><small class="muted">1 笔</small></td>' in row
    assert '<td class="num">10<br><small class="muted">1 笔</small></td>' in row
    assert '<td class="num">26.5</td> <td class="num">26.50</td>' in row
    assert "待付款" in row
    assert_ledger_ok(till.world.scheme.pk)


def test_a_day_not_over_is_said_plainly_and_nothing_runs(till: Till):
    today = timezone.localdate()
    before = ledger_snapshot(till.world.scheme.pk)
    done = client_for(till.admin).post(
        "/settlement/run/", {"date": today.isoformat(), "confirmed": "1"}, follow=True
    )
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert messages_of(done) == [
        f"{today.isoformat()} 这一天还没有结束，要到 {tomorrow} 00:00（北京时间）以后才能结算"
    ]
    assert Statement.objects.count() == 0
    assert ledger_snapshot(till.world.scheme.pk) == before


def test_the_settlement_page_defaults_to_yesterday(till: Till):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    page = text(client_for(till.admin).get("/settlement/"))
    assert f'name="date" type="date" value="{yesterday.isoformat()}"' in page


def test_a_statement_unpaid_after_24_hours_is_overdue_everywhere(till: Till, settled, others):
    client = client_for(till.admin)
    day = settled.business_date.isoformat()
    assert 'class="overdue"' not in text(client.get(f"/settlement/?date={day}"))

    Statement.objects.filter(pk=settled.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )

    page = text(client.get(f"/settlement/?date={day}"))
    assert f'<tr id="statement-{settled.pk}" class="overdue">' in page
    assert "1 张结算单超过 24 小时未付款" in page
    assert '<span class="badge" title="逾期未付款的结算单">1</span>' in page
    home = text(client.get("/"))
    assert (
        '<a class="tile due" id="tile-overdue" href="/settlement/"><span class="count">1</span>'
        in (home)
    )
    assert 'id="tile-overdue"' in text(client_for(others["auditor"]).get("/"))
    assert 'id="tile-overdue"' not in text(client_for(till.cashier).get("/"))


def test_the_payout_preview_masks_and_the_files_carry_full_accounts(till: Till, settled):
    client = client_for(till.admin)
    preview = client.get("/settlement/payouts/")
    page = text(preview)
    row = re.search(r'<table id="payouts">.*?<tbody>(.*?)</tbody>', page).group(1)
    assert '<td class="account">**** 9012</td>' in row
    assert "通榆县开通镇惠民超市有限公司" in row and "26.50" in row and settled.reference in row
    assert FULL not in preview.content.decode()
    assert 'href="/settlement/payouts.xlsx?scheme=' in page

    as_csv = client.get("/settlement/payouts.csv")
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in as_csv["Content-Disposition"]
    body = as_csv.content
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [
        ["序号", "收款户名", "收款账号", "开户行", "金额(元)", "用途", "参考号"],
        [
            "1",
            "通榆县开通镇惠民超市有限公司",
            FULL,
            "中国农业银行通榆支行",
            "26.50",
            f"文明积分结算 {settled.business_date.isoformat()}",
            settled.reference,
        ],
    ]

    as_xlsx = client.get(f"/settlement/payouts.xlsx?date={settled.business_date.isoformat()}")
    assert as_xlsx["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [c.value for c in sheet[2]][1:5] == [
        "通榆县开通镇惠民超市有限公司",
        FULL,
        "中国农业银行通榆支行",
        26.5,
    ]
    assert AuditEvent.objects.filter(action="settlement.payout_file").count() == 2
    # another day has nothing to pay
    other_day = (settled.business_date - dt.timedelta(days=1)).isoformat()
    assert "没有待付款的结算单" in text(client.get(f"/settlement/payouts/?date={other_day}"))


def test_marking_paid_asks_first_then_records_the_reference_and_reconciles(till: Till, settled):
    client = client_for(till.admin)
    url = f"/settlement/statements/{settled.pk}/paid/"

    ask = client.post(url, {"bank_reference": "NX20261127001"})
    page = text(ask)
    assert "惠民超市 · " in page and "应付 26.50 元（26.5 积分）" in page
    assert "收款账号 **** 9012 · 银行流水号 NX20261127001" in page
    settled.refresh_from_db()
    assert settled.status == StatementStatus.UNPAID

    done = client.post(url, {"bank_reference": "NX20261127001", "confirmed": "1"}, follow=True)
    again = client.post(url, {"bank_reference": "NX2", "confirmed": "1"}, follow=True)

    assert messages_of(done) == ["已付款：惠民超市 26.50 元，流水号 NX20261127001"]
    assert messages_of(again) == ["该结算单已付款"]
    settled.refresh_from_db()
    assert (settled.status, settled.bank_reference, settled.paid_by_id) == (
        StatementStatus.PAID,
        "NX20261127001",
        till.admin.pk,
    )
    row = re.search(rf'<tr id="statement-{settled.pk}">(.*?)</tr>', text(again)).group(1)
    assert "已付款" in row and "NX20261127001" in row and "标记已付款" not in row
    assert "没有待付款的结算单" in text(client.get("/settlement/payouts/"))

    report = text(client.get(f"/settlement/reconcile/?date={settled.business_date.isoformat()}"))
    assert "账本、结算单、付款全部一致，差额为 0。" in report
    assert 'class="diff"' not in report
    assert (
        '<td>付款记账 = 已付结算单净额</td><td class="num">26.50</td><td class="num">26.50</td><td class="num">0.00</td>'
        in report.replace("> <", "><")
    )
    assert_ledger_ok(till.world.scheme.pk)


def test_the_reconciliation_report_highlights_a_difference(till: Till, settled):
    # Simulate a statement whose figures no longer match its rows (e.g. edited by hand).
    Statement.objects.filter(pk=settled.pk).update(net=3650)
    report = text(
        client_for(till.admin).get(
            f"/settlement/reconcile/?date={settled.business_date.isoformat()}"
        )
    )
    assert "有差额！请核对下面标红的项目。" in report
    row = re.search(r"<tr class=\"diff\"> <td>结算单明细合计 = 结算单净额</td>(.*?)</tr>", report)
    assert row is not None
    assert '<td class="num diff">-10.00</td>' in row.group(1)


def test_a_blank_bank_reference_is_refused(till: Till, settled):
    done = client_for(till.admin).post(
        f"/settlement/statements/{settled.pk}/paid/", {"bank_reference": " "}, follow=True
    )
    assert messages_of(done) == ["请填写银行付款流水号"]
    settled.refresh_from_db()
    assert settled.status == StatementStatus.UNPAID


def test_settlement_posts_need_the_csrf_token(till: Till):
    client = Client(enforce_csrf_checks=True)
    client.force_login(till.admin)
    day = business_day().isoformat()
    assert "csrfmiddlewaretoken" in text(client.get(f"/settlement/?date={day}"))
    assert client.post("/settlement/run/", {"date": day, "confirmed": "1"}).status_code == 403
