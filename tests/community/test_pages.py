"""Staff pages for village life: the menu offers them only to roles that can use them, posting
and editing announcements, answering complaints, and every refusal shown at its field with
nothing written; another village's items are 404."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.community.models import (
    Announcement,
    AnnouncementStatus,
    Feedback,
    FeedbackKind,
    FeedbackStatus,
)
from civicpoints.community.services import announcement_post, feedback_submit
from tests.community.conftest import Village, snapshot
from tests.factories import PNG  # real images: uploads are re-encoded

RAW_CODES = re.compile(
    r"\b(open|in_progress|answered|closed|published|withdrawn|complaint|suggestion)\b"
)


def raw_codes(page: str) -> list[str]:
    """Enum values a person would read on the page (tags and attributes are not read)."""
    return RAW_CODES.findall(re.sub(r"<[^>]*>", " ", page))


def client_for(v: Village, who: str) -> Client:
    client = Client()
    client.force_login(v.users[who])
    return client


def nav(page: str) -> str:
    return page[page.index('<header class="topbar">') : page.index("</header>")]


def announce(v: Village, **kw):  # type: ignore[no-untyped-def]
    fields = {"title": "冬季防火通知", "body": "请各户检查炉具烟道。", **kw}
    return announcement_post(
        actor=v.actors[fields.pop("who", "village_admin")],
        village_id=fields.pop("village", v.world.village_a1).pk,
        **fields,
    )


def complain(v: Village, household=None, **kw):  # type: ignore[no-untyped-def]
    fields = {"kind": FeedbackKind.COMPLAINT, "text": "村东头路灯坏了一个月", **kw}
    return feedback_submit(household=household or v.me, **fields)


@pytest.mark.parametrize("who", ["village_admin", "township_admin", "county_admin", "auditor"])
def test_the_menu_offers_village_life_with_the_open_count(v, who):
    complain(v)
    complain(v, kind=FeedbackKind.SUGGESTION, text="建议多装几个垃圾箱")
    page = client_for(v, who).get("/").content.decode()
    menu = nav(page)
    assert ">村务信息</a>" in menu
    assert re.search(r">投诉建议 <span class=\"badge\"[^>]*>2</span></a>", menu), menu
    # And both pages open for this role
    for url in ("/village/announcements/", "/village/feedback/"):
        assert client_for(v, who).get(url).status_code == 200


@pytest.mark.parametrize("who", ["grid_worker", "store_clerk"])
def test_the_menu_hides_village_life_from_roles_that_cannot_use_it(v, who):
    menu = nav(client_for(v, who).get("/").content.decode())
    assert "村务信息" not in menu and "投诉建议" not in menu
    for url in ("/village/announcements/", "/village/feedback/", "/village/announcements/new/"):
        assert client_for(v, who).get(url).status_code == 404


def test_a_village_admin_posts_an_announcement_through_the_form(v):
    client = client_for(v, "village_admin")
    form = client.get("/village/announcements/new/").content.decode()
    assert 'name="village"' in form and "晓光村" in form and "新华村" not in form
    response = client.post(
        "/village/announcements/new/",
        {
            "village": v.world.village_a1.pk,
            "title": "冬季防火通知",
            "body": "请各户检查炉具烟道。\n不要在屋里烧柴草。",
            "pinned": "on",
            "published_at": "",
        },
    )
    a = Announcement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/village/announcements/{a.pk}/"
    assert (a.title, a.pinned, a.village_id, a.created_by_id) == (
        "冬季防火通知",
        True,
        v.world.village_a1.pk,
        v.users["village_admin"].pk,
    )
    page = client.get(response["Location"]).content.decode()
    assert (
        "【置顶】冬季防火通知" in page
        and "<p>请各户检查炉具烟道。<br>不要在屋里烧柴草。</p>" in page
    )
    assert "已发布" in page and "保存修改" in page and "撤回原因" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "不能为空"),
        ({"body": "   "}, "body", "不能为空"),
        ({"published_at": "明天"}, "published_at", "发布时间格式不对"),
        ({"published_at": "2020-01-01T08:00"}, "published_at", "发布时间不能早于现在"),
        ({"village": ""}, "village", "请选择一个村（社区）"),
        ({"village": "abc"}, "village", "请选择一个村（社区）"),
    ],
)
def test_bad_announcement_forms_show_the_message_at_the_field(v, fields, field, message):
    before = snapshot()
    data = {"village": v.world.village_a1.pk, "title": "通知", "body": "内容", **fields}
    response = client_for(v, "township_admin").post("/village/announcements/new/", data)
    page = response.content.decode()
    assert response.status_code == 422
    assert f'<ul class="errors" id="{field}-error"><li>{message}</li></ul>' in page
    assert f'aria-describedby="{field}-error"' in page
    assert snapshot() == before
    # What was typed is kept
    if "title" not in fields:
        assert 'value="通知"' in page


def test_posting_to_a_village_outside_ones_grants_writes_nothing(v):
    before = snapshot()
    response = client_for(v, "village_admin").post(
        "/village/announcements/new/",
        {"village": v.world.village_a2.pk, "title": "通知", "body": "内容"},
    )
    assert response.status_code == 422
    assert "<li>请选择一个村（社区）</li>" in response.content.decode()
    assert snapshot() == before


def test_other_villages_announcements_and_complaints_are_404(v):
    a = announce(v, who="village_admin_a2", village=v.world.village_a2)
    f = complain(v, household=v.other, photo=PNG)
    client = client_for(v, "village_admin")
    for url in (
        f"/village/announcements/{a.pk}/",
        f"/village/feedback/{f.pk}/",
        f"/village/feedback/{f.pk}/photo/",
        "/village/announcements/999999/",
    ):
        assert client.get(url).status_code == 404, url
    before = snapshot()
    for url, data in (
        (f"/village/announcements/{a.pk}/", {"title": "改", "body": "改"}),
        (f"/village/announcements/{a.pk}/withdraw/", {"reason": "撤"}),
        (f"/village/feedback/{f.pk}/reply/", {"reply": "答复"}),
        (f"/village/feedback/{f.pk}/status/", {"status": "closed"}),
    ):
        assert client.post(url, data).status_code == 404, url
    assert snapshot() == before


def test_editing_and_withdrawing_through_the_page(v):
    a = announce(v)
    client = client_for(v, "township_admin")
    published = client.get(f"/village/announcements/{a.pk}/").content.decode()
    match = re.search(r'name="published_at" type="datetime-local" value="([^"]+)"', published)
    assert match is not None
    response = client.post(
        f"/village/announcements/{a.pk}/",
        {"title": "防火通知（更正）", "body": "新内容", "published_at": match.group(1)},
    )
    assert response.status_code == 302
    a.refresh_from_db()
    assert (a.title, a.body, a.pinned, a.updated_by_id) == (
        "防火通知（更正）",
        "新内容",
        False,
        v.users["township_admin"].pk,
    )
    # A withdrawal without a reason says so and changes nothing
    before = snapshot()
    page = client.post(f"/village/announcements/{a.pk}/withdraw/", {"reason": ""}, follow=True)
    assert "没有撤回：请填写撤回原因（最多 200 个字）" in page.content.decode()
    assert snapshot() == before
    page = client.post(
        f"/village/announcements/{a.pk}/withdraw/", {"reason": "内容有误"}, follow=True
    ).content.decode()
    a.refresh_from_db()
    assert a.status == AnnouncementStatus.WITHDRAWN
    assert "已撤回，村民手机上不再显示" in page and "原因：内容有误" in page
    assert "保存修改" not in page  # a withdrawn one offers no edit


def test_the_auditor_reads_but_is_offered_no_form(v):
    a = announce(v)
    f = complain(v)
    client = client_for(v, "auditor")
    listing = client.get("/village/announcements/").content.decode()
    assert "冬季防火通知" in listing and "发布村务信息" not in listing
    page = client.get(f"/village/announcements/{a.pk}/").content.decode()
    assert "保存修改" not in page and "撤回原因" not in page
    page = client.get(f"/village/feedback/{f.pk}/").content.decode()
    assert "村东头路灯坏了一个月" in page
    assert 'name="reply"' not in page and 'name="status"' not in page
    # Posting anyway is refused (403: inside the auditor's scope) and writes nothing
    before = snapshot()
    assert client.post(f"/village/feedback/{f.pk}/reply/", {"reply": "答"}).status_code == 403
    assert client.post(f"/village/feedback/{f.pk}/status/", {"status": "closed"}).status_code == 403
    assert (
        client.post(f"/village/announcements/{a.pk}/", {"title": "改", "body": "改"}).status_code
        == 403
    )
    assert client.get("/village/announcements/new/").status_code == 404
    assert snapshot() == before


def test_the_feedback_list_pages_with_a_total_and_chinese_statuses(v):
    items = [complain(v, text=f"问题{i}") for i in range(3)]
    complain(v, household=v.other)
    client = client_for(v, "village_admin")
    client.post(f"/village/feedback/{items[0].pk}/status/", {"status": "in_progress"})
    page = client.get("/village/feedback/").content.decode()
    assert "共 3 条" in page
    assert page.count('<td class="status">待处理</td>') == 2
    assert page.count('<td class="status">处理中</td>') == 1
    assert raw_codes(page) == []
    assert "李四" not in page  # 新华村's household
    closed = client.get("/village/feedback/?status=closed").content.decode()
    assert "共 0 条" in closed and "没有投诉建议" in closed
    everything = client.get("/village/feedback/?status=all&kind=complaint").content.decode()
    assert "共 3 条" in everything


def test_replying_and_closing_through_the_page(v):
    f = complain(v, photo=PNG)
    client = client_for(v, "village_admin")
    page = client.get(f"/village/feedback/{f.pk}/").content.decode()
    assert "139****5678" in page and "13912345678" not in page
    assert client.get(f"/village/feedback/{f.pk}/photo/").getvalue() == PNG
    response = client.post(f"/village/feedback/{f.pk}/reply/", {"reply": "已报电力所，本周修好。"})
    assert response.status_code == 302
    f.refresh_from_db()
    assert f.status == FeedbackStatus.ANSWERED
    page = client.get(f"/village/feedback/{f.pk}/").content.decode()
    assert f"投诉 #{f.pk} · 已答复" in page and "已报电力所，本周修好。" in page
    response = client.post(f"/village/feedback/{f.pk}/status/", {"status": "closed"})
    f.refresh_from_db()
    assert (response.status_code, f.status) == (302, FeedbackStatus.CLOSED)


def test_bad_replies_and_statuses_are_shown_at_the_field(v):
    f = complain(v)
    client = client_for(v, "village_admin")
    before = snapshot()
    response = client.post(f"/village/feedback/{f.pk}/reply/", {"reply": "  "})
    assert response.status_code == 422
    assert '<ul class="errors" id="reply-error"><li>不能为空</li></ul>' in response.content.decode()
    response = client.post(f"/village/feedback/{f.pk}/status/", {"status": "answered"})
    assert response.status_code == 422
    assert "<li>还没有答复：请先写答复</li>" in response.content.decode()
    response = client.post(f"/village/feedback/{f.pk}/status/", {"status": "posted"})
    assert "<li>请选择一个状态</li>" in response.content.decode()
    assert snapshot() == before
    assert Feedback.objects.get().status == FeedbackStatus.OPEN
