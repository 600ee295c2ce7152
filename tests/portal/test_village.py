"""Residents' village-life pages: the village's announcements (pinned first, newest first,
only their own village's), filing a complaint or suggestion and reading the village's reply;
another village's or household's items are 404 and bad input writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from civicpoints.community.models import Feedback, FeedbackKind, FeedbackStatus
from civicpoints.community.services import (
    announcement_post,
    announcement_withdraw,
    feedback_reply,
    feedback_submit,
)
from civicpoints.households.services import household_set_pin
from tests.community.conftest import Village, snapshot
from tests.community.conftest import v as v  # the village-life world (a fixture)
from tests.factories import PNG  # real images: uploads are re-encoded

PIN = "258369"


def resident(household) -> Client:  # type: ignore[no-untyped-def]
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    client = Client()
    response = client.post("/m/login/", {"card": household.card_code, "pin": PIN})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def announce(v: Village, title: str, **kw):  # type: ignore[no-untyped-def]
    return announcement_post(
        actor=v.actors[kw.pop("who", "village_admin")],
        village_id=kw.pop("village", v.world.village_a1).pk,
        title=title,
        body=kw.pop("body", f"{title}的内容"),
        **kw,
    )


def test_the_home_page_links_to_village_life(v):
    page = resident(v.me).get("/m/").content.decode()
    assert 'href="/m/village/">村务信息</a>' in page
    assert 'href="/m/feedback/">投诉建议</a>' in page


def test_pages_need_a_login(v):
    for url in ("/m/village/", "/m/feedback/", "/m/feedback/new/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].split("?")[0] == "/m/login/"


def test_residents_read_their_villages_announcements_pinned_first(v):
    now = timezone.now()
    old = announce(v, "秋收互助安排", at=now - dt.timedelta(days=2))
    announce(v, "置顶：冬季防火", pinned=True, at=now - dt.timedelta(days=5))
    announce(v, "明天才发布", published_at=now + dt.timedelta(days=1))
    gone = announce(v, "已撤回的通知")
    announcement_withdraw(actor=v.actors["village_admin"], announcement=gone, reason="发错了")
    announce(v, "新华村的通知", who="village_admin_a2", village=v.world.village_a2)
    client = resident(v.me)
    page = client.get("/m/village/").content.decode()
    assert "共 2 条" in page
    assert page.index("置顶：冬季防火") < page.index("秋收互助安排")
    for hidden in ("明天才发布", "已撤回的通知", "新华村的通知"):
        assert hidden not in page
    detail = client.get(f"/m/village/{old.pk}/").content.decode()
    assert "<h1>秋收互助安排</h1>" in detail and "<p>秋收互助安排的内容</p>" in detail


def test_another_villages_or_a_withdrawn_announcement_is_404(v):
    theirs = announce(v, "新华村的通知", who="village_admin_a2", village=v.world.village_a2)
    gone = announce(v, "撤回的")
    announcement_withdraw(actor=v.actors["village_admin"], announcement=gone, reason="错")
    client = resident(v.me)
    for url in (f"/m/village/{theirs.pk}/", f"/m/village/{gone.pk}/", "/m/village/99999/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "没有找到" in response.content.decode()


def test_the_announcement_list_pages_ten_at_a_time(v):
    for i in range(12):
        announce(v, f"第{i}号通知", at=timezone.now() - dt.timedelta(hours=12 - i))
    client = resident(v.me)
    first = client.get("/m/village/").content.decode()
    assert "共 12 条" in first and "第 1 页，共 2 页" in first
    assert "第11号通知" in first and "第1号通知" not in first.replace("第11号", "")
    second = client.get("/m/village/?page=2").content.decode()
    assert "第1号通知" in second and "第0号通知" in second and "上一页" in second


def test_a_resident_files_a_complaint_with_a_photo_and_reads_the_reply(v):
    client = resident(v.me)
    form = client.get("/m/feedback/new/").content.decode()
    assert 'value="complaint"' in form and "投诉" in form and "建议" in form
    response = client.post(
        "/m/feedback/new/",
        {
            "kind": "complaint",
            "text": "村东头路灯坏了一个月",
            "photo": SimpleUploadedFile("lamp.png", PNG, "image/png"),
        },
    )
    item = Feedback.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/m/feedback/{item.pk}/"
    assert (item.household_id, item.kind, item.status) == (v.me.pk, "complaint", "open")
    assert client.get(f"/m/feedback/{item.pk}/photo/").getvalue() == PNG
    page = client.get(f"/m/feedback/{item.pk}/").content.decode()
    assert "待处理" in page and "村里还没有答复" in page
    feedback_reply(actor=v.actors["village_admin"], feedback=item, text="已报电力所，本周修好。")
    page = client.get(f"/m/feedback/{item.pk}/").content.decode()
    assert '<span class="tag answered">已答复</span>' in page
    assert "<p>已报电力所，本周修好。</p>" in page
    mine = client.get("/m/feedback/").content.decode()
    assert "共 1 条" in mine and "村东头路灯坏了一个月" in mine and "已答复" in mine
    assert "answered" not in mine.replace('class="tag answered"', "")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"text": "路灯坏了"}, "kind", "请选择是投诉还是建议"),
        ({"kind": "praise", "text": "路灯坏了"}, "kind", "请选择是投诉还是建议"),
        ({"kind": "suggestion", "text": "  "}, "text", "不能为空"),
        ({"kind": "suggestion", "text": "长" * 1001}, "text", "太长（最多 1000 个字）"),
    ],
)
def test_bad_complaints_show_the_message_at_the_field(v, data, field, message):
    client = resident(v.me)
    before = snapshot()
    response = client.post("/m/feedback/new/", data)
    page = response.content.decode()
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in page
    assert snapshot() == before


def test_a_file_that_is_not_a_photo_is_refused(v, tmp_path):
    client = resident(v.me)
    before = snapshot()
    response = client.post(
        "/m/feedback/new/",
        {
            "kind": "suggestion",
            "text": "建议多装垃圾箱",
            "photo": SimpleUploadedFile("x.png", b"<script>", "image/png"),
        },
    )
    assert response.status_code == 422
    assert "只能上传 JPEG、PNG 或 WebP 格式的照片" in response.content.decode()
    assert 'value="建议多装垃圾箱"' not in response.content.decode()  # a textarea keeps it:
    assert ">建议多装垃圾箱</textarea>" in response.content.decode()
    assert snapshot() == before
    assert list(tmp_path.rglob("*.*")) == []


def test_a_neighbours_complaint_is_404(v):
    theirs = feedback_submit(household=v.neighbour, kind=FeedbackKind.COMPLAINT, text="邻居的事")
    client = resident(v.me)
    for url in (f"/m/feedback/{theirs.pk}/", f"/m/feedback/{theirs.pk}/photo/"):
        assert client.get(url).status_code == 404
    assert "邻居的事" not in client.get("/m/feedback/").content.decode()
    assert Feedback.objects.get().status == FeedbackStatus.OPEN
