"""Text messages to residents, one row per event, and the per-phone counter of inbound
commands.

``Notification.event_key`` names the event (``claim_rejected:12``, ``posted:345``): the row is
written in the same transaction as the event itself, and the key is unique per scheme, so a
retried or re-run service finds the row and sends nothing a second time. ``sent_at`` is set
when the message is handed to the SMS backend (claimed with a guarded UPDATE first, so two
senders never both send it).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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

    class Meta:
        verbose_name = _("短信通知")
        verbose_name_plural = _("短信通知")
        constraints = [
            # Per scheme (the distribution column leads every unique key); event keys carry
            # the ids of the rows they are about, so they never repeat inside a scheme.
            models.UniqueConstraint(fields=["scheme", "event_key"], name="notification_event_once")
        ]
        indexes = [models.Index(fields=["household", "created_at"])]

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
