"""Signed merchants (签约商家): payment codes, payments, refunds, daily statements and payouts.

A payment is one posting household -> the merchant's payable account; a refund the reverse
direction. Each business day D (00:00-24:00 Asia/Shanghai) settles into one statement per
merchant: the payments and refunds not yet in any statement whose time falls before the end
of D are claimed by it (so a late refund lands in exactly one statement), posted
merchant_payable -> settlement_clearing, and paid to the bank (settlement_clearing -> funds).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.schemes.fields import SchemeOneToOneField, unique_with_scheme


class MerchantStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    SUSPENDED = "suspended", _("暂停")
    ENDED = "ended", _("已解约")


class Merchant(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    legal_name = models.CharField(_("商户全称"), max_length=100)
    shop_name = models.CharField(_("店名"), max_length=100)
    contact_name = models.CharField(_("联系人"), max_length=40, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    bank_name = models.CharField(_("开户行"), max_length=100)
    account_name = models.CharField(_("收款户名"), max_length=100)
    bank_account_encrypted = models.TextField(editable=False)
    bank_account_last4 = models.CharField(max_length=4, editable=False)
    # Residents of these regions (and everything under them) may pay here.
    regions = models.ManyToManyField(
        "schemes.Region", related_name="merchants", verbose_name=_("服务区域")
    )
    status = models.CharField(
        _("状态"), max_length=10, choices=MerchantStatus.choices, default=MerchantStatus.ACTIVE
    )
    clerks = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="merchants", verbose_name=_("收银员")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("签约商家")
        verbose_name_plural = _("签约商家")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.shop_name

    @property
    def masked_account(self) -> str:
        return f"**** **** **** {self.bank_account_last4}"


class PaymentCode(models.Model):
    """A single-use payment code a resident's phone shows (付款码): valid 60 seconds."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    household = models.ForeignKey("households.Household", models.PROTECT)
    # The 18 digits: a 2-digit prefix, 10 random digits and 6 digits of HMAC over them.
    code = models.CharField(max_length=18)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [unique_with_scheme("code")]
        indexes = [models.Index(fields=["household", "created_at"])]


class GuessKind(models.TextChoices):
    CODE = "code", _("无效付款码")
    CARD = "card", _("不存在的积分卡号")


class CodeFailure(models.Model):
    """One payer credential a cashier entered that matched nothing (a forged or mistyped
    payment code, an unknown card number): the sliding window of ``merchants.guessing``."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    merchant = models.ForeignKey(Merchant, models.PROTECT, related_name="+")
    cashier = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    kind = models.CharField(max_length=4, choices=GuessKind.choices)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("无效付款码记录")
        verbose_name_plural = _("无效付款码记录")
        indexes = [
            models.Index(fields=["merchant", "at"], name="codefailure_merchant_at"),
            models.Index(fields=["cashier", "at"], name="codefailure_cashier_at"),
        ]


class GuessLimits(models.Model):
    """A scheme's own limits on invalid payer credentials (else the defaults in settings)."""

    scheme = models.OneToOneField(
        "schemes.Scheme", models.CASCADE, related_name="guess_limits", verbose_name=_("方案")
    )
    per_cashier = models.PositiveIntegerField(_("每名收银员上限"))
    per_merchant = models.PositiveIntegerField(_("每个商家上限"))
    window_minutes = models.PositiveIntegerField(_("统计时长（分钟）"))

    class Meta:
        verbose_name = _("付款码试错上限")
        verbose_name_plural = _("付款码试错上限")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    per_cashier__gt=0,
                    per_merchant__gt=0,
                    window_minutes__gt=0,
                    window_minutes__lte=24 * 60,
                ),
                name="guess_limits_positive",
            )
        ]


class PaymentVia(models.TextChoices):
    CODE = "code", _("付款码")
    CARD = "card", _("积分卡+密码")


class Payment(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    merchant = models.ForeignKey(Merchant, models.PROTECT, related_name="payments")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="payments")
    posting = SchemeOneToOneField("ledger.Posting", models.PROTECT, related_name="payment")
    points = models.BigIntegerField()  # hundredths
    refunded = models.BigIntegerField(default=0)
    via = models.CharField(max_length=4, choices=PaymentVia.choices)
    payment_code = SchemeOneToOneField(
        PaymentCode, models.PROTECT, null=True, blank=True, related_name="payment"
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True)
    created_at = models.DateTimeField(default=timezone.now)
    statement = models.ForeignKey(
        "Statement", models.PROTECT, null=True, blank=True, related_name="payments"
    )

    class Meta:
        verbose_name = _("商家收款")
        verbose_name_plural = _("商家收款")
        constraints = [
            unique_with_scheme("posting"),
            unique_with_scheme("payment_code"),
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="payment_idempotency_unique"
            ),
            models.CheckConstraint(
                condition=Q(points__gt=0, refunded__gte=0, refunded__lte=models.F("points")),
                name="payment_refund_within_paid",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "statement", "created_at"]),
        ]

    @property
    def refundable(self) -> int:
        return self.points - self.refunded


class Refund(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    merchant = models.ForeignKey(Merchant, models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, models.PROTECT, related_name="refunds")
    posting = SchemeOneToOneField("ledger.Posting", models.PROTECT, related_name="refund")
    points = models.BigIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True)
    created_at = models.DateTimeField(default=timezone.now)
    statement = models.ForeignKey(
        "Statement", models.PROTECT, null=True, blank=True, related_name="refunds"
    )

    class Meta:
        verbose_name = _("退款")
        verbose_name_plural = _("退款")
        constraints = [
            unique_with_scheme("posting"),
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="refund_idempotency_unique"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="refund_positive"),
        ]
        indexes = [models.Index(fields=["merchant", "statement", "created_at"])]


class StatementStatus(models.TextChoices):
    UNPAID = "unpaid", _("待付款")
    PAID = "paid", _("已付款")
    NOTHING_DUE = "nothing_due", _("无需付款")


class Statement(models.Model):
    """One merchant's settlement for one business day (T+1)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    merchant = models.ForeignKey(Merchant, models.PROTECT, related_name="statements")
    business_date = models.DateField()
    payment_count = models.PositiveIntegerField(default=0)
    refund_count = models.PositiveIntegerField(default=0)
    gross = models.BigIntegerField(default=0)  # hundredths of a point
    refunds_total = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)
    yuan_per_point = models.DecimalField(max_digits=8, decimal_places=4)
    amount_fen = models.BigIntegerField(default=0)  # what the bank pays, in fen
    posting = SchemeOneToOneField(
        "ledger.Posting", models.PROTECT, null=True, blank=True, related_name="statement"
    )
    status = models.CharField(max_length=12, choices=StatementStatus.choices)
    payout_posting = SchemeOneToOneField(
        "ledger.Posting", models.PROTECT, null=True, blank=True, related_name="payout_statement"
    )
    bank_reference = models.CharField(max_length=100, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("结算单")
        verbose_name_plural = _("结算单")
        constraints = [
            unique_with_scheme("posting"),
            unique_with_scheme("payout_posting"),
            models.UniqueConstraint(
                fields=["merchant", "business_date", "scheme"], name="statement_one_per_day"
            ),
        ]
        indexes = [models.Index(fields=["scheme", "business_date"])]

    @property
    def reference(self) -> str:
        return f"CP{self.business_date:%Y%m%d}M{self.merchant_id:05d}S{self.pk}"
