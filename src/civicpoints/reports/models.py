"""Rollups: what dashboards and rankings read instead of scanning entries per request.

Kept by the ledger's journal follower (``rollups.rollups_follow``), rebuilt from the ledger by
``civicpoints rollup --rebuild``. No row every posting shares: one row per household, day,
category and member, so two households' postings never meet here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class HouseholdDay(models.Model):
    """Points a household earned on one day (Beijing time) in one category: awards,
    deductions and adjustments, with their reversals (negative), in hundredths. ``member_id``
    is the member a claim named (0: none); ``category`` the claim's rule category ("": a
    posting not from a claim); ``village`` the household's village when the row was kept."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    day = models.DateField(_("日期"))
    household = models.ForeignKey(
        "households.Household", models.PROTECT, db_constraint=False, db_index=False
    )
    member_id = models.BigIntegerField(_("成员"), default=0)
    category = models.CharField(_("类别"), max_length=30, blank=True)
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False
    )
    points = models.BigIntegerField(_("积分(0.01)"), default=0)
    postings = models.IntegerField(_("笔数"), default=0)

    class Meta:
        verbose_name = _("每日积分汇总")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "day", "household", "category", "member_id"],
                name="household_day_unique",
            )
        ]
        indexes = [
            models.Index(fields=["scheme", "day"], name="household_day_period"),
            models.Index(fields=["household", "day"], name="household_day_household"),
        ]


class PeriodKind(models.TextChoices):
    MONTH = "month", _("月")
    QUARTER = "quarter", _("季度")
    YEAR = "year", _("年")
    ALL = "all", _("累计")


class Standing(models.Model):
    """Points a household (``member_id`` 0) or one of its members earned in a month, a
    quarter, a year or all time (``start``: the period's first day; 2000-01-01 for all time):
    what rankings read, ordered by the index below without summing days. Kept beside
    ``HouseholdDay`` by the same follower pass; rebuilt from it."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    start = models.DateField()
    household = models.ForeignKey(
        "households.Household", models.PROTECT, db_constraint=False, db_index=False
    )
    member_id = models.BigIntegerField(default=0)
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False
    )
    village_path = models.CharField(max_length=13 * 6)
    points = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("期间积分")
        constraints = [
            # household first: one household's periods (``rank_of``), and never a candidate
            # for a ranking's plan (which must read an index below in rank order)
            models.UniqueConstraint(
                fields=["household", "scheme", "kind", "start", "member_id"],
                name="standing_unique",
            )
        ]
        indexes = [
            # A ranking: one period's rows in rank order (points down, then household; member
            # 0 is the household as a whole), read from the top: a county's by the first, a
            # village's by the second. Both lead with every column a ranking fixes, so no plan
            # needs statistics to find them.
            models.Index(
                "scheme",
                "kind",
                "start",
                "member_id",
                models.F("points").desc(),
                "household",
                name="standing_rank",
            ),
            models.Index(
                "scheme",
                "kind",
                "start",
                "village",
                "member_id",
                models.F("points").desc(),
                "household",
                name="standing_village_rank",
            ),
        ]


class Flow(models.TextChoices):
    """Which way points moved for households, as the county reports it."""

    AWARDED = "awarded", _("奖励")
    DEDUCTED = "deducted", _("扣分")
    REDEEMED = "redeemed", _("超市兑换")
    PAID = "paid", _("商家消费")
    REFUNDED = "refunded", _("商家退款")
    EXPIRED = "expired", _("过期")
    ADJUSTED = "adjusted", _("人工调整")


class RegionDay(models.Model):
    """Points that moved for a village's households on one day (Beijing time), by rule
    category (claims' postings; "" for the rest) and flow: ``amount`` in hundredths, positive
    the flow's own way (a reversal takes its posting's back), ``postings`` the count (a
    reversal counts -1). What the county's dashboard and ``/stats`` sum; kept by the journal
    follower beside ``HouseholdDay``."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    day = models.DateField(_("日期"))
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False
    )
    village_path = models.CharField(max_length=13 * 6)
    category = models.CharField(_("类别"), max_length=30, blank=True)
    flow = models.CharField(max_length=10, choices=Flow.choices)
    amount = models.BigIntegerField(default=0)
    postings = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("每日区域积分流量")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "day", "village", "category", "flow"],
                name="region_day_unique",
            )
        ]
        indexes = [models.Index(fields=["scheme", "day", "village_path"], name="region_day_period")]


class RegionMonth(models.Model):
    """``RegionDay`` by month, for every region a village belongs to (the village, its
    township, the county): one row per month x region x category x flow, so a county's year
    is a dozen rows per flow and category, not a row per village per day. What ``stats``
    reads (every period it shows is whole months); kept in the same follower pass as
    ``RegionDay``, and ``rollup --rebuild`` makes it again from ``RegionDay``."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    month = models.DateField(_("月份"))  # the first day
    region = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    # The region above (a township's county; none for the county): its children's rows.
    parent = models.ForeignKey(
        "schemes.Region",
        models.PROTECT,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    category = models.CharField(_("类别"), max_length=30, blank=True)
    flow = models.CharField(max_length=10, choices=Flow.choices)
    amount = models.BigIntegerField(default=0)
    postings = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("每月区域积分流量")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "region", "month", "category", "flow"],
                name="region_month_unique",
            )
        ]
        indexes = [models.Index(fields=["scheme", "parent", "month"], name="region_month_children")]


class Participation(models.Model):
    """A household that had at least one posting in a month, quarter, year or all time
    (``start`` as in ``Standing``): participation is a count of these rows."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    start = models.DateField()
    household = models.ForeignKey(
        "households.Household", models.PROTECT, db_constraint=False, db_index=False
    )
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False
    )
    village_path = models.CharField(max_length=13 * 6)

    class Meta:
        verbose_name = _("参与户")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "kind", "start", "household"], name="participation_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["scheme", "kind", "start", "village_path"], name="participation_period"
            )
        ]


class ParticipationCount(models.Model):
    """How many households of a village took part in a period, by the household's status:
    ``Participation`` counted as its rows arrive (the follower counts the rows its insert
    made, ``RETURNING``), so the county's participation is a few hundred rows to add, not
    50,000 to count. A household's status is set when it is registered and no service
    changes it today; one that does must move the household's counts (``rollup`` finds a
    count that disagrees with ``Participation`` and the households' statuses)."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    start = models.DateField()
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    village_path = models.CharField(max_length=13 * 6)
    status = models.CharField(max_length=10)
    households = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("参与农户数")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "kind", "start", "village", "status"],
                name="participation_count_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["scheme", "kind", "start", "village_path"],
                name="participation_count_period",
            )
        ]


class Outcome(models.Model):
    """What a village's staff report for a month beside the points: disputes mediated,
    petitions (信访), criminal cases, and the sanitation inspection score (0-100; none: not
    inspected). Entered on a form or from a sheet (``reports.outcomes``)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_index=False)
    village = models.ForeignKey("schemes.Region", models.PROTECT, related_name="+")
    month = models.DateField(_("月份"))  # its first day
    disputes = models.PositiveIntegerField(_("调解纠纷"), default=0)
    petitions = models.PositiveIntegerField(_("信访"), default=0)
    criminal_cases = models.PositiveIntegerField(_("刑事案件"), default=0)
    sanitation_score = models.DecimalField(
        _("卫生检查得分"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("村月度治理指标")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "village", "month"], name="outcome_unique"),
            models.CheckConstraint(
                condition=models.Q(sanitation_score__gte=0, sanitation_score__lte=100)
                | models.Q(sanitation_score__isnull=True),
                name="outcome_score_range",
            ),
        ]
