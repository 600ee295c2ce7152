"""What the scheduler did, kept in the database so that any process can report it.

``JobState`` is one row per scheduled job (its name in ``scheduler.JOBS``): runs, failures,
the last start, success and error. ``Heartbeat`` is one row per scheduler loop (``scheduler``):
when it last went round. A restarted scheduler reads them to know what it missed; ``/healthz``
reads them for a load balancer. No scheme data and no error text lives here (only the
exception's class name), so nothing private can leak through the health answer.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobState(models.Model):
    name = models.CharField(_("任务"), max_length=50, primary_key=True)
    runs = models.PositiveBigIntegerField(_("运行次数"), default=0)
    failures = models.PositiveBigIntegerField(_("失败次数"), default=0)
    last_started_at = models.DateTimeField(_("最近开始"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("最近成功"), null=True, blank=True)
    last_error_at = models.DateTimeField(_("最近失败"), null=True, blank=True)
    last_error = models.CharField(_("失败类型"), max_length=100, blank=True)
    last_done = models.BigIntegerField(_("最近处理条数"), default=0)
    last_duration_ms = models.PositiveIntegerField(_("最近耗时（毫秒）"), null=True, blank=True)

    class Meta:
        verbose_name = _("后台任务状态")
        verbose_name_plural = _("后台任务状态")

    def __str__(self) -> str:
        return self.name


class Heartbeat(models.Model):
    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("心跳")
        verbose_name_plural = _("心跳")

    def __str__(self) -> str:
        return self.name
