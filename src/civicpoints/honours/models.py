"""Honours: rankings (published, then frozen when their period closes), and later star
households, titles, votes, certificates and ceremonies (issue 11)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicpoints.reports.models import PeriodKind
from civicpoints.schemes.fields import SchemeOneToOneField, unique_with_scheme


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

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
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
                fields=["period", "household", "member_id", "scheme"], name="closed_standing_unique"
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


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("提名中")
    VOTING = "voting", _("投票")
    PUBLISHED = "published", _("已公布结果")


class ShortlistRule(models.TextChoices):
    RANKING = "ranking", _("按积分排名入围")
    NOMINATION = "nomination", _("由干部或村民提名")


class NomineeSource(models.TextChoices):
    RANKING = "ranking", _("积分排名")
    STAFF = "staff", _("干部提名")
    RESIDENT = "resident", _("村民提名")


class Campaign(models.Model):
    """A 评比 for a title (好媳妇, 最美家庭 ...) in a region: a shortlist per village (top N by
    points earned in a category and period, or nominations), a villagers' vote (民主评议) in a
    window, then the ``quota`` nominees of each village with most votes go on the notice (公示)
    as claims of ``rule``; a posted claim is a confirmed title (honours/campaigns.py)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    region = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("评比范围")
    )
    title = models.CharField(_("称号"), max_length=40)
    rule = models.ForeignKey(
        "rules.Rule", models.PROTECT, related_name="+", verbose_name=_("称号积分细则")
    )
    vote_rule = models.ForeignKey(
        "rules.Rule",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("参与投票积分细则"),
    )
    quota = models.PositiveSmallIntegerField(_("每村名额"))
    shortlist_rule = models.CharField(_("入围方式"), max_length=10, choices=ShortlistRule.choices)
    category = models.CharField(_("排名类别"), max_length=30, blank=True)
    shortlist_size = models.PositiveSmallIntegerField(_("每村入围人数"), default=5)
    period_start = models.DateField(_("评比期间从"))
    period_end = models.DateField(_("评比期间到"))
    vote_starts = models.DateTimeField(_("投票开始"), null=True, blank=True)
    vote_ends = models.DateTimeField(_("投票截止"), null=True, blank=True)
    prize = models.CharField(_("奖品"), max_length=100, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(_("公布时间"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("评比")
        verbose_name_plural = _("评比")
        constraints = [
            models.CheckConstraint(condition=models.Q(quota__gte=1), name="campaign_quota"),
            models.CheckConstraint(
                condition=models.Q(status__in=CampaignStatus.values), name="campaign_status"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Nominee(models.Model):
    """One household (or one member of it) on a campaign's shortlist, in its village."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    campaign = models.ForeignKey(Campaign, models.PROTECT, related_name="nominees")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="+")
    member = models.ForeignKey(
        "households.Member", models.PROTECT, null=True, blank=True, related_name="+"
    )
    village = models.ForeignKey("schemes.Region", models.PROTECT, related_name="+")
    source = models.CharField(max_length=10, choices=NomineeSource.choices)
    reason = models.CharField(_("推荐理由"), max_length=200, blank=True)
    # Points earned in the campaign's category and period when shortlisted (hundredths).
    points = models.BigIntegerField(default=0)
    paper_votes = models.PositiveIntegerField(_("纸质票数"), default=0)
    # Set when the results are published: all votes, the place in the village, the title.
    votes = models.PositiveIntegerField(null=True, blank=True)
    place = models.PositiveSmallIntegerField(null=True, blank=True)
    winner = models.BooleanField(default=False)
    claim = SchemeOneToOneField(
        "awards.Claim", models.PROTECT, null=True, blank=True, related_name="nominee"
    )
    nominated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A resident's recommendation (村民推荐): the household that made it, one per campaign.
    proposed_by_household = models.ForeignKey(
        "households.Household", models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("候选人")
        verbose_name_plural = _("候选人")
        ordering = ["campaign", "village", "pk"]
        constraints = [
            unique_with_scheme("claim"),
            models.UniqueConstraint(
                "campaign",
                "household",
                Coalesce("member", models.Value(0)),
                "scheme",
                name="nominee_once",
            ),
            models.UniqueConstraint(
                fields=["campaign", "proposed_by_household", "scheme"],
                condition=models.Q(proposed_by_household__isnull=False),
                name="nominee_one_proposal_per_household",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "village"], name="nominee_village")]

    @property
    def name(self) -> str:
        """Whom the title is for: the member named, or the household (its head)."""
        return self.member.name if self.member is not None else self.household.head_name

    @property
    def member_name(self) -> str | None:
        return self.member.name if self.member is not None else None

    @property
    def claim_status(self) -> str | None:
        """The status of the title's claim (winners only), which says where the title stands."""
        return self.claim.status if self.claim is not None else None


class Vote(models.Model):
    """One member's vote in a campaign (phone pages; paper ballots are ``paper_votes``).
    The unique constraint is the rule "one vote per member per campaign", also under a race."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    campaign = models.ForeignKey(Campaign, models.PROTECT, related_name="votes")
    nominee = models.ForeignKey(Nominee, models.PROTECT, related_name="phone_votes")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="+")
    member = models.ForeignKey("households.Member", models.PROTECT, related_name="+")
    cast_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("投票")
        verbose_name_plural = _("投票")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "scheme"], name="vote_one_per_member"
            )
        ]
        indexes = [models.Index(fields=["nominee"], name="vote_nominee")]


class Certificate(models.Model):
    """The certificate of a confirmed title: what is printed on it, and the code its QR
    carries to the public check page (``/c/<code>/``)."""

    scheme = models.ForeignKey(
        "schemes.Scheme", models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    nominee = SchemeOneToOneField(Nominee, models.PROTECT, related_name="certificate")
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(_("姓名"), max_length=40)
    title = models.CharField(_("称号"), max_length=40)
    scheme_name = models.CharField(max_length=100)
    village_name = models.CharField(max_length=60)
    issued_on = models.DateField(_("颁发日期"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("荣誉证书")
        verbose_name_plural = _("荣誉证书")
        constraints = [unique_with_scheme("nominee")]


class HonourCeremony(models.Model):
    """A 表彰大会: the winners of some campaigns, their certificates, the running order, and
    the prize list handed to the store's batch redemption (``stores`` ceremony)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    region = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="+", verbose_name=_("范围")
    )
    name = models.CharField(_("大会名称"), max_length=100)
    held_on = models.DateField(_("日期"))
    place = models.CharField(_("地点"), max_length=100, blank=True)
    campaigns = models.ManyToManyField(Campaign, related_name="ceremonies", verbose_name=_("评比"))
    programme = models.TextField(_("议程"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("表彰大会")
        verbose_name_plural = _("表彰大会")
