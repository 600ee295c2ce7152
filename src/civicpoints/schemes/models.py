"""Schemes (the tenants), the region tree, staff users and their role grants.

A ``Region`` is national geography keyed by the 12-digit division code and shared by all
schemes; everything else that belongs to a scheme carries ``scheme_id``. Roles are granted per
region; ``scope.py`` turns grants into query filters. No other module decides who sees what.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A staff member (village cadre, clerk, county officer, auditor)."""

    display_name = models.CharField(_("姓名"), max_length=60, blank=True)
    failed_logins = models.PositiveIntegerField(_("连续登录失败次数"), default=0)
    locked_until = models.DateTimeField(_("锁定至"), null=True, blank=True)
    # When the last login try was counted (failures older than the window are forgotten), and
    # until when that try is being checked: one password check per account at a time.
    login_tried_at = models.DateTimeField(_("最近登录尝试"), null=True, blank=True)
    login_check_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The staff member's own household, if they live in the scheme: the risk rules flag
    # staff approving points for it.
    household = models.ForeignKey(
        "households.Household",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("本人所在户"),
    )

    class Meta:
        verbose_name = _("工作人员")
        verbose_name_plural = _("工作人员")

    def __str__(self) -> str:
        return self.display_name or self.username


class RegionLevel(models.IntegerChoices):
    PROVINCE = 1, _("省")
    CITY = 2, _("市")
    COUNTY = 3, _("县")
    TOWNSHIP = 4, _("乡镇/街道")
    VILLAGE = 5, _("村/社区")


division_code = RegexValidator(r"^\d{12}$", _("行政区划代码应为12位数字"))


class Region(models.Model):
    code = models.CharField(_("区划代码"), max_length=12, unique=True, validators=[division_code])
    name = models.CharField(_("名称"), max_length=60)
    level = models.PositiveSmallIntegerField(_("级别"), choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("上级"),
    )
    # Codes from the root down, each followed by "/": a subtree is a prefix match.
    path = models.CharField(max_length=13 * 6, db_index=True, editable=False)

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class YearEndPolicy(models.TextChoices):
    NONE = "none", _("长期有效")
    YEAR_END = "year_end", _("年底清零")
    AFTER_MONTHS = "after_months", _("N个月后过期")


class NoticeNameDisplay(models.TextChoices):
    """How the public page (/open/) writes a household head's name on the notice list."""

    FULL = "full", _("全名（张三明）")
    MASKED = "masked", _("隐去名字（张*明、王*）")
    SURNAME = "surname", _("只写姓（张某）")


class Scheme(models.Model):
    """One operator (a county or a community) with its own rules, rate, budget and shops."""

    name = models.CharField(_("方案名称"), max_length=100)
    operator_region = models.ForeignKey(
        Region, models.PROTECT, related_name="schemes", verbose_name=_("运营区域")
    )
    yuan_per_point = models.DecimalField(
        _("每积分折合人民币(元)"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.0001"))],
    )
    notice_days = models.PositiveSmallIntegerField(_("公示天数"), default=3)
    year_end_policy = models.CharField(
        _("年终政策"), max_length=20, choices=YearEndPolicy.choices, default=YearEndPolicy.NONE
    )
    expiry_months = models.PositiveSmallIntegerField(_("过期月数"), null=True, blank=True)
    refund_days = models.PositiveSmallIntegerField(_("商家可退款天数"), default=7)
    # The offline counter's floor limit (docs/offline-counter.md): what one household may spend
    # at counters cut off from the network, per period; 0 turns offline sales off.
    offline_allowance = models.BigIntegerField(
        _("离线兑换额度(积分×100)"),
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_(
            "每户每个周期在断网柜台最多可兑换的积分（以百分之一分计，10000 即 100 分）；0 为不开放离线兑换"
        ),
    )
    offline_period_days = models.PositiveSmallIntegerField(
        _("离线额度周期(天)"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("离线额度按几天计一次；柜台的离线缓存也在这么多天后失效"),
    )
    # Only the public page (no login) masks names; pages inside the village show them in full.
    notice_name_display = models.CharField(
        _("公开页公示姓名显示"),
        max_length=10,
        choices=NoticeNameDisplay.choices,
        default=NoticeNameDisplay.MASKED,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("积分方案")
        verbose_name_plural = _("积分方案")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(yuan_per_point__gt=0), name="scheme_rate_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(offline_allowance__gte=0, offline_period_days__gte=1),
                name="scheme_offline_allowance_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    COUNTY_ADMIN = "county_admin", _("县级管理员")
    TOWNSHIP_ADMIN = "township_admin", _("乡镇管理员")
    VILLAGE_ADMIN = "village_admin", _("村级管理员")
    GRID_WORKER = "grid_worker", _("网格员")
    STORE_CLERK = "store_clerk", _("超市店员")
    MERCHANT_CLERK = "merchant_clerk", _("商家收银员")
    AUDITOR = "auditor", _("审计员")


class RoleGrant(models.Model):
    """A role for one user in one scheme over one region and everything under it."""

    user = models.ForeignKey(
        User, models.CASCADE, related_name="grants", verbose_name=_("工作人员")
    )
    scheme = models.ForeignKey(
        Scheme, models.CASCADE, related_name="grants", verbose_name=_("方案")
    )
    region = models.ForeignKey(
        Region, models.PROTECT, related_name="grants", verbose_name=_("区域")
    )
    role = models.CharField(_("角色"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scheme", "region", "role"], name="rolegrant_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.region}"


class StaffSession(AbstractBaseSession):
    """A page session (``SESSION_ENGINE``, schemes/session_store.py): Django's session row with
    the signed-in user's id beside its data, so that reading the session also reads the user
    and their grants, in one statement. Not a foreign key: a session outlives nothing (Django
    checks the user on every request) and a user's deletion need not touch sessions."""

    user_id = models.BigIntegerField(null=True, db_index=True)

    class Meta:
        verbose_name = _("登录会话")
        verbose_name_plural = _("登录会话")

    @classmethod
    def get_session_store_class(cls) -> type:
        from civicpoints.schemes.session_store import SessionStore

        return SessionStore


class ApiToken(models.Model):
    """A bearer token for the API; only its SHA-256 is stored.

    ``password_mark`` is the user's session auth hash (an HMAC of the password hash) when the
    token was issued: a token stops working the moment the password changes, by any path.
    Revoking a token deletes its row.
    """

    user = models.ForeignKey(
        User, models.CASCADE, related_name="api_tokens", verbose_name=_("工作人员")
    )
    key_hash = models.CharField(max_length=64, unique=True)
    password_mark = models.CharField(max_length=128, default="", editable=False)
    created_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("到期时间"))
    # Written at most once every few minutes per token (a cheap guarded UPDATE).
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")


class UnknownLogin(models.Model):
    """Login tries at a username that has no account, counted and locked exactly as an
    account's tries are (the same four columns as ``User``), so that a locked unknown name
    answers as a locked account does. ``name_hash`` is an HMAC of the name typed (people type
    passwords into the name box); rows no try would still count are deleted as new ones come.
    """

    name_hash = models.CharField(max_length=64, unique=True)
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True)
    login_tried_at = models.DateTimeField(null=True, db_index=True)
    login_check_until = models.DateTimeField(null=True)
