"""Honours: rankings (published, then frozen when their period closes), and later star
households, titles, votes, certificates and ceremonies (issue 11)."""

from __future__ import annotations

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
            )
        ]
