"""Village life: announcements (村务信息) staff post to one village, and complaints and
suggestions (投诉建议) residents file with their village, with staff replies and a status.

Both belong to one village of one scheme and are read only inside it (residents of the
village, staff over it). Nothing here moves points or touches the ledger.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AnnouncementStatus(models.TextChoices):
    PUBLISHED = "published", _("已发布")
    WITHDRAWN = "withdrawn", _("已撤回")


class Announcement(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("村/社区")
    )
    title = models.CharField(_("标题"), max_length=100)
    body = models.TextField(_("正文"), max_length=5000)
    pinned = models.BooleanField(_("置顶"), default=False)
    # Residents see it from this moment on (a later time schedules it).
    published_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    status = models.CharField(
        _("状态"),
        max_length=10,
        choices=AnnouncementStatus.choices,
        default=AnnouncementStatus.PUBLISHED,
    )
    withdraw_reason = models.CharField(_("撤回原因"), max_length=200, blank=True)
    withdrawn_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("发布人")
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("村务信息")
        verbose_name_plural = _("村务信息")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AnnouncementStatus.values),
                name="announcement_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["village", "status", "published_at"])]

    def __str__(self) -> str:
        return self.title


class FeedbackKind(models.TextChoices):
    COMPLAINT = "complaint", _("投诉")
    SUGGESTION = "suggestion", _("建议")


class FeedbackStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    IN_PROGRESS = "in_progress", _("处理中")
    ANSWERED = "answered", _("已答复")
    CLOSED = "closed", _("已关闭")


# Still waiting for the village: what the staff nav counts.
OPEN_STATUSES = (FeedbackStatus.OPEN, FeedbackStatus.IN_PROGRESS)


class Feedback(models.Model):
    """A complaint or a suggestion from a household to its village."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("村/社区")
    )
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="+", verbose_name=_("户")
    )
    kind = models.CharField(_("类型"), max_length=12, choices=FeedbackKind.choices)
    text = models.TextField(_("内容"), max_length=1000)
    status = models.CharField(
        _("状态"), max_length=12, choices=FeedbackStatus.choices, default=FeedbackStatus.OPEN
    )
    # An optional photo, stored outside the web root (civicpoints.images).
    photo_path = models.CharField(max_length=200, blank=True)
    photo_type = models.CharField(max_length=40, blank=True)
    photo_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("提交时间"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    class Meta:
        verbose_name = _("投诉建议")
        verbose_name_plural = _("投诉建议")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=FeedbackKind.values), name="feedback_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=FeedbackStatus.values), name="feedback_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["village", "status"]),
            models.Index(fields=["household", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"


class FeedbackReply(models.Model):
    """A staff reply; the resident reads every reply under their item."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    feedback = models.ForeignKey(Feedback, models.PROTECT, related_name="replies")
    text = models.TextField(_("答复"), max_length=1000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("答复人")
    )
    created_at = models.DateTimeField(_("答复时间"), default=timezone.now)

    class Meta:
        verbose_name = _("投诉建议答复")
        verbose_name_plural = _("投诉建议答复")
