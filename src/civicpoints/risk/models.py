"""Risk flags (风险提示) for auditors: what the scan found, the rows it points at, and what the
reviewers did about it.

A flag is known by (scheme, rule, subject, period): a rerun of the scan finds the same key and
never adds a second flag, and a flag someone resolved or dismissed stays as they left it. The
scan only reads other apps' tables; nothing here is written inside a ledger posting.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RiskRule(models.TextChoices):
    OWN_HOUSEHOLD = "own_household", _("审核本人或同住址户的申报")
    SPLIT_CLAIMS = "split_claims", _("拆分申报规避乡镇复核")
    APPROVER_BUNCHING = "approver_bunching", _("审核人奖励集中在上限或月底")
    ASSISTED_SHARE = "assisted_share", _("代办兑换（未输密码）比例偏高")
    ROUND_PAYMENTS = "round_payments", _("多户整数金额贴近限额消费")
    REFUND_TRANSFER = "refund_transfer", _("消费后退款到另一户")
    MERCHANT_OUTLIER = "merchant_outlier", _("商家收款远高于同类商家")
    WRITEOFF_NO_REASON = "writeoff_no_reason", _("库存核减未写原因")
    CODE_GUESSING = "code_guessing", _("付款码猜测")


class FlagStatus(models.TextChoices):
    OPEN = "open", _("待核查")
    RESOLVED = "resolved", _("已处理")
    DISMISSED = "dismissed", _("已排除")


class RiskSettings(models.Model):
    """Thresholds of the rules for one scheme; a scheme without a row uses the defaults."""

    scheme = models.OneToOneField(
        "schemes.Scheme", models.CASCADE, related_name="risk_settings", verbose_name=_("方案")
    )
    scan_minutes = models.PositiveIntegerField(_("自动扫描间隔(分钟)"), default=60)
    lookback_days = models.PositiveIntegerField(_("每次扫描回看天数"), default=35)
    split_min_claims = models.PositiveIntegerField(_("拆分申报：同一周至少几笔"), default=3)
    bunching_min_claims = models.PositiveIntegerField(_("集中审核：每月至少几笔"), default=20)
    bunching_share_pct = models.PositiveIntegerField(_("集中审核：占比(%)"), default=60)
    month_end_days = models.PositiveIntegerField(_("月底指最后几天"), default=3)
    assisted_min_redemptions = models.PositiveIntegerField(_("代办兑换：每月至少几笔"), default=10)
    assisted_share_pct = models.PositiveIntegerField(_("代办兑换：占比上限(%)"), default=30)
    payment_limit = models.BigIntegerField(_("商家单笔消费关注额"), default=20000)
    round_unit = models.BigIntegerField(_("整数金额单位"), default=1000)
    near_limit_pct = models.PositiveIntegerField(_("贴近限额：限额以下(%)以内"), default=10)
    round_min_households = models.PositiveIntegerField(_("整数消费：每月至少几户"), default=5)
    refund_window_minutes = models.PositiveIntegerField(_("退款到另一户：相隔分钟"), default=120)
    peer_factor = models.PositiveIntegerField(_("商家收款：同类中位数的几倍"), default=3)
    peer_min_points = models.BigIntegerField(_("商家收款：每月至少"), default=500000)
    writeoff_min_points = models.BigIntegerField(_("库存核减：金额至少"), default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("风险规则设置")
        verbose_name_plural = _("风险规则设置")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    scan_minutes__gte=1,
                    split_min_claims__gte=2,
                    bunching_min_claims__gte=1,
                    bunching_share_pct__range=(1, 100),
                    month_end_days__range=(1, 15),
                    assisted_min_redemptions__gte=1,
                    assisted_share_pct__range=(1, 100),
                    payment_limit__gt=0,
                    round_unit__gt=0,
                    near_limit_pct__range=(1, 100),
                    round_min_households__gte=1,
                    refund_window_minutes__gte=1,
                    peer_factor__gte=1,
                    peer_min_points__gte=0,
                    writeoff_min_points__gte=0,
                ),
                name="risk_settings_sane",
            )
        ]

    def __str__(self) -> str:
        return str(self.scheme)


class RiskFlag(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    rule = models.CharField(_("规则"), max_length=30, choices=RiskRule.choices)
    # What the flag is about and for which period: together with the rule, its identity.
    subject = models.CharField(max_length=80)
    period = models.CharField(max_length=20, blank=True)
    # Where it happened (a village, a store's region, or the scheme's own region): for scope.
    region = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("区域")
    )
    # The figures the explanation is written from (counts, amounts, names).
    detail = models.JSONField(default=dict)
    status = models.CharField(
        _("状态"), max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN
    )
    raised_at = models.DateTimeField(_("发现时间"), default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("风险提示")
        verbose_name_plural = _("风险提示")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "rule", "subject", "period"], name="risk_flag_key"
            ),
            models.CheckConstraint(
                condition=Q(status__in=FlagStatus.values), name="risk_flag_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["scheme", "status", "rule"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule}"


class EvidenceKind(models.TextChoices):
    CLAIM = "claim", _("申报")
    HOUSEHOLD = "household", _("农户")
    POSTING = "posting", _("记账")
    PAYMENT = "payment", _("商家收款")
    REFUND = "refund", _("退款")
    REDEMPTION = "redemption", _("兑换")
    STOCK_MOVE = "stock_move", _("库存变动")
    MERCHANT = "merchant", _("商家")
    STAFF = "staff", _("工作人员")
    AUDIT = "audit", _("审计记录")


class RiskEvidence(models.Model):
    """One row a flag points at."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    flag = models.ForeignKey(RiskFlag, models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=12, choices=EvidenceKind.choices)
    object_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flag", "kind", "object_id", "scheme"], name="risk_evidence_key"
            )
        ]


class NoteAction(models.TextChoices):
    NOTE = "note", _("备注")
    RESOLVE = "resolve", _("处理完毕")
    DISMISS = "dismiss", _("排除")


class RiskNote(models.Model):
    """Who did what to a flag, when and why."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    flag = models.ForeignKey(RiskFlag, models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=NoteAction.choices)
    text = models.CharField(_("说明"), max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]


class RiskRun(models.Model):
    """The last scan of a scheme: its watermark, so the next scan reads only what is new."""

    scheme = models.OneToOneField("schemes.Scheme", models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Rows changed at or after this time minus the look-back window are read by the next scan.
    watermark = models.DateTimeField(null=True, blank=True)
    raised = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
