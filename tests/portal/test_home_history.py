"""The resident home shows points on their way and the household's own claims with their
state (and a rejection's reason); the history says each entry's reason in plain words and
who approved it; the notice board offers no objection to the household's own claim."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.activities.models import Activity
from civicpoints.awards.models import ClaimEvent, ClaimSource, ClaimStatus
from civicpoints.awards.services import (
    claim_approve,
    claim_object,
    claim_reject,
    claim_submit,
    notices_finalize,
)
from civicpoints.awards.services.claims import NewClaim, claim_create, claim_self_report
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.adjustments import adjustment_request, approval_approve
from civicpoints.ledger.selectors import household_history
from civicpoints.ledger.services import reverse
from civicpoints.merchants.services import (
    merchant_create,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.services import Item, redeem
from tests.awards import conftest as awards_conftest
from tests.awards.conftest import Earning
from tests.factories import fund, make_household, make_staff
from tests.stores.conftest import PIN as SHOP_PIN
from tests.stores.conftest import build_shop

earning = awards_conftest.earning  # the earning world fixture
PIN = "258369"
RAW_CODES = re.compile(r"\b(on_notice|submitted|approved|rejected|posted|self_report)\b")


def login(household) -> Client:
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    client = Client()
    response = client.post("/m/login/", {"card": household.card_code, "pin": PIN})
    assert response.status_code == 302
    return client


def submit(earning, household, code, quantity, *, actor=None, **kw):
    return claim_submit(
        actor=actor or earning.grid_worker,
        household=household,
        rule_id=earning.rules[code].pk,
        quantity=quantity,
        occurred_on=timezone.localdate(),
        **kw,
    )


def test_home_shows_points_on_notice_and_my_claims_with_their_state(earning: Earning):
    me = make_household(earning.scheme, earning.world.village_a1, "王秀英")
    neighbour = make_household(earning.scheme, earning.world.village_a1, "李建国")
    fund(me, 12700)
    # Given 150 bottles on notice, a rejected claim, an objected one and a self-report
    bottles = submit(earning, me, "B01", 150)
    approved_at = timezone.now()
    claim_approve(actor=earning.village_admin, claim=bottles, at=approved_at)
    rejected = submit(earning, me, "V02", 1)
    claim_reject(actor=earning.village_admin, claim=rejected, reason="当天没有组织义务劳动")
    objected = submit(earning, me, "E03", 2)
    claim_approve(actor=earning.village_admin, claim=objected, at=approved_at)
    claim_object(claim=objected, objector=neighbour, reason="他只干了一个小时")
    claim_self_report(
        household=me,
        rule_id=earning.rules["M01"].pk,
        quantity=1,
        occurred_on=timezone.localdate(),
        witness="村医张大夫",
    )
    ends = timezone.localtime(approved_at + dt.timedelta(days=3))

    # When the resident opens the home page
    page = login(me).get("/m/").content.decode()

    # Then the points on their way, with the end date, and every claim with its state
    assert f"+150 分 公示中，{ends.month}月{ends.day}日截止" in page
    assert "我家的申报" in page
    assert "回收农药瓶" in page and "公示中" in page
    assert "已驳回" in page and "没通过的原因：当天没有组织义务劳动" in page
    assert "公示期间有人提出异议，村里正在重新审核" in page and "他只干了一个小时" in page
    assert "拾金不昧、见义勇为" in page and "村民自报" in page and "待审核" in page
    # the four big tiles, and the self-report link moved to the "more" list
    for tile in ("我的积分", "积分码", "兑换", "公示"):
        assert f">{tile}" in page
    assert page.count('class="tile"') == 4
    assert "申报好人好事" in page
    assert not RAW_CODES.search(page)


def test_home_queries_do_not_grow_with_the_household_claims(earning: Earning):
    me = make_household(earning.scheme, earning.world.village_a1)
    client = login(me)
    submit(earning, me, "B01", 10)
    client.get("/m/")  # warm the session and the content types
    with CaptureQueriesContext(connection) as one:
        client.get("/m/")
    for code in ("V02", "E03", "M01"):
        claim = submit(earning, me, code, 1, witness="村医")
        claim_reject(actor=earning.village_admin, claim=claim, reason="重复申报")
    with CaptureQueriesContext(connection) as four:
        client.get("/m/")
    assert len(four) == len(one)
    # and every claim query is filtered by the household (index-friendly)
    claim_queries = [q["sql"] for q in four if 'FROM "awards_claim"' in q["sql"]]
    assert claim_queries and all(
        '"household_id"' in sql or "village_id" in sql for sql in claim_queries
    )


@pytest.fixture
def everything(world):
    """A household with one of each kind of history line."""
    shop = build_shop(world, balance=0)
    me = shop.household
    from civicpoints.rules.catalogue import load_catalogue

    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    reviewer = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    User.objects.filter(pk=reviewer.pk).update(display_name="李书记")
    reviewer_actor = actor_for_user(User.objects.get(pk=reviewer.pk))
    User.objects.filter(pk=shop.admin.pk).update(display_name="县文明办赵主任")
    admin = actor_for_user(User.objects.get(pk=shop.admin.pk))
    now = timezone.now()
    activity = Activity.objects.create(
        scheme=world.scheme,
        region=world.village_a1,
        title="清扫村道",
        place="村委会门口",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1),
        rule=rules["E03"],
        code="ACT0001",
    )
    bottles = claim_submit(
        actor=reviewer_actor,
        household=me,
        rule_id=rules["B01"].pk,
        quantity=500,
        occurred_on=timezone.localdate(),
    )
    swept = claim_create(
        NewClaim(
            household=me,
            rule=rules["E03"],
            quantity=2,
            occurred_on=timezone.localdate(),
            source=ClaimSource.ACTIVITY,
            origin_ref=f"activity:{activity.pk}",
        )
    )
    for claim in (bottles, swept):
        claim_approve(actor=reviewer_actor, claim=claim, at=now - dt.timedelta(days=4))
    assert notices_finalize(at=now).count == 2
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=me,
        items=[Item(shop.rice.pk, 1)],
        pin=SHOP_PIN,
    )
    cashier = make_staff("cashier", Role.MERCHANT_CLERK, world.township_a, world.scheme)
    merchant = merchant_create(
        actor=admin,
        scheme_id=world.scheme.pk,
        legal_name="通榆县开通镇惠民超市有限公司",
        shop_name="惠民超市",
        bank_name="中国农业银行通榆支行",
        account_name="通榆县开通镇惠民超市有限公司",
        bank_account="6228 4801 2345 6789 012",
        regions=[world.township_a],
        clerk_ids=[cashier.pk],
    )
    cashier_actor = actor_for_user(cashier)
    code = payment_code_issue(household=me)
    payment = payment_take(actor=cashier_actor, merchant=merchant, code=code.code, points=1000)
    refund_create(actor=cashier_actor, payment=payment, points=400, reason="退了一瓶油")
    # Four eyes: another county admin files the adjustment, 赵主任 approves (and posts) it.
    filer = actor_for_user(
        make_staff("county-filer", Role.COUNTY_ADMIN, world.county, world.scheme)
    )
    filed = adjustment_request(actor=filer, household=me, amount=800, reason="补录去年漏记的积分")
    adjusted = approval_approve(actor=admin, approval_id=filed.pk).posting
    assert adjusted is not None
    reverse(posting=adjusted, actor_id=shop.admin.pk)
    return me


def test_history_says_each_reason_in_plain_words(everything, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        lines = household_history(household_id=everything.pk)
    got = [(line.title, line.detail, line.approved_by, line.signed_points) for line in lines]
    assert got == [
        ("冲正：补录去年漏记的积分", "", "县文明办赵主任", "-8"),
        ("人工调整", "原因：补录去年漏记的积分", "县文明办赵主任", "+8"),
        ("惠民超市 退款", "退了一瓶油", "", "+4"),
        ("惠民超市 消费", "", "", "-10"),
        ("开通镇爱心超市 兑换", "大米 10斤×1", "", "-30"),
        ("环境卫生整治", "志愿活动：清扫村道", "李书记", "+20"),
        ("回收农药瓶", "", "李书记", "+500"),
    ]


def test_the_history_page_shows_the_reasons(everything):
    page = login(everything).get("/m/history/").content.decode()
    for text in (
        "回收农药瓶",
        "审核：李书记",
        "志愿活动：清扫村道",
        "开通镇爱心超市 兑换",
        "大米 10斤×1",
        "惠民超市 消费",
        "惠民超市 退款",
        "原因：补录去年漏记的积分",
        "经办：县文明办赵主任",
    ):
        assert text in page, text
    assert not RAW_CODES.search(page)


def test_the_notice_board_offers_no_objection_to_my_own_claim(earning: Earning):
    me = make_household(earning.scheme, earning.world.village_a1, "王秀英")
    neighbour = make_household(earning.scheme, earning.world.village_a1, "李建国")
    mine = submit(earning, me, "B01", 150)
    theirs = submit(earning, neighbour, "B01", 80)
    for claim in (mine, theirs):
        claim_approve(actor=earning.village_admin, claim=claim)
    client = login(me)
    page = client.get("/m/notices/").content.decode()
    assert f"/m/notices/{theirs.pk}/object/" in page
    assert f"/m/notices/{mine.pk}/object/" not in page
    assert "这是您家的申报" in page

    # A forged POST against the own claim is refused at the service; nothing is written
    events = ClaimEvent.objects.count()
    response = client.post(f"/m/notices/{mine.pk}/object/", {"reason": "想撤回"})
    assert response.status_code == 403
    assert '<p class="field-error" role="alert">不能对自己家的申报提出异议</p>' in (
        response.content.decode()
    )
    mine.refresh_from_db()
    assert mine.status == ClaimStatus.ON_NOTICE
    assert ClaimEvent.objects.count() == events


def test_an_objection_without_a_reason_is_refused_at_its_field(earning: Earning):
    me = make_household(earning.scheme, earning.world.village_a1, "王秀英")
    neighbour = make_household(earning.scheme, earning.world.village_a1, "李建国")
    theirs = submit(earning, neighbour, "B01", 80)
    claim_approve(actor=earning.village_admin, claim=theirs)
    events = ClaimEvent.objects.count()
    response = login(me).post(f"/m/notices/{theirs.pk}/object/", {"reason": "   "})
    page = response.content.decode()
    assert response.status_code == 422
    assert f'aria-describedby="reason-{theirs.pk}-error"' in page
    assert (
        f'<p class="field-error" id="reason-{theirs.pk}-error" role="alert">请填写原因</p>' in page
    )
    theirs.refresh_from_db()
    assert theirs.status == ClaimStatus.ON_NOTICE
    assert ClaimEvent.objects.count() == events


def test_objecting_to_a_claim_of_another_village_is_not_found(earning: Earning):
    me = make_household(earning.scheme, earning.world.village_a1, "王秀英")
    elsewhere = make_household(earning.scheme, earning.world.village_b1, "赵四")
    claim = submit(earning, elsewhere, "B01", 80, actor=earning.village_admin_b)
    claim_approve(actor=earning.village_admin_b, claim=claim)
    response = login(me).post(f"/m/notices/{claim.pk}/object/", {"reason": "不对"})
    assert response.status_code == 404
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ON_NOTICE


def test_the_staff_household_page_says_the_same_reasons(everything):
    staff = Client()
    staff.force_login(User.objects.get(username="county"))
    page = staff.get(f"/households/{everything.pk}/").content.decode()
    for text in (
        "回收农药瓶 · 审核：李书记",
        "环境卫生整治 · 志愿活动：清扫村道 · 审核：李书记",
        "开通镇爱心超市 兑换 · 大米 10斤×1",
        "惠民超市 退款 · 退了一瓶油",
        "人工调整 · 原因：补录去年漏记的积分 · 经办：县文明办赵主任",
    ):
        assert text in page, text
