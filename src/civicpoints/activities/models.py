"""Volunteer activities (志愿活动): sign-up, check-in and check-out, and mutual help (互助).

An activity belongs to a village or a township; its attendance becomes claims (hours x the
rule's rate) when staff close it, one claim per attendance, guarded by ``Attendance.claim``.
Mutual help becomes a claim for the helper only once the helped household (or staff) confirms.
Nothing here moves points: claims go through review and notice like every other claim.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.rules.models import Rounding
from civicpoints.schemes.fields import SchemeOneToOneField, unique_with_scheme


class ActivityStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("报名中")
    CLOSED = "closed", _("已结束")
    CANCELLED = "cancelled", _("已取消")


class Activity(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    # A village or a township; households under it may take part.
    region = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("村/乡镇")
    )
    title = models.CharField(_("活动名称"), max_length=100)
    description = models.TextField(_("活动内容"), max_length=2000, blank=True)
    place = models.CharField(_("地点"), max_length=200)
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"))
    # None: no limit on places.
    capacity = models.PositiveIntegerField(_("名额"), null=True, blank=True)
    rule = models.ForeignKey("rules.Rule", models.PROTECT, verbose_name=_("积分细则"))
    # Hundredths of a point per attendance (None: only the rule's own caps apply).
    per_activity_cap = models.BigIntegerField(_("每人本次上限(0.01)"), null=True, blank=True)
    # Hours served are rounded to this many minutes (30: to half an hour) ...
    rounding_minutes = models.PositiveSmallIntegerField(_("时长取整(分钟)"), default=30)
    # ... down (a volunteer who stayed 2 h 20 min is credited 2 h) or to the nearest step.
    rounding = models.CharField(
        _("取整方式"), max_length=10, choices=Rounding.choices, default=Rounding.DOWN
    )
    status = models.CharField(
        _("状态"), max_length=10, choices=ActivityStatus.choices, default=ActivityStatus.DRAFT
    )
    # What a resident's phone scans to check in and out by itself (shown at the door).
    code = models.CharField(_("活动码"), max_length=16)
    # False: only staff scanning the resident's card check people in and out.
    self_check_in = models.BooleanField(_("村民可扫活动码签到"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("志愿活动")
        verbose_name_plural = _("志愿活动")
        constraints = [
            unique_with_scheme("code"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="activity_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(capacity__isnull=True) | Q(capacity__gt=0),
                name="activity_capacity_positive",
            ),
            models.CheckConstraint(
                condition=Q(per_activity_cap__isnull=True) | Q(per_activity_cap__gt=0),
                name="activity_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(rounding_minutes__in=[1, 15, 30, 60]),
                name="activity_rounding_minutes",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ActivityStatus.values), name="activity_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["scheme", "status", "starts_at"])]

    def __str__(self) -> str:
        return self.title


class EnrolmentStatus(models.TextChoices):
    ENROLLED = "enrolled", _("已报名")
    CANCELLED = "cancelled", _("已取消")


class Enrolment(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    activity = models.ForeignKey(Activity, models.PROTECT, related_name="enrolments")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="+")
    member = models.ForeignKey("households.Member", models.PROTECT, null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ENROLLED
    )
    # Who signed the household up (None: the household itself, or a walk-in at check-in).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    walk_in = models.BooleanField(_("现场报名"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("活动报名")
        verbose_name_plural = _("活动报名")
        constraints = [
            models.UniqueConstraint(
                fields=["activity", "household", "scheme"], name="enrolment_one_per_household"
            ),
            models.CheckConstraint(
                condition=Q(status__in=EnrolmentStatus.values), name="enrolment_status_valid"
            ),
        ]


class Attendance(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    activity = models.ForeignKey(Activity, models.PROTECT, related_name="attendances")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="+")
    member = models.ForeignKey("households.Member", models.PROTECT, null=True, blank=True)
    checked_in_at = models.DateTimeField(_("签到时间"))
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    checked_out_at = models.DateTimeField(_("签退时间"), null=True, blank=True)
    checked_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A forgotten check-out closed by staff, and why (also in the audit log).
    closed_by_staff = models.BooleanField(_("工作人员补签退"), default=False)
    close_reason = models.CharField(_("补签退原因"), max_length=200, blank=True)
    # Hours credited when the activity closed (rounded); None until then.
    hours = models.DecimalField(_("计分时长"), max_digits=5, decimal_places=2, null=True)
    claim = SchemeOneToOneField(
        "awards.Claim", models.PROTECT, null=True, blank=True, related_name="attendance"
    )
    # Why no claim was made when the activity closed (e.g. the household was closed).
    claim_problem = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("签到记录")
        verbose_name_plural = _("签到记录")
        constraints = [
            unique_with_scheme("claim"),
            models.UniqueConstraint(
                fields=["activity", "household", "scheme"], name="attendance_one_per_household"
            ),
            models.CheckConstraint(
                condition=Q(checked_out_at__isnull=True)
                | Q(checked_out_at__gte=F("checked_in_at")),
                name="attendance_out_after_in",
            ),
            models.CheckConstraint(
                condition=Q(closed_by_staff=False) | ~Q(close_reason=""),
                name="attendance_staff_close_has_reason",
            ),
        ]


class MutualHelpStatus(models.TextChoices):
    PENDING = "pending", _("待受助户确认")
    CONFIRMED = "confirmed", _("已确认")
    REJECTED = "rejected", _("未确认")


class MutualHelp(models.Model):
    """One household helped another for some hours; a claim for the helper once confirmed."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    helper = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="+", verbose_name=_("帮助户")
    )
    helper_member = models.ForeignKey(
        "households.Member", models.PROTECT, null=True, blank=True, related_name="+"
    )
    helped = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="+", verbose_name=_("受助户")
    )
    rule = models.ForeignKey("rules.Rule", models.PROTECT, verbose_name=_("积分细则"))
    hours = models.DecimalField(_("时长(小时)"), max_digits=5, decimal_places=2)
    occurred_on = models.DateField(_("日期"))
    note = models.CharField(_("说明"), max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=MutualHelpStatus.choices, default=MutualHelpStatus.PENDING
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    # True when the helped household answered itself (the resident face), not staff.
    decided_by_helped = models.BooleanField(default=False)
    # True when the helped household recorded the help itself ("someone helped me"): its word
    # is the confirmation, so such a record is confirmed (with its claim) from the start.
    reported_by_helped = models.BooleanField(default=False)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    claim = SchemeOneToOneField(
        "awards.Claim", models.PROTECT, null=True, blank=True, related_name="mutual_help"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("邻里互助")
        verbose_name_plural = _("邻里互助")
        constraints = [
            unique_with_scheme("claim"),
            models.CheckConstraint(
                condition=~Q(helper=F("helped")), name="mutual_help_two_households"
            ),
            models.CheckConstraint(condition=Q(hours__gt=0), name="mutual_help_hours_positive"),
            models.CheckConstraint(
                condition=Q(status__in=MutualHelpStatus.values), name="mutual_help_status_valid"
            ),
            # A confirmation always makes the claim in the same transaction.
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(claim__isnull=False),
                name="mutual_help_confirmed_has_claim",
            ),
            models.CheckConstraint(
                condition=Q(reported_by_helped=False) | Q(status="confirmed"),
                name="mutual_help_received_is_confirmed",
            ),
        ]
