"""Journey (b): a member logs in by SMS code, sees "+N 分 公示中" on the home page, objects to a
neighbour's claim on the notice board (no objection offered on the household's own claim),
and after notice the household's points are posted; the ledger verifies at the end."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from civicpoints.awards.models import ClaimEvent, ClaimStatus
from civicpoints.awards.services import claim_approve, claim_submit, notices_finalize
from civicpoints.households.models import Member
from civicpoints.households.sms import MemoryBackend
from civicpoints.ledger.selectors import household_balance
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.browser.a11y import small_targets, small_text
from tests.browser.conftest import assert_cjk_font, shot
from tests.factories import build_world, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
MEMBER_PHONE = "13712345678"


def test_a_member_logs_in_by_sms_sees_points_on_notice_and_objects(browser, live_server, settings):
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    # Given a village where the Wangs' 165 bottles and the Lis' courtyard work are on notice
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    reviewer = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    User.objects.filter(pk=reviewer.pk).update(display_name="刘书记")
    admin = actor_for_user(reviewer)
    wang = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    # the son is a member with his own phone on file: he logs in for the household
    Member.objects.create(scheme=world.scheme, household=wang, name="王小军", phone=MEMBER_PHONE)
    li = make_household(world.scheme, world.village_a1, "李建国", phone="13812345678")
    today = timezone.localdate()
    bottles = claim_submit(
        actor=admin, household=wang, rule_id=rules["B01"].pk, quantity=165, occurred_on=today
    )
    cleaning = claim_submit(
        actor=admin, household=li, rule_id=rules["E03"].pk, quantity=3, occurred_on=today
    )
    approved_at = timezone.now()
    for claim in (bottles, cleaning):
        claim_approve(actor=admin, claim=claim, at=approved_at)
    ends = timezone.localtime(approved_at + dt.timedelta(days=world.scheme.notice_days))

    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        # When the son asks for a login code with his phone number
        page.goto(live_server.url + "/m/login/")
        page.get_by_role("textbox", name="手机号").fill(MEMBER_PHONE)
        page.get_by_role("button", name="获取验证码").click()
        page.get_by_label("短信验证码").wait_for()
        texts = [text for phone, text in MemoryBackend.outbox if phone == MEMBER_PHONE]
        assert len(texts) == 1
        code = re.search(r"\d{6}", texts[0]).group(0)  # type: ignore[union-attr]
        page.get_by_label("短信验证码").fill(code)
        page.get_by_role("button", name="登录", exact=True).click()

        # Then the home page shows the household's points on their way, with the end date
        coming = page.locator(".balance .coming")
        coming.wait_for()
        assert coming.inner_text() == f"+165 分 公示中，{ends.month}月{ends.day}日截止"
        assert page.locator(".who").inner_text().startswith("王秀英")
        assert "回收农药瓶" in page.locator(".mine").inner_text()
        assert_cjk_font(page)
        # (the header's language switch belongs to the crawl in test_accessibility)
        assert [t for t in small_text(page) if not t.endswith("English")] == []
        assert small_targets(page) == []
        shot(page, "journey-b-home-on-notice")

        # When he opens the notice board
        page.get_by_role("link", name=re.compile("^公示")).click()
        page.get_by_role("heading", name=re.compile("积分公示")).wait_for()
        rows = page.locator("li.notice")
        assert rows.count() == 2
        own = rows.filter(has_text="王秀英")
        # the household's own claim offers no objection
        assert own.get_by_role("button", name="提出异议").count() == 0
        assert "这是您家的申报" in own.inner_text()
        shot(page, "journey-b-notices")
        # and he objects to the neighbour's claim with a reason
        theirs = rows.filter(has_text="李建国")
        theirs.get_by_label("异议理由").fill("那天李家没人在家，没有打扫")
        theirs.get_by_role("button", name="提出异议").click()
        page.get_by_text("您的异议已提交，村里会重新审核这条申报。").wait_for()
        assert page.locator("li.notice").count() == 1
        shot(page, "journey-b-objected")

        # Then the neighbour's claim is back in review, the objection names the household,
        # and the Lis were told (once, after commit)
        cleaning.refresh_from_db()
        assert (cleaning.status, cleaning.notice_ends_at) == (ClaimStatus.SUBMITTED, None)
        event = ClaimEvent.objects.filter(claim=cleaning).last()
        assert (event.action, event.actor_household_id, event.reason) == (  # type: ignore[union-attr]
            "object",
            wang.pk,
            "那天李家没人在家，没有打扫",
        )
        li_texts = [text for phone, text in MemoryBackend.outbox if phone == "13812345678"]
        assert li_texts == [
            "【文明积分】您家「环境卫生整治」在公示期间有人提出异议，村里会重新审核，审核后再公示。"
        ]

        # When the notice ends, the Wangs' claim is posted and they get one text
        MemoryBackend.outbox.clear()
        assert notices_finalize(at=ends + dt.timedelta(minutes=1)).count == 1
        assert household_balance(household_id=wang.pk).balance == 16500
        assert household_balance(household_id=li.pk).balance == 0
        assert MemoryBackend.outbox == [
            ("13912345678", "【文明积分】您家「回收农药瓶」165 分已公示期满入账。")
        ]
        # and the history says what it was for and who approved it
        page.goto(live_server.url + "/m/history/")
        line = page.locator("ul.history li").first
        assert "回收农药瓶" in line.inner_text() and "审核：刘书记" in line.inner_text()
        assert line.locator(".amount").inner_text() == "+165"
        shot(page, "journey-b-history")
    finally:
        context.close()

    # The ledger verifies at the end
    assert_ledger_ok(world.scheme.pk)
