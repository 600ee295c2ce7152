"""The ledger: accounts, postings, entries, holds, the hash chain and idempotency records.

Amounts are integers in hundredths of a point. Only household accounts keep a running balance
(they carry the CHECKs); busy accounts (issuance, stores, merchants) keep none and are the sum
of their entries, so postings for different households never wait on each other. Only
``ledger.services`` writes these tables; postings and entries are never updated or deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.schemes.fields import SchemeOneToOneField, unique_with_scheme


class AccountKind(models.TextChoices):
    HOUSEHOLD = "household", _("农户")
    ISSUANCE = "issuance", _("积分发放")
    STORE = "store", _("爱心超市")
    MERCHANT_PAYABLE = "merchant_payable", _("应付商家")
    SETTLEMENT_CLEARING = "settlement_clearing", _("结算清算")
    FUNDS = "funds", _("资金")
    EXPIRY = "expiry", _("积分过期")
    ADJUSTMENT = "adjustment", _("人工调整")


class Account(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    household = SchemeOneToOneField(
        "households.Household", models.PROTECT, null=True, blank=True, related_name="account"
    )
    # What the account belongs to beyond a household: "" for scheme-wide, "store:7", ...
    owner_ref = models.CharField(max_length=40, blank=True)
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("账户")
        verbose_name_plural = _("账户")
        constraints = [
            unique_with_scheme("household"),
            models.UniqueConstraint(
                fields=["scheme", "kind", "owner_ref"], name="account_owner_unique"
            ),
            models.CheckConstraint(
                condition=~Q(kind="household")
                | Q(balance__gte=0, held__gte=0, held__lte=F("balance")),
                name="household_balance_covers_held",
            ),
            # Busy accounts keep no running balance: no hot rows.
            models.CheckConstraint(
                condition=Q(kind="household") | Q(balance=0, held=0),
                name="only_household_keeps_balance",
            ),
            models.CheckConstraint(
                condition=~Q(kind="household") | Q(household__isnull=False),
                name="household_account_has_household",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.owner_ref or self.scheme_id}"

    @property
    def available(self) -> int:
        """What the household may spend now: its balance less the points held for orders.
        The ledger keeps this arithmetic (and ``selectors.Balance`` for reads without the row)."""
        return self.balance - self.held


class PostingKind(models.TextChoices):
    AWARD = "award", _("奖励")
    DEDUCTION = "deduction", _("扣分")
    ADJUSTMENT = "adjustment", _("人工调整")
    REVERSAL = "reversal", _("冲正")
    REDEMPTION = "redemption", _("兑换")
    CAPTURE = "capture", _("订单扣减")
    PAYMENT = "payment", _("商家消费")
    REFUND = "refund", _("退款")
    SETTLEMENT = "settlement", _("结算")
    PAYOUT = "payout", _("付款")
    EXPIRY = "expiry", _("过期")


# Memos the ledger writes itself: stored (and hashed into the chain) in Chinese whatever the
# caller's language; the history recognises a reversal's own memo by its start.
STORED_TEXT = {
    "reversal": "冲正 #%(posting)s",
    "reversal_because": "冲正 #%(posting)s：%(reason)s",
}


class Posting(models.Model):
    # No database FK on the columns every posting shares (scheme, actor, busy accounts): a
    # FK check takes FOR KEY SHARE on the referenced row, and concurrent postings sharing
    # that row pile up MultiXacts on it — a hot row by another name. ledger_post() checks
    # that every account belongs to the posting's scheme; accounts and schemes are never
    # deleted (PROTECT, and a trigger on PostgreSQL); verify() finds orphans.
    # No index of its own either: posting_idempotency_unique leads with the scheme, and a
    # second index on the scheme alone is what a planner without statistics picks for a
    # lookup by (scheme, key), reading every posting of the scheme (docs/performance.md).
    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=20, choices=PostingKind.choices)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    memo = models.CharField(max_length=200, blank=True)
    reverses = SchemeOneToOneField(
        "self", models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    # What the posting is about, for history lines: ("claim", "123"), ("store", "7") ...
    ref_type = models.CharField(max_length=30, blank=True)
    ref_id = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name = _("记账")
        verbose_name_plural = _("记账")
        constraints = [
            unique_with_scheme("reverses"),
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="posting_idempotency_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class Entry(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    posting = models.ForeignKey(Posting, models.PROTECT, related_name="entries")
    # Indexed by (account, posting) below, which serves every lookup by account.
    account = models.ForeignKey(
        Account, models.PROTECT, related_name="entries", db_constraint=False, db_index=False
    )
    amount = models.BigIntegerField()
    # For household legs: the balance right after this entry (a bank statement's column).
    balance_after = models.BigIntegerField(null=True, blank=True)
    member = models.ForeignKey("households.Member", models.PROTECT, null=True, blank=True)

    class Meta:
        verbose_name = _("分录")
        verbose_name_plural = _("分录")
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="entry_nonzero")]
        indexes = [models.Index(fields=["account", "posting"])]


class HoldStatus(models.TextChoices):
    ACTIVE = "active", _("冻结中")
    CAPTURED = "captured", _("已扣减")
    RELEASED = "released", _("已释放")


class Hold(models.Model):
    """Points reserved on a household account (an app order) until captured or released."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    account = models.ForeignKey(Account, models.PROTECT, related_name="holds")
    amount = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default="active")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    capture_posting = SchemeOneToOneField(
        Posting, models.PROTECT, null=True, blank=True, related_name="hold"
    )

    class Meta:
        constraints = [
            unique_with_scheme("capture_posting"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.UniqueConstraint(
                fields=["scheme", "idempotency_key"], name="hold_idempotency_unique"
            ),
        ]


class ChainLink(models.Model):
    """Append-only hash chain over postings, written by the journal follower (one per scheme)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    seq = models.BigIntegerField()
    posting = SchemeOneToOneField(Posting, models.PROTECT, related_name="chain_link")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            unique_with_scheme("posting"),
            models.UniqueConstraint(fields=["scheme", "seq"], name="chain_seq_unique"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="chain_seq_positive"),
        ]


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class IdempotencyRecord(models.Model):
    """The first response to a keyed request, so a retry gets it again (success or failure)."""

    # Whose key it is ("user:12"): clients choose keys, so they are namespaced per caller.
    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=IdempotencyState.choices)
    owner = models.CharField(max_length=32)
    lease_until = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_record_unique")
        ]


# --- Four eyes: what a second county admin must approve before it is posted -----------------

# Reversals of more than this many hundredths wait for a second county admin (500 points),
# unless the scheme's ApprovalPolicy says otherwise. Manual adjustments always wait.
DEFAULT_REVERSAL_THRESHOLD = 500_00


class ApprovalPolicy(models.Model):
    """Per scheme: the reversal amount above which a second county admin must approve."""

    scheme = models.OneToOneField("schemes.Scheme", models.CASCADE, related_name="approval_policy")
    reversal_threshold = models.BigIntegerField(
        _("冲正复核门槛（百分之一积分）"),
        default=DEFAULT_REVERSAL_THRESHOLD,
        help_text=_(
            "冲正的积分超过此数时须另一位县级管理员复核；以百分之一积分计，50000 即 500 分。"
        ),
    )

    class Meta:
        verbose_name = _("复核规则")
        verbose_name_plural = _("复核规则")
        constraints = [
            models.CheckConstraint(
                condition=Q(reversal_threshold__gte=0), name="approval_threshold_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scheme_id}: {self.reversal_threshold}"


class ApprovalKind(models.TextChoices):
    ADJUSTMENT = "adjustment", _("人工调整")
    REVERSAL = "reversal", _("冲正")


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("待复核")
    APPROVED = "approved", _("已入账")
    REJECTED = "rejected", _("已驳回")
    WITHDRAWN = "withdrawn", _("已撤回")


class ApprovalRequest(models.Model):
    """A manual adjustment or a reversal that waits for a second county admin.

    What would be posted is fixed when the request is made (household and signed amount for
    an adjustment; the posting to reverse for a reversal); the posting is made only when a
    county admin other than the requester approves, in the same transaction as the status.
    """

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    kind = models.CharField(_("类型"), max_length=12, choices=ApprovalKind.choices)
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="+", verbose_name=_("农户")
    )
    # Signed hundredths the household would receive (a reversal: minus the original's leg).
    amount = models.BigIntegerField(_("积分"))
    target = models.ForeignKey(
        Posting,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal_requests",
        verbose_name=_("冲正的记账"),
    )
    reason = models.CharField(_("原因"), max_length=200)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # False when a reversal was at or below the threshold and was posted at once.
    needs_second = models.BooleanField(_("须另一位县级管理员复核"), default=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("复核意见"), max_length=200, blank=True)
    # Why the last approval attempt failed (e.g. not enough points); the request stays pending.
    last_error = models.CharField(_("上次入账失败原因"), max_length=200, blank=True)
    posting = SchemeOneToOneField(
        Posting,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="approval",
        verbose_name=_("入账记账"),
    )

    class Meta:
        verbose_name = _("待复核的调整")
        verbose_name_plural = _("待复核的调整")
        constraints = [
            unique_with_scheme("posting"),
            # The same person cannot file the same adjustment twice while one waits.
            models.UniqueConstraint(
                fields=["requested_by", "household", "amount", "scheme"],
                condition=Q(status="pending", kind="adjustment"),
                name="approval_adjustment_pending_unique",
            ),
            # One reversal request per posting while it waits.
            models.UniqueConstraint(
                fields=["target", "scheme"],
                condition=Q(status="pending"),
                name="approval_reversal_pending_unique",
            ),
            models.CheckConstraint(
                condition=Q(kind="adjustment", target__isnull=True)
                | Q(kind="reversal", target__isnull=False),
                name="approval_kind_target",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(posting__isnull=False),
                name="approval_approved_has_posting",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="approval_amount_not_zero"),
        ]
        indexes = [models.Index(fields=["scheme", "status"], name="approval_scheme_status")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.status}"
