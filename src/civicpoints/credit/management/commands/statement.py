"""``civicpoints statement``: verify a signed credit statement; make, rotate or retire keys.

``civicpoints statement verify FILE [--keys keys.json|URL] [--json]`` exits 0 and prints the
statement when it is genuine, 1 naming the first problem otherwise. Without ``--keys`` it reads
the keys this server publishes. ``keygen``, ``rotate`` and ``compromised`` change a scheme's
signing key (audited); docs/credit.md says when.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicpoints.credit import keys as signing_keys
from civicpoints.credit.signing import (
    BAD_SIGNATURE,
    COMPROMISED_KEY,
    MALFORMED,
    UNKNOWN_KEY,
    PublicKey,
    StatementInvalid,
    fingerprint,
    keys_from_jwks,
    statement_verify,
)
from civicpoints.errors import ApplicationError
from civicpoints.schemes.models import Scheme


def reason_text(reason: str) -> str:
    return {
        MALFORMED: _("格式不规范"),
        UNKNOWN_KEY: _("未知密钥"),
        BAD_SIGNATURE: _("签名不符"),
        COMPROMISED_KEY: _("密钥已泄露"),
    }.get(reason, reason)


class Command(BaseCommand):
    help = "核验签名积分报告；生成、轮换、作废报告签名密钥"
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="核验一份报告文件：真实有效退出码 0，否则 1")
        verify.add_argument("file", help="报告文件（.json）；- 表示标准输入")
        verify.add_argument("--keys", help="公钥文件或网址（/open/keys.json），默认读本系统的公钥")
        verify.add_argument("--json", action="store_true", help="以 JSON 输出结果")
        keygen = sub.add_parser("keygen", help="为方案生成第一把签名密钥")
        keygen.add_argument("--scheme", type=int, required=True)
        rotate = sub.add_parser("rotate", help="换新密钥，旧密钥停用但继续公布")
        rotate.add_argument("--scheme", type=int, required=True)
        compromised = sub.add_parser("compromised", help="宣布密钥泄露：它签的报告一律不再有效")
        compromised.add_argument("kid")

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "verify":
            self._verify(opts)
            return
        try:
            if action == "compromised":
                key = signing_keys.signing_key_compromised(kid=opts["kid"])
                self.stdout.write(_("密钥 %(kid)s 已标记为泄露") % {"kid": key.kid})
                return
            scheme = Scheme.objects.filter(pk=opts["scheme"]).first()
            if scheme is None:
                raise CommandError(_("没有这个方案：%(id)s") % {"id": opts["scheme"]})
            make = (
                signing_keys.signing_key_create
                if action == "keygen"
                else signing_keys.signing_key_rotate
            )
            key = make(scheme=scheme)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            _("%(scheme)s 的签名密钥：%(kid)s，公钥指纹 %(fp)s")
            % {"scheme": scheme.name, "kid": key.kid, "fp": fingerprint(bytes(key.public_key))}
        )

    def _verify(self, opts: dict[str, Any]) -> None:
        source = opts["file"]
        try:
            data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(_("读不到文件：%(error)s") % {"error": exc}) from None
        keys = self._keys(opts["keys"])
        try:
            payload = statement_verify(data, keys)
        except StatementInvalid as exc:
            if opts["json"]:
                self.stdout.write(json.dumps({"ok": False, "reason": exc.reason}))
            raise CommandError(
                _("签名无效：%(reason)s") % {"reason": reason_text(exc.reason)}, returncode=1
            ) from None
        if opts["json"]:
            self.stdout.write(json.dumps({"ok": True, "statement": payload}, ensure_ascii=False))
            return
        self.stdout.write(_("签名有效"))
        self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True))

    def _keys(self, where: str | None) -> dict[str, PublicKey]:
        if not where:
            return signing_keys.known_keys()
        try:
            if where.startswith(("https://", "http://")):
                with urllib.request.urlopen(where, timeout=20) as answer:  # noqa: S310
                    text = answer.read()
            else:
                text = Path(where).read_bytes()
            return keys_from_jwks(json.loads(text))
        except (OSError, ValueError) as exc:
            raise CommandError(_("读不到公钥：%(error)s") % {"error": exc}) from None
