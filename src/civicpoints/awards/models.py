"""Claims (申报) and their path to the ledger: review, public notice (公示), objections, posting.

A claim moves submitted -> approved -> on_notice -> posted, or to rejected / withdrawn;
an objection during notice sends it back to submitted. Every move is a ``ClaimEvent`` (actor,
time, reason). Deductions that exceed the balance leave the rest as ``OwedDeduction``, taken
from the next awards. Village quotas and budgets live here too (一票否决, which both earning
and spending read, lives beside the household: ``households.models.Disqualification``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.schemes.fields import SchemeOneToOneField, unique_with_scheme


class ClaimStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待审核")
    APPROVED = "approved", _("村级已审核，待乡镇复核")
    ON_NOTICE = "on_notice", _("公示中")
    POSTED = "posted", _("已入账")
    REJECTED = "rejected", _("已驳回")
    WITHDRAWN = "withdrawn", _("已撤回")


# Claims that count against caps, quotas and duplicate checks.
LIVE_STATUSES = (ClaimStatus.APPROVED, ClaimStatus.ON_NOTICE, ClaimStatus.POSTED)


class ClaimSource(models.TextChoices):
    SELF_REPORT = "self_report", _("村民自报")
    GRID_WORKER = "grid_worker", _("网格员申报")
    STAFF = "staff", _("村干部申报")
    ACTIVITY = "activity", _("志愿活动")
    MUTUAL_HELP = "mutual_help", _("邻里互助")
    IMPORT = "import", _("批量导入")
    HONOUR = "honour", _("评比表彰")


class Claim(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="claims", verbose_name=_("户")
    )
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("村/社区")
    )
    member = models.ForeignKey(
        "households.Member", models.PROTECT, null=True, blank=True, verbose_name=_("成员")
    )
    rule = models.ForeignKey("rules.Rule", models.PROTECT, verbose_name=_("细则"))
    quantity = models.DecimalField(_("数量"), max_digits=12, decimal_places=2)
    # Hundredths, always positive; ``is_deduction`` says which way it goes.
    points = models.BigIntegerField(_("积分(0.01)"))
    is_deduction = models.BooleanField(_("扣分"), default=False)
    occurred_on = models.DateField(_("发生日期"))
    source = models.CharField(_("来源"), max_length=12, choices=ClaimSource.choices)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("说明"), max_length=500, blank=True)
    witness = models.CharField(_("证明人"), max_length=60, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SUBMITTED
    )
    needs_township = models.BooleanField(_("需乡镇复核"), default=False)
    village_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    township_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    notice_ends_at = models.DateTimeField(_("公示截止"), null=True, blank=True)
    posting = SchemeOneToOneField(
        "ledger.Posting", models.PROTECT, null=True, blank=True, related_name="claim"
    )
    # Where it came from beyond ``source``: ("activity", 12), ("import", "batch-token") ...
    origin_ref = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("积分申报")
        verbose_name_plural = _("积分申报")
        constraints = [
            unique_with_scheme("posting"),
            models.CheckConstraint(condition=Q(points__gt=0), name="claim_points_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="claim_quantity_positive"),
            models.CheckConstraint(
                condition=Q(status__in=ClaimStatus.values), name="claim_status_valid"
            ),
            # A deduction against an empty balance is posted with no posting (all of it owed).
            models.CheckConstraint(
                condition=~Q(status="posted") | Q(posting__isnull=False) | Q(is_deduction=True),
                name="claim_posted_has_posting",
            ),
        ]
        indexes = [
            models.Index(fields=["scheme", "status", "notice_ends_at"]),
            models.Index(fields=["household", "rule", "occurred_on"]),
            models.Index(fields=["village", "status"]),
            # Scoped lookups (scheme + the villages under a region + status) in one index, so
            # that no plan ANDs the bitmap of every claim of the scheme (docs/performance.md).
            models.Index(fields=["scheme", "village", "status"], name="claim_scope_status_idx"),
            # The review queue in id order: only claims waiting for review, so a page of it
            # never walks the posted history.
            models.Index(
                fields=["scheme", "id"],
                condition=Q(status__in=[ClaimStatus.SUBMITTED, ClaimStatus.APPROVED]),
                name="claim_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule.name}"


class ClaimEvent(models.Model):
    """One move of a claim, with who, when and why (the claim's own audit trail)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    claim = models.ForeignKey(Claim, models.PROTECT, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True)
    actor_household = models.ForeignKey(
        "households.Household", models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # Objection and rejection reasons of a page of claims (review queue, resident home).
            models.Index(
                fields=["claim"],
                condition=Q(action__in=["object", "reject"]),
                name="claimevent_review_idx",
            )
        ]


class OwedDeduction(models.Model):
    """The part of a deduction the balance could not cover, taken from later awards."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="owed")
    claim = SchemeOneToOneField(Claim, models.PROTECT, related_name="owed")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            unique_with_scheme("claim"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")),
                name="owed_remaining_in_range",
            ),
        ]


class VillageQuota(models.Model):
    """Award points a village may approve in a year (hundredths)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    village = models.ForeignKey("schemes.Region", models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    points = models.BigIntegerField(_("额度(0.01)"))

    class Meta:
        verbose_name = _("村积分额度")
        verbose_name_plural = _("村积分额度")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "village", "year"], name="quota_unique"),
            models.CheckConstraint(condition=Q(points__gte=0), name="quota_nonnegative"),
        ]


class FundKind(models.TextChoices):
    GRANT = "grant", _("财政拨款")
    DONATION = "donation", _("社会捐赠")


class Fund(models.Model):
    """Money in for a scheme (fiscal grants, donations), in fen."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    kind = models.CharField(_("来源"), max_length=10, choices=FundKind.choices)
    amount_fen = models.BigIntegerField(_("金额(分)"))
    source = models.CharField(_("拨款单位/捐赠人"), max_length=100)
    received_on = models.DateField(_("到账日期"))
    note = models.CharField(_("备注"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("资金")
        verbose_name_plural = _("资金")
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="fund_positive")]


class ClaimEvidence(models.Model):
    """A photo for a claim, stored outside the web root and served only within scope."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    claim = models.ForeignKey(Claim, models.PROTECT, related_name="evidence")
    path = models.CharField(max_length=200)  # relative to settings.EVIDENCE_ROOT
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True)
    created_at = models.DateTimeField(default=timezone.now)
