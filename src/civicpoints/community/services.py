"""Writes for village life: announcements (post, edit, withdraw) and complaints/suggestions
(a resident files one; staff reply and move its status).

Each write is one transaction with its audit row. Staff act only on villages their admin
grants cover; residents only for their own household. Nothing here touches the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.community.models import (
    Announcement,
    AnnouncementStatus,
    Feedback,
    FeedbackKind,
    FeedbackReply,
    FeedbackStatus,
)
from civicpoints.community.selectors import COMMUNITY_WRITERS
from civicpoints.errors import ApplicationError, ErrorCode, PermissionDenied, invalid
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.images import check_image, image_saved
from civicpoints.schemes.models import Region, RegionLevel
from civicpoints.schemes.scope import Actor, require_role
from civicpoints.schemes.selectors import region_for, scheme_for_region

TITLE_MAX = 100
BODY_MAX = 5000
TEXT_MAX = 1000
REASON_MAX = 200
# A publish time may be set ahead (scheduled), but not further than this ...
MAX_AHEAD = dt.timedelta(days=180)
# ... and not back in the past (beyond the minute a form rounds to): a backdated notice
# would look as if the village had told residents earlier than it did.
BACKDATE_SLACK = dt.timedelta(minutes=5)
# A household files at most this many items a day (a stuck button, or a flood).
DAILY_LIMIT = 10


def _text(raw: Any, *, field: str, limit: int, required: bool = True) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    if required and not value:
        raise invalid(_("不能为空"), field=field)
    if len(value) > limit:
        raise invalid(_("太长（最多 %(limit)s 个字）") % {"limit": limit}, field=field)
    return value


def _publish_time(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value < now - BACKDATE_SLACK:
        raise invalid(_("发布时间不能早于现在"), field="published_at")
    if value > now + MAX_AHEAD:
        raise invalid(_("发布时间最多只能定在半年以后"), field="published_at")
    return value


def _require_writer(actor: Actor, *, scheme_id: int, village: Region, action: str) -> int:
    """The acting staff member's user id, once a writer's grant covers the village."""
    require_role(
        actor,
        roles=COMMUNITY_WRITERS,
        scheme_id=scheme_id,
        region_path=village.path,
        action=action,
    )
    if actor.user_id is None:  # grants belong to users: cannot happen, but never write None
        raise PermissionDenied(action)
    return actor.user_id


# --- announcements -------------------------------------------------------------------------


def announcement_post(
    *,
    actor: Actor,
    village_id: object,
    title: str,
    body: str,
    pinned: bool = False,
    published_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> Announcement:
    """Post an announcement to one village the actor administers (directly or from above)."""
    now = at or timezone.now()
    village = region_for(actor, village_id)  # NotFound outside every grant
    if village.level != RegionLevel.VILLAGE:
        raise invalid(_("请选择一个村（社区）"), field="village")
    scheme = scheme_for_region(actor, village, prefer=COMMUNITY_WRITERS)
    user_id = _require_writer(
        actor, scheme_id=scheme.pk, village=village, action="announcement.post"
    )
    title = _text(title, field="title", limit=TITLE_MAX)
    body = _text(body, field="body", limit=BODY_MAX)
    when = _publish_time(published_at, now)
    with transaction.atomic():
        announcement = Announcement.objects.create(
            scheme=scheme,
            village=village,
            title=title,
            body=body,
            pinned=bool(pinned),
            published_at=when,
            created_by_id=user_id,
            created_at=now,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.ANNOUNCEMENT_POST,
            obj=announcement,
            detail={"village": village.code, "title": title, "pinned": bool(pinned)},
        )
    return announcement


def announcement_edit(
    *,
    actor: Actor,
    announcement: Announcement,
    title: str,
    body: str,
    pinned: bool,
    published_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> Announcement:
    """Change a published announcement; the audit row keeps what it said before."""
    now = at or timezone.now()
    _require_writer(
        actor,
        scheme_id=announcement.scheme_id,
        village=announcement.village,
        action="announcement.edit",
    )
    title = _text(title, field="title", limit=TITLE_MAX)
    body = _text(body, field="body", limit=BODY_MAX)
    if published_at is None or published_at == announcement.published_at:
        when = announcement.published_at
    else:
        when = _publish_time(published_at, now)
    with transaction.atomic():
        row = Announcement.objects.select_for_update().get(pk=announcement.pk)
        if row.status != AnnouncementStatus.PUBLISHED:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, _("这条村务信息已撤回，不能再修改")
            )
        before = {
            "title": row.title,
            "body": row.body,
            "pinned": row.pinned,
            "published_at": timezone.localtime(row.published_at).isoformat(),
        }
        row.title, row.body, row.pinned, row.published_at = title, body, bool(pinned), when
        row.updated_by_id, row.updated_at = actor.user_id, now
        row.save(
            update_fields=["title", "body", "pinned", "published_at", "updated_by", "updated_at"]
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=row.scheme_id,
            action=AuditAction.ANNOUNCEMENT_EDIT,
            obj=row,
            detail={"before": before},
        )
    return row


def announcement_withdraw(
    *, actor: Actor, announcement: Announcement, reason: str, at: dt.datetime | None = None
) -> Announcement:
    """Take an announcement off the residents' phones; it stays in the back office."""
    now = at or timezone.now()
    _require_writer(
        actor,
        scheme_id=announcement.scheme_id,
        village=announcement.village,
        action="announcement.withdraw",
    )
    reason = _text(reason, field="reason", limit=REASON_MAX)
    with transaction.atomic():
        done = Announcement.objects.filter(
            pk=announcement.pk, status=AnnouncementStatus.PUBLISHED
        ).update(
            status=AnnouncementStatus.WITHDRAWN,
            withdraw_reason=reason,
            withdrawn_at=now,
            updated_by_id=actor.user_id,
            updated_at=now,
        )
        if not done:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这条村务信息已经撤回了"))
        audit_record(
            actor_id=actor.user_id,
            scheme_id=announcement.scheme_id,
            action=AuditAction.ANNOUNCEMENT_WITHDRAW,
            obj=announcement,
            detail={"reason": reason},
        )
    announcement.refresh_from_db()
    return announcement


