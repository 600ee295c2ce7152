"""Households (the account holders) and their members.

ID card numbers are stored encrypted (``crypto.py``) with a keyed digest for duplicate checks,
and shown masked; phone numbers are masked in lists. ``search_keys`` holds pinyin initials and
full pinyin for every reading of the head's surname, so 曾 is found by both z and c; it and
the other ``search_*`` columns are kept by the services (``households/search.py``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class HouseholdStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    AWAY = "away", _("外出务工")
    UNABLE = "unable", _("无劳动能力")
    CLOSED = "closed", _("已注销")


class Household(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    village = models.ForeignKey(
        "schemes.Region", models.PROTECT, related_name="households", verbose_name=_("村/社区")
    )
    head_name = models.CharField(_("户主姓名"), max_length=40)
    address = models.CharField(_("家庭住址"), max_length=200, blank=True)
    phone = models.CharField(_("手机号"), max_length=20, blank=True, db_index=True)
    size = models.PositiveSmallIntegerField(_("家庭人口"), default=1)
    status = models.CharField(
        _("状态"), max_length=10, choices=HouseholdStatus.choices, default=HouseholdStatus.ACTIVE
    )
    card_code = models.CharField(_("卡号"), max_length=16)
    pin_hash = models.CharField(_("PIN(哈希)"), max_length=128, blank=True)
    pin_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    pin_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    pin_set_at = models.DateTimeField(_("密码设置时间"), null=True, blank=True, editable=False)
    # The offline counter's check value of the PIN (households/crypto.offline_pin_tag): 8 bits,
    # made only where the plain PIN is at hand; null until then (no offline sale by PIN).
    offline_pin_tag = models.SmallIntegerField(null=True, blank=True, editable=False)
    card_issued_at = models.DateTimeField(_("发卡时间"), null=True, blank=True, editable=False)
    # Raised when the PIN is reset or changed: phone sessions of an older epoch are signed out.
    login_epoch = models.PositiveIntegerField(default=0, editable=False)
    search_keys = models.TextField(blank=True, editable=False)
    # Written with search_keys by the household services (households/search.py): every name
    # and phone number of the household, so a search never joins the members.
    search_names = models.TextField(blank=True, default="", editable=False)
    search_terms = models.TextField(blank=True, default="", editable=False)
    search_phones = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("农户")
        verbose_name_plural = _("农户")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "card_code"], name="household_card_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=HouseholdStatus.values), name="household_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["scheme", "village"]),
            # A search's card code (households/search.py): the unique (scheme, card_code) index
            # needs the scheme, which a search checks only on the rows it finds.
            models.Index(fields=["card_code"], name="household_card_code_idx"),
        ]

    def __str__(self) -> str:
        return self.head_name

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


class Relation(models.TextChoices):
    HEAD = "head", _("户主")
    SPOUSE = "spouse", _("配偶")
    CHILD = "child", _("子女")
    PARENT = "parent", _("父母")
    GRANDCHILD = "grandchild", _("孙子女")
    OTHER = "other", _("其他")


class Member(models.Model):
    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    household = models.ForeignKey(
        Household, models.PROTECT, related_name="members", verbose_name=_("户")
    )
    name = models.CharField(_("姓名"), max_length=40)
    relation = models.CharField(
        _("与户主关系"), max_length=12, choices=Relation.choices, default=Relation.HEAD
    )
    id_number_encrypted = models.TextField(_("身份证号(加密)"), blank=True, editable=False)
    id_number_digest = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    id_number_masked = models.CharField(_("身份证号"), max_length=18, blank=True, editable=False)
    # The year of birth from the ID number, kept apart for the county's figures (elderly-headed
    # households) without decrypting anything; none without an ID number.
    birth_year = models.PositiveSmallIntegerField(
        _("出生年份"), null=True, blank=True, editable=False
    )
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("成员")
        verbose_name_plural = _("成员")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "id_number_digest"],
                condition=~models.Q(id_number_digest=""),
                name="member_id_number_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


def mask_phone(phone: str) -> str:
    if len(phone) == 11:
        return f"{phone[:3]}****{phone[7:]}"
    return phone[:2] + "*" * max(len(phone) - 4, 0) + phone[-2:] if len(phone) > 4 else phone


class ResidentToken(models.Model):
    """A resident's bearer token for the API, from a card + PIN login; only its SHA-256 is kept."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    household = models.ForeignKey(Household, models.CASCADE, related_name="tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("农户登录令牌")
        verbose_name_plural = _("农户登录令牌")


class SmsLogin(models.Model):
    """One row per phone number that asked for a login code (on file or not: the same answer).

    Only keyed digests are kept: of the number (``crypto.digest``) and of the current code.
    Not per scheme: one phone may be on file in households of several schemes.
    """

    phone_digest = models.CharField(max_length=64, unique=True)
    code_hash = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("短信登录")
        verbose_name_plural = _("短信登录")


class Disqualification(models.Model):
    """一票否决: a household may not earn or redeem from ``starts_on`` to ``ends_on``.

    Beside the household because earning (awards) and spending (stores, merchants) both
    check it, and spending never imports earning (docs/architecture.md)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT)
    household = models.ForeignKey(Household, models.PROTECT, related_name="disqualifications")
    reason = models.CharField(_("原因"), max_length=500)
    starts_on = models.DateField(_("开始"))
    ends_on = models.DateField(_("结束"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("一票否决")
        verbose_name_plural = _("一票否决")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="disqualification_range"
            )
        ]
