"""The points standard (积分细则): one row per version of a rule.

A rule is known by its ``code`` within a scheme; a change closes the current version
(``effective_to``) and opens a new one, so a claim keeps the version that was in force when
it was made and the history stays readable. Amounts are hundredths of a point.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Unit(models.TextChoices):
    OCCURRENCE = "occurrence", _("次")
    HOUR = "hour", _("小时")
    BOTTLE = "bottle", _("个")
    KG = "kg", _("公斤")
    DAY = "day", _("天")
    ITEM = "item", _("件")


class Sign(models.TextChoices):
    AWARD = "award", _("加分")
    DEDUCTION = "deduction", _("扣分")


class ApprovalLevel(models.TextChoices):
    VILLAGE = "village", _("村级审核")
    TOWNSHIP = "township", _("村级审核后乡镇复核")


class Rounding(models.TextChoices):
    """How quantity x rate becomes hundredths (e.g. 2.5 hours x 15 = 37.5 points)."""

    HALF_UP = "half_up", _("四舍五入")
    DOWN = "down", _("舍去")


class Rule(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    code = models.CharField(_("编号"), max_length=20)
    category = models.CharField(_("类别"), max_length=30)
    name = models.CharField(_("名称"), max_length=100)
    unit = models.CharField(_("单位"), max_length=12, choices=Unit.choices)
    points_per_unit = models.BigIntegerField(_("每单位积分(0.01)"))
    sign = models.CharField(_("加分/扣分"), max_length=10, choices=Sign.choices)
    cap_day = models.BigIntegerField(_("每户每日上限(0.01)"), null=True, blank=True)
    cap_month = models.BigIntegerField(_("每户每月上限(0.01)"), null=True, blank=True)
    cap_year = models.BigIntegerField(_("每户每年上限(0.01)"), null=True, blank=True)
    needs_photo = models.BooleanField(_("需要照片"), default=False)
    needs_note = models.BooleanField(_("需要说明"), default=False)
    needs_witness = models.BooleanField(_("需要证明人"), default=False)
    approval_level = models.CharField(
        _("审核级别"), max_length=10, choices=ApprovalLevel.choices, default=ApprovalLevel.VILLAGE
    )
    # Claims worth more than this also need the township's approval (None: never).
    township_threshold = models.BigIntegerField(_("乡镇复核门槛(0.01)"), null=True, blank=True)
    rounding = models.CharField(
        _("取整方式"), max_length=10, choices=Rounding.choices, default=Rounding.HALF_UP
    )
    effective_from = models.DateTimeField(_("生效时间"))
    effective_to = models.DateTimeField(_("失效时间"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("积分细则")
        verbose_name_plural = _("积分细则")
        ordering = ["scheme", "code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "code"],
                condition=Q(effective_to__isnull=True),
                name="rule_one_current_version",
            ),
            models.CheckConstraint(condition=Q(points_per_unit__gt=0), name="rule_points_positive"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gt=models.F("effective_from")),
                name="rule_effective_range",
            ),
        ]
        indexes = [models.Index(fields=["scheme", "code", "effective_from"])]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_deduction(self) -> bool:
        return self.sign == Sign.DEDUCTION
