"""Honours: rankings (published, then frozen when their period closes), and later star
households, titles, votes, certificates and ceremonies (issue 11)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.reports.models import PeriodKind


class PeriodClose(models.Model):
    """A closed period of a scheme: its rankings are read from ``ClosedStanding`` (a copy
    of the totals taken at closing) and never change again, whatever is posted later."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    kind = models.CharField(max_length=8, choices=PeriodKind.choices)
    start = models.DateField()
    closed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("已结束的排名期间")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "kind", "start"], name="period_close_unique")
        ]


class ClosedStanding(models.Model):
    """One household's (or member's) points in a closed period, as they stood at closing."""

    period = models.ForeignKey(PeriodClose, models.PROTECT, related_name="standings")
    household = models.ForeignKey(
        "households.Household", models.PROTECT, db_constraint=False, db_index=False
    )
    member_id = models.BigIntegerField(default=0)
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, db_constraint=False, db_index=False, null=True
    )
    village_path = models.CharField(max_length=13 * 6)
    points = models.BigIntegerField()

    class Meta:
        verbose_name = _("已结束期间的积分")
        constraints = [
            models.UniqueConstraint(
                fields=["period", "household", "member_id"], name="closed_standing_unique"
            )
        ]
        indexes = [
            models.Index(
                "period",
                "member_id",
                models.F("points").desc(),
                "household",
                name="closed_standing_rank",
            ),
            models.Index(
                "period",
                "village",
                "member_id",
                models.F("points").desc(),
                "household",
                name="closed_standing_village_rank",
            ),
        ]


class StarLevel(models.Model):
    """One step of a scheme's 星级文明户: the points a household must earn in a year for
    ``stars`` stars, and the categories it must have earned in (each at least once, net
    positive). A household with 一票否决 at any time in the year gets no star."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    stars = models.PositiveSmallIntegerField(_("星级"))
    points = models.BigIntegerField(_("全年获得积分不少于(0.01)"))
    categories = models.JSONField(_("必须有积分的类别"), default=list, blank=True)

    class Meta:
        verbose_name = _("星级标准")
        ordering = ["scheme", "stars"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "stars"], name="star_level_unique"),
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="star_level_one_to_five"
            ),
        ]


class StarRating(models.Model):
    """A household's stars for a year, as last computed (0: none). Each change is an audit
    row (``honours.stars``)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="star_ratings", db_constraint=False
    )
    year = models.PositiveSmallIntegerField(_("年度"))
    stars = models.PositiveSmallIntegerField(_("星级"))
    points = models.BigIntegerField(_("全年获得积分(0.01)"))
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("星级文明户")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "household", "year"], name="star_rating_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(stars__lte=5), name="star_rating_at_most_five"
            ),
        ]
        indexes = [models.Index(fields=["scheme", "year", "stars"], name="star_rating_year")]


class StarRun(models.Model):
    """A rating of a scheme's year (``stars.stars_compute``): when, by whom, how many of each."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    year = models.PositiveSmallIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, db_constraint=False
    )
    by_stars = models.JSONField(default=dict)
    changed = models.IntegerField(default=0)
    ran_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("评星记录")
        indexes = [models.Index(fields=["scheme", "year"], name="star_run_year")]


class ExpiryNotice(models.Model):
    """Residents were told (from 30 days ahead) that their points expire at ``cutoff``; the
    scheduled run for that cutoff waits until the notice is at least 30 days old."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, db_constraint=False)
    cutoff = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)
    households = models.IntegerField(default=0)
    ran_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("积分到期通知")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "cutoff"], name="expiry_notice_unique")
        ]