# --- complaints and suggestions ------------------------------------------------------------


def feedback_submit(
    *,
    household: Household,
    kind: str,
    text: str,
    photo: bytes | None = None,
    at: dt.datetime | None = None,
) -> Feedback:
    """A resident files a complaint or a suggestion with their village."""
    now = at or timezone.now()
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    if kind not in FeedbackKind.values:
        raise invalid(_("请选择是投诉还是建议"), field="kind")
    text = _text(text, field="text", limit=TEXT_MAX)
    if photo is not None:
        check_image(photo)
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        # Lock the household row: two taps at once cannot both pass the daily count.
        Household.objects.select_for_update().filter(pk=household.pk).first()
        today = Feedback.objects.filter(household_id=household.pk, created_at__gte=day_start)
        if today.count() >= DAILY_LIMIT:
            raise invalid(
                _("今天已经提交了 %(n)s 条，请明天再提") % {"n": DAILY_LIMIT}, field="text"
            )
        feedback = Feedback(
            scheme_id=household.scheme_id,
            village_id=household.village_id,
            household=household,
            kind=kind,
            text=text,
            created_at=now,
            updated_at=now,
        )
        if photo is None:
            feedback.save()
        else:
            with image_saved(photo, scheme_id=household.scheme_id) as image:
                feedback.photo_path = image.path
                feedback.photo_type = image.content_type
                feedback.photo_sha256 = image.sha256
                feedback.save()
        audit_record(
            actor_id=None,
            scheme_id=household.scheme_id,
            action=AuditAction.FEEDBACK_SUBMIT,
            obj=feedback,
            detail={"household": household.pk, "kind": kind, "photo": photo is not None},
        )
    return feedback


def feedback_reply(
    *, actor: Actor, feedback: Feedback, text: str, at: dt.datetime | None = None
) -> FeedbackReply:
    """Answer an item: the resident sees the reply, and the item becomes 已答复."""
    now = at or timezone.now()
    user_id = _require_writer(
        actor, scheme_id=feedback.scheme_id, village=feedback.village, action="feedback.reply"
    )
    text = _text(text, field="reply", limit=TEXT_MAX)
    with transaction.atomic():
        row = Feedback.objects.select_for_update().get(pk=feedback.pk)
        if row.status == FeedbackStatus.CLOSED:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION, _("已关闭的不能再答复，请先把状态改回处理中")
            )
        reply = FeedbackReply.objects.create(
            scheme_id=row.scheme_id,
            feedback=row,
            text=text,
            author_id=user_id,
            created_at=now,
        )
        before = row.status
        row.status, row.updated_at = FeedbackStatus.ANSWERED, now
        row.save(update_fields=["status", "updated_at"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=row.scheme_id,
            action=AuditAction.FEEDBACK_REPLY,
            obj=row,
            detail={"reply": reply.pk, "from": before},
        )
    feedback.status, feedback.updated_at = row.status, row.updated_at
    return reply


def feedback_set_status(
    *, actor: Actor, feedback: Feedback, status: str, at: dt.datetime | None = None
) -> Feedback:
    """Move an item to another status (待处理 / 处理中 / 已答复 / 已关闭)."""
    now = at or timezone.now()
    _require_writer(
        actor, scheme_id=feedback.scheme_id, village=feedback.village, action="feedback.status"
    )
    if status not in FeedbackStatus.values:
        raise invalid(_("请选择一个状态"), field="status")
    with transaction.atomic():
        row = Feedback.objects.select_for_update().get(pk=feedback.pk)
        if row.status == status:
            raise invalid(_("状态没有变化"), field="status")
        if status == FeedbackStatus.ANSWERED and not row.replies.exists():
            raise invalid(_("还没有答复：请先写答复"), field="status")
        before = row.status
        row.status, row.updated_at = status, now
        row.save(update_fields=["status", "updated_at"])
        audit_record(
            actor_id=actor.user_id,
            scheme_id=row.scheme_id,
            action=AuditAction.FEEDBACK_STATUS,
            obj=row,
            detail={"from": before, "to": status},
        )
    feedback.status, feedback.updated_at = row.status, row.updated_at
    return feedback
