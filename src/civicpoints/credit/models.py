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
