"""Village-life services: who may post, edit, withdraw, reply and change status (scope is a
404, a role inside the scope a 403), and every bad input refused with nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.community.models import (
    Announcement,
    AnnouncementStatus,
    Feedback,
    FeedbackKind,
    FeedbackStatus,
)
from civicpoints.community.selectors import (
    announcement_for,
    announcement_of_household,
    announcements_for_household,
    announcements_visible,
    feedback_for,
    feedback_item_of_household,
    feedback_of_household,
    feedback_open_count,
    feedback_photo,
    feedback_visible,
    villages_for,
)
from civicpoints.community.services import (
    DAILY_LIMIT,
    announcement_edit,
    announcement_post,
    announcement_withdraw,
    feedback_reply,
    feedback_set_status,
    feedback_submit,
)
from civicpoints.errors import ErrorCode, NotFound
from civicpoints.households.models import HouseholdStatus
from tests.community.conftest import Village, refused
from tests.factories import PNG  # real images: uploads are re-encoded

NOW = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def post(v: Village, who: str = "village_admin", village=None, **kw):  # type: ignore[no-untyped-def]
    fields = {"title": "冬季防火通知", "body": "请各户检查炉具烟道。", "at": NOW, **kw}
    return announcement_post(
        actor=v.actors[who], village_id=(village or v.world.village_a1).pk, **fields
    )


# --- announcements -------------------------------------------------------------------------


def test_a_village_admin_posts_and_residents_of_that_village_read_it(v):
    # Given a village admin; when they post an announcement to their village
    a = post(v, pinned=True)
    # Then it is published now, in the village's scheme, with an audit row
    assert (a.status, a.pinned, a.published_at, a.scheme_id) == (
        AnnouncementStatus.PUBLISHED,
        True,
        NOW,
        v.world.scheme.pk,
    )
    audit = AuditEvent.objects.get(action="announcement.post")
    assert (audit.actor_id, audit.object_id) == (v.users["village_admin"].pk, str(a.pk))
    assert audit.detail == {"village": "220822100201", "title": "冬季防火通知", "pinned": True}
    # And residents of that village see it; a resident of the next village does not
    assert list(announcements_for_household(v.me)) == [a]
    assert announcement_of_household(v.me, a.pk) == a
    assert list(announcements_for_household(v.other)) == []
    with pytest.raises(NotFound):
        announcement_of_household(v.other, a.pk)


@pytest.mark.parametrize("who", ["township_admin", "county_admin"])
def test_admins_above_the_village_post_to_it(v, who):
    a = post(v, who)
    assert (a.village_id, a.created_by_id) == (v.world.village_a1.pk, v.users[who].pk)


def test_residents_read_pinned_first_then_newest_and_not_scheduled_ones(v):
    old = post(v, title="旧通知", at=NOW - dt.timedelta(days=3))
    pinned = post(v, title="置顶通知", pinned=True, at=NOW - dt.timedelta(days=5))
    new = post(v, title="新通知")
    later = post(v, title="明天发布", published_at=NOW + dt.timedelta(days=1))
    assert list(announcements_for_household(v.me, now=NOW)) == [pinned, new, old]
    assert list(announcements_for_household(v.me, now=NOW + dt.timedelta(days=2))) == [
        pinned,
        later,
        new,
        old,
    ]


def test_staff_see_only_their_regions_announcements(v):
    # Given one announcement in 晓光村 and one in 新华村
    a1 = post(v)
    a2 = post(v, "village_admin_a2", village=v.world.village_a2)
    # Then each village admin sees their own; the township, county and auditor see both
    assert list(announcements_visible(v.actors["village_admin"])) == [a1]
    assert set(announcements_visible(v.actors["township_admin"])) == {a1, a2}
    assert set(announcements_visible(v.actors["auditor"])) == {a1, a2}
    # And another township's admin, a grid worker, a clerk and another county find nothing
    for who in ("township_admin_b", "grid_worker", "store_clerk", "other_county"):
        assert list(announcements_visible(v.actors[who])) == []
        with pytest.raises(NotFound):
            announcement_for(v.actors[who], a1.pk)
    with pytest.raises(NotFound):
        announcement_for(v.actors["village_admin"], a2.pk)


def test_posting_outside_ones_region_is_not_found_and_writes_nothing(v):
    # Another village (a sibling), another scheme's village: both unknown to this admin
    refused(ErrorCode.NOT_FOUND, lambda: post(v, village=v.world.village_a2))
    refused(ErrorCode.NOT_FOUND, lambda: post(v, village=v.world.other_village))
    refused(ErrorCode.NOT_FOUND, lambda: post(v, "other_county"))


@pytest.mark.parametrize("who", ["auditor", "grid_worker", "store_clerk"])
def test_roles_that_only_read_or_do_other_work_cannot_post(v, who):
    refused(ErrorCode.PERMISSION_DENIED, lambda: post(v, who))


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": "  "}, "title", "不能为空"),
        ({"title": "通" * 101}, "title", "太长（最多 100 个字）"),
        ({"body": ""}, "body", "不能为空"),
        ({"body": "字" * 5001}, "body", "太长（最多 5000 个字）"),
        ({"published_at": NOW - dt.timedelta(hours=1)}, "published_at", "发布时间不能早于现在"),
        (
            {"published_at": NOW + dt.timedelta(days=181)},
            "published_at",
            "发布时间最多只能定在半年以后",
        ),
    ],
)
def test_bad_announcements_are_refused_at_the_field(v, fields, field, message):
    error = refused(ErrorCode.INVALID_INPUT, lambda: post(v, **fields))
    assert (error.message, error.detail) == (message, {"field": field})


def test_a_township_is_not_a_village_to_post_to(v):
    error = refused(ErrorCode.INVALID_INPUT, lambda: post(v, "county_admin", v.world.township_a))
    assert (error.message, error.detail) == ("请选择一个村（社区）", {"field": "village"})


def test_editing_keeps_the_old_text_in_the_audit(v):
    a = post(v)
    edited = announcement_edit(
        actor=v.actors["township_admin"],
        announcement=a,
        title="冬季防火通知（更正）",
        body="请各户检查炉具烟道，清理柴草。",
        pinned=True,
        at=NOW + dt.timedelta(hours=1),
    )
    a.refresh_from_db()
    assert (a.title, a.body, a.pinned, a.published_at) == (
        "冬季防火通知（更正）",
        "请各户检查炉具烟道，清理柴草。",
        True,
        NOW,
    )
    assert (edited.updated_by_id, edited.updated_at) == (
        v.users["township_admin"].pk,
        NOW + dt.timedelta(hours=1),
    )
    audit = AuditEvent.objects.get(action="announcement.edit")
    assert audit.detail == {
        "before": {
            "title": "冬季防火通知",
            "body": "请各户检查炉具烟道。",
            "pinned": False,
            "published_at": NOW.isoformat(),
        }
    }


def test_bad_edits_and_edits_by_readers_write_nothing(v):
    a = post(v)
    edit = dict(announcement=a, title="改", body="改", pinned=False)
    refused(
        ErrorCode.PERMISSION_DENIED, lambda: announcement_edit(actor=v.actors["auditor"], **edit)
    )
    error = refused(
        ErrorCode.INVALID_INPUT,
        lambda: announcement_edit(actor=v.actors["village_admin"], **{**edit, "title": ""}),
    )
    assert error.detail == {"field": "title"}


def test_withdrawing_takes_it_off_the_phones_once(v):
    a = post(v)
    announcement_withdraw(
        actor=v.actors["village_admin"], announcement=a, reason="内容有误", at=NOW
    )
    a.refresh_from_db()
    assert (a.status, a.withdraw_reason, a.withdrawn_at) == (
        AnnouncementStatus.WITHDRAWN,
        "内容有误",
        NOW,
    )
    assert list(announcements_for_household(v.me)) == []
    # Staff still see it in the back office
    assert list(announcements_visible(v.actors["village_admin"])) == [a]
    assert AuditEvent.objects.get(action="announcement.withdraw").detail == {"reason": "内容有误"}
    # A second withdrawal, and an edit of a withdrawn one, are refused and write nothing
    again = refused(
        ErrorCode.INVALID_TRANSITION,
        lambda: announcement_withdraw(
            actor=v.actors["village_admin"], announcement=a, reason="再撤"
        ),
    )
    assert again.message == "这条村务信息已经撤回了"
    refused(
        ErrorCode.INVALID_TRANSITION,
        lambda: announcement_edit(
            actor=v.actors["village_admin"], announcement=a, title="改", body="改", pinned=False
        ),
    )


def test_withdrawing_needs_a_reason(v):
    a = post(v)
    error = refused(
        ErrorCode.INVALID_INPUT,
        lambda: announcement_withdraw(actor=v.actors["village_admin"], announcement=a, reason=" "),
    )
    assert error.detail == {"field": "reason"}


# --- complaints and suggestions ------------------------------------------------------------


def submit(v: Village, **kw):  # type: ignore[no-untyped-def]
    fields = {"kind": FeedbackKind.COMPLAINT, "text": "村东头路灯坏了一个月", "at": NOW, **kw}
    return feedback_submit(household=fields.pop("household", v.me), **fields)


def test_a_resident_files_a_complaint_with_a_photo(v):
    f = submit(v, photo=PNG)
    assert (f.status, f.village_id, f.household_id, f.kind) == (
        FeedbackStatus.OPEN,
        v.world.village_a1.pk,
        v.me.pk,
        FeedbackKind.COMPLAINT,
    )
    assert feedback_photo(f).read_bytes() == PNG
    assert list(feedback_of_household(v.me)) == [f]
    assert list(feedback_of_household(v.neighbour)) == []
    with pytest.raises(NotFound):
        feedback_item_of_household(v.neighbour, f.pk)
    assert AuditEvent.objects.get(action="feedback.submit").detail == {
        "household": v.me.pk,
        "kind": "complaint",
        "photo": True,
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "praise"}, "kind", "请选择是投诉还是建议"),
        ({"kind": ""}, "kind", "请选择是投诉还是建议"),
        ({"text": "   "}, "text", "不能为空"),
        ({"text": "长" * 1001}, "text", "太长（最多 1000 个字）"),
        ({"photo": b"GIF89a not allowed"}, "photo", "只能上传 JPEG、PNG 或 WebP 格式的照片"),
        ({"photo": b""}, "photo", "照片是空的"),
    ],
)
def test_bad_complaints_are_refused_at_the_field(v, fields, field, message, tmp_path):
    error = refused(ErrorCode.INVALID_INPUT, lambda: submit(v, **fields))
    assert (error.message, error.detail) == (message, {"field": field})
    assert list(tmp_path.rglob("*.*")) == []  # no photo left behind


def test_a_closed_household_cannot_file(v):
    v.me.status = HouseholdStatus.CLOSED
    refused(ErrorCode.HOUSEHOLD_CLOSED, lambda: submit(v))


def test_a_household_files_at_most_ten_a_day(v):
    for _ in range(DAILY_LIMIT):
        submit(v)
    error = refused(ErrorCode.INVALID_INPUT, lambda: submit(v))
    assert error.message == "今天已经提交了 10 条，请明天再提"
    # The next day is a new count
    assert submit(v, at=NOW + dt.timedelta(days=1)).pk


def test_staff_of_the_village_see_it_others_get_not_found(v):
    f = submit(v)
    other = submit(v, household=v.other)
    assert list(feedback_visible(v.actors["village_admin"])) == [f]
    assert set(feedback_visible(v.actors["township_admin"])) == {f, other}
    assert feedback_open_count(v.actors["village_admin"]) == 1
    assert feedback_open_count(v.actors["county_admin"]) == 2
    for who in ("township_admin_b", "grid_worker", "store_clerk", "other_county"):
        assert feedback_open_count(v.actors[who]) == 0
        with pytest.raises(NotFound):
            feedback_for(v.actors[who], f.pk)
    with pytest.raises(NotFound):
        feedback_for(v.actors["village_admin"], other.pk)
    with pytest.raises(NotFound):
        feedback_for(v.actors["village_admin"], "1x")


def test_a_reply_answers_the_item_and_the_resident_reads_it(v):
    f = submit(v)
    reply = feedback_reply(
        actor=v.actors["village_admin"], feedback=f, text="已报电力所，本周修好。", at=NOW
    )
    f.refresh_from_db()
    assert (f.status, reply.author_id, reply.text) == (
        FeedbackStatus.ANSWERED,
        v.users["village_admin"].pk,
        "已报电力所，本周修好。",
    )
    mine = feedback_item_of_household(v.me, f.pk)
    assert [r.text for r in mine.replies.all()] == ["已报电力所，本周修好。"]
    assert AuditEvent.objects.get(action="feedback.reply").detail == {
        "reply": reply.pk,
        "from": "open",
    }
    assert feedback_open_count(v.actors["village_admin"]) == 0


def test_status_moves_and_its_refusals(v):
    f = submit(v)
    admin = v.actors["village_admin"]
    # Answered needs a reply first
    error = refused(
        ErrorCode.INVALID_INPUT,
        lambda: feedback_set_status(actor=admin, feedback=f, status=FeedbackStatus.ANSWERED),
    )
    assert (error.message, error.detail) == ("还没有答复：请先写答复", {"field": "status"})
    for bad in ("", "on_notice", "OPEN"):
        refused(
            ErrorCode.INVALID_INPUT,
            lambda bad=bad: feedback_set_status(actor=admin, feedback=f, status=bad),
        )
    refused(
        ErrorCode.INVALID_INPUT,
        lambda: feedback_set_status(actor=admin, feedback=f, status=FeedbackStatus.OPEN),
    )
    feedback_set_status(actor=admin, feedback=f, status=FeedbackStatus.IN_PROGRESS, at=NOW)
    feedback_set_status(actor=admin, feedback=f, status=FeedbackStatus.CLOSED, at=NOW)
    f.refresh_from_db()
    assert f.status == FeedbackStatus.CLOSED
    assert list(
        AuditEvent.objects.filter(action="feedback.status").values_list("detail", flat=True)
    ) == [{"from": "open", "to": "in_progress"}, {"from": "in_progress", "to": "closed"}]
    # A closed item takes no reply until it is reopened
    refused(
        ErrorCode.INVALID_TRANSITION,
        lambda: feedback_reply(actor=admin, feedback=f, text="补充答复"),
    )
    feedback_set_status(actor=admin, feedback=f, status=FeedbackStatus.IN_PROGRESS)
    assert feedback_reply(actor=admin, feedback=f, text="补充答复").pk


@pytest.mark.parametrize("who", ["auditor"])
def test_readers_cannot_reply_or_change_status(v, who):
    f = submit(v)
    refused(
        ErrorCode.PERMISSION_DENIED,
        lambda: feedback_reply(actor=v.actors[who], feedback=f, text="答复"),
    )
    refused(
        ErrorCode.PERMISSION_DENIED,
        lambda: feedback_set_status(actor=v.actors[who], feedback=f, status=FeedbackStatus.CLOSED),
    )


def test_empty_or_long_replies_are_refused(v):
    f = submit(v)
    admin = v.actors["village_admin"]
    for text, message in ((" ", "不能为空"), ("答" * 1001, "太长（最多 1000 个字）")):
        error = refused(
            ErrorCode.INVALID_INPUT,
            lambda text=text: feedback_reply(actor=admin, feedback=f, text=text),
        )
        assert (error.message, error.detail) == (message, {"field": "reply"})


def test_villages_for_posting_follow_the_admin_grants(v):
    codes = lambda who: [r.code for r in villages_for(v.actors[who])]  # noqa: E731
    assert codes("village_admin") == ["220822100201"]
    assert codes("township_admin") == ["220822100201", "220822100202"]
    assert codes("county_admin") == ["220822100201", "220822100202", "220822101201"]
    assert codes("auditor") == []
    assert Announcement.objects.count() == 0 and Feedback.objects.count() == 0
    assert timezone.is_aware(NOW)
