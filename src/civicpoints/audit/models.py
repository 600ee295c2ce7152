"""The audit log: one row per staff action, written in the same transaction as the action."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, null=True, blank=True, verbose_name=_("方案")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, verbose_name=_("操作人")
    )
    action = models.CharField(_("操作"), max_length=60)
    object_type = models.CharField(_("对象类型"), max_length=60, blank=True)
    object_id = models.CharField(_("对象"), max_length=60, blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        indexes = [models.Index(fields=["scheme", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"
