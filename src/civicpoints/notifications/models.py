"""Text messages to residents, one row per event, and the per-phone counter of inbound
commands.

``Notification.event_key`` names the event (``claim_rejected:12``, ``posted:345``): the row is
written in the same transaction as the event itself, and the key is unique per scheme, so a
retried or re-run service finds the row and sends nothing a second time. A background task
sends it (``services.deliver``): the row is claimed (``pending`` -> ``sending``, a guarded
UPDATE) before the SMS backend is called, so two workers, or a retry after a crash, never
send it twice; a backend failure puts it back to ``pending`` with a later ``next_attempt_at``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    # Claimed and never confirmed (the worker died while the backend had it): not sent again,
    # since the gateway may have delivered it (at most once).
    UNKNOWN = "unknown", _("结果不明")


class Notification(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="+", verbose_name=_("户")
    )
    phone = models.CharField(_("手机号"), max_length=20)
    event_key = models.CharField(_("事件"), max_length=120)
    text = models.CharField(_("内容"), max_length=300)
    created_at = models.DateTimeField(_("生成时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    status = models.CharField(
        _("状态"),
        max_length=10,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("发送次数"), default=0)
    claimed_at = models.DateTimeField(_("最近一次开始发送"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("下次发送"), null=True, blank=True)
    last_error = models.CharField(_("失败类型"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("短信通知")
        verbose_name_plural = _("短信通知")
        constraints = [
            # Per scheme (the distribution column leads every unique key); event keys carry
            # the ids of the rows they are about, so they never repeat inside a scheme.
            models.UniqueConstraint(fields=["scheme", "event_key"], name="notification_event_once")
        ]
        indexes = [
            models.Index(fields=["household", "created_at"]),
            # The sweep's lookups: pending or sending rows only.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="notification_unsent",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return self.event_key


class InboundCounter(models.Model):
    """Commands received from one phone in one fixed window (rate limit, counted in the DB)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    phone = models.CharField(max_length=20)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "phone", "window_start"], name="inbound_counter_window"
            ),
            models.CheckConstraint(condition=Q(count__gte=0), name="inbound_counter_nonnegative"),
        ]
