"""Consented credit statements (文明积分贷): the county's signing keys, the lenders it registers,
households' consents to share their record with one lender, every use of a consent, and the
signed statements issued under one.

No private key is ever stored here (``SigningKey`` holds the public half only), and a lender's
API key is kept as its SHA-256 alone.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicpoints.schemes.fields import unique_with_scheme


class SigningKey(models.Model):
    """A scheme's Ed25519 statement-signing key, public half only (the private key lives in
    ``STATEMENT_KEY_DIR``, or is derived in development: ``credit/keys.py``). Retired keys stay
    published so old statements still verify; a compromised key verifies nothing."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    kid = models.CharField(_("密钥编号"), max_length=16)
    public_key = models.BinaryField(_("公钥"), max_length=32)
    created_at = models.DateTimeField(_("启用时间"))
    retired_at = models.DateTimeField(_("停用时间"), null=True, blank=True)
    compromised_at = models.DateTimeField(_("泄露时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("报告签名密钥")
        verbose_name_plural = _("报告签名密钥")
        constraints = [
            unique_with_scheme("kid"),
            models.UniqueConstraint(
                fields=["scheme"],
                condition=Q(retired_at__isnull=True),
                name="credit_signingkey_one_active",
            ),
        ]

    def __str__(self) -> str:
        return self.kid


class LenderStatus(models.TextChoices):
    ACTIVE = "active", _("合作中")
    SUSPENDED = "suspended", _("已暂停")


class Lender(models.Model):
    """A bank or credit cooperative the county lets households share their record with.
    ``code`` is its unified social credit code (统一社会信用代码, GB 32100)."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, verbose_name=_("方案"))
    name = models.CharField(_("机构名称"), max_length=100)
    code = models.CharField(_("统一社会信用代码"), max_length=18)
    contact_name = models.CharField(_("联系人"), max_length=40)
    contact_phone = models.CharField(_("联系电话"), max_length=20)
    status = models.CharField(
        _("状态"), max_length=10, choices=LenderStatus.choices, default=LenderStatus.ACTIVE
    )
    created_by = models.ForeignKey(
        "schemes.User", models.PROTECT, null=True, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("合作金融机构")
        verbose_name_plural = _("合作金融机构")
        constraints = [unique_with_scheme("code")]

    def __str__(self) -> str:
        return self.name


class LenderKey(models.Model):
    """A lender's API key: ``l.`` and 43 random characters, shown once; only its SHA-256 is
    kept (looked up before the scheme is known, so unique on its own). ``prefix`` names the key
    on pages and in logs."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, related_name="+")
    lender = models.ForeignKey(Lender, models.PROTECT, related_name="keys")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("密钥前缀"), max_length=12)
    created_by = models.ForeignKey(
        "schemes.User", models.PROTECT, null=True, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(_("注销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    # The key's rate limit (credit/lenders.py): requests in the minute that began at
    # ``window_start``, counted in the database so every worker sees the same count.
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    window_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("金融机构接口密钥")
        verbose_name_plural = _("金融机构接口密钥")

    def __str__(self) -> str:
        return self.prefix


class ConsentChannel(models.TextChoices):
    PHONE = "phone", _("手机上")
    OFFICE = "office", _("村委会")
    SUPERSEDED = "superseded", _("重新授权时替换")


class Consent(models.Model):
    """A household's consent (授权) to let one lender read its record for a period.

    ``ref`` is the 授权码 (80 random bits, Crockford base32) the household hands the lender.
    The base record is always shared; the three ``share_*`` lines are the field-level consent
    to the personal data that leaves only when ticked. ``wording_sha256`` is the hash of the
    exact text the household agreed to. At most one unrevoked consent per household and
    lender: a new grant revokes the old one in the same transaction.
    """

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, related_name="+")
    household = models.ForeignKey(
        "households.Household", models.PROTECT, related_name="credit_consents"
    )
    lender = models.ForeignKey(Lender, models.PROTECT, related_name="consents")
    ref = models.CharField(_("授权码"), max_length=16)
    share_id_number = models.BooleanField(_("含户主身份证号"), default=False)
    share_phone = models.BooleanField(_("含手机号"), default=False)
    share_address = models.BooleanField(_("含家庭住址"), default=False)
    starts_at = models.DateTimeField(_("授权开始"))
    ends_at = models.DateTimeField(_("授权截止"))
    channel = models.CharField(_("授权方式"), max_length=10, choices=ConsentChannel.choices)
    granted_by = models.ForeignKey(
        "schemes.User", models.PROTECT, null=True, related_name="+", db_constraint=False
    )
    wording_version = models.CharField(max_length=20)
    wording_sha256 = models.CharField(max_length=64)
    form_key = models.CharField(max_length=100, blank=True, default="")
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_channel = models.CharField(
        _("撤销方式"), max_length=10, choices=ConsentChannel.choices, blank=True, default=""
    )
    revoked_by = models.ForeignKey(
        "schemes.User", models.PROTECT, null=True, related_name="+", db_constraint=False
    )
    revoke_reason = models.CharField(_("撤销原因"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("信用授权")
        verbose_name_plural = _("信用授权")
        constraints = [
            unique_with_scheme("ref"),
            models.UniqueConstraint(
                fields=["household", "lender", "scheme"],
                condition=Q(revoked_at__isnull=True),
                name="credit_consent_one_live",
            ),
            models.UniqueConstraint(
                fields=["form_key", "scheme"],
                condition=~Q(form_key=""),
                name="credit_consent_form_key",
            ),
        ]

    def __str__(self) -> str:
        return self.ref

    @property
    def fields(self) -> list[str]:
        """The personal-data lines consented to, by name (``id_number``, ``phone``,
        ``address``)."""
        return [
            name
            for name, on in (
                ("id_number", self.share_id_number),
                ("phone", self.share_phone),
                ("address", self.share_address),
            )
            if on
        ]


class Statement(models.Model):
    """A signed statement issued to a lender under a consent (签名积分报告).

    ``payload_encrypted`` holds the whole statement file (``households.crypto.encrypt``: it may
    carry an ID number); the lender downloads exactly those bytes. ``code`` (20 random Crockford
    base32 characters) names it on paper and in the public check page ``/s/<code>/``, looked up
    before its scheme is known, so unique on its own. ``payload_sha256`` is the SHA-256 of the
    signed payload bytes, printed and shown on the check page."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, related_name="+")
    consent = models.ForeignKey(Consent, models.PROTECT, related_name="statements")
    code = models.CharField(_("报告编号"), max_length=20, unique=True)
    payload_encrypted = models.TextField()
    payload_sha256 = models.CharField(max_length=64)
    kid = models.CharField(_("密钥编号"), max_length=16)
    sig = models.CharField(max_length=100)
    issued_at = models.DateTimeField(_("出具时间"))

    class Meta:
        verbose_name = _("签名积分报告")
        verbose_name_plural = _("签名积分报告")
        indexes = [models.Index(fields=["consent", "issued_at"], name="credit_statement_consent")]

    def __str__(self) -> str:
        return self.code


class ConsentUseKind(models.TextChoices):
    GRANTED = "granted", _("授权")
    REVOKED = "revoked", _("撤销授权")
    RECORD_FETCH = "record_fetch", _("查看了积分记录")
    STATEMENT_ISSUE = "statement_issue", _("出具了签名报告")
    STATEMENT_DOWNLOAD = "statement_download", _("下载了签名报告")
    STATEMENT_PRINT = "statement_print", _("打印了签名报告")
    QR_CHECK = "qr_check", _("扫码核验了报告")


class ConsentUse(models.Model):
    """One use of a consent, as the household sees it in its history (信用授权记录): every
    grant, revoke and lender fetch. Written in the same transaction as the use and its audit
    row; holds field names, never their values."""

    scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, related_name="+")
    household = models.ForeignKey("households.Household", models.PROTECT, related_name="+")
    consent = models.ForeignKey(Consent, models.PROTECT, related_name="uses")
    lender = models.ForeignKey(Lender, models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=ConsentUseKind.choices)
    fields = models.JSONField(default=list)
    statement = models.ForeignKey(
        Statement, models.PROTECT, null=True, blank=True, related_name="uses"
    )
    audit_id = models.BigIntegerField(null=True)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("信用授权记录")
        verbose_name_plural = _("信用授权记录")
        indexes = [models.Index(fields=["household", "-at"], name="credit_use_household_at")]
