"""``civicpoints verify``: every ledger invariant and the hash chain; exit 1 on any problem.

``civicpoints verify --head SEQ:HASH`` checks one published chain head instead (the one
printed on a notice board or the public page): exit 0 when it still verifies, 1 when not.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.verify import parse_head, verify, verify_head
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "校验账本：借贷平衡、余额、哈希链"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scheme", type=int, help="只校验这个方案")
        parser.add_argument("--follow", action="store_true", help="先把未入链的记账入链")
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--head",
            metavar="SEQ:HASH",
            help="只核对一个公布过的链头：第 SEQ 条的校验码是 HASH，且第 1 至 SEQ 条重算一致",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["head"] is not None:
            self._head(opts["head"], scheme_id=opts["scheme"], as_json=opts["json"])
            return
        schemes = Scheme.objects.order_by("pk")
        if opts["scheme"]:
            schemes = schemes.filter(pk=opts["scheme"])
        reports = []
        for scheme in schemes:
            if opts["follow"]:
                chain_follow(scheme_id=scheme.pk, sweep=True)
            reports.append((scheme, verify(scheme_id=scheme.pk)))
        if opts["json"]:
            self.stdout.write(json.dumps([r.as_dict() for _, r in reports], ensure_ascii=False))
        else:
            for scheme, r in reports:
                state = _("正常") if r.ok else _("有问题")
                self.stdout.write(
                    _(
                        "%(scheme)s: %(state)s；记账 %(postings)s 笔，已入链 %(chained)s 笔"
                        "（待入链 %(lag)s），链头 seq=%(seq)s hash=%(hash)s"
                    )
                    % {
                        "scheme": scheme.name,
                        "state": state,
                        "postings": r.postings,
                        "chained": r.chained,
                        "lag": r.lag,
                        "seq": r.head_seq,
                        "hash": r.head_hash,
                    }
                )
                if r.first_bad_seq is not None:
                    self.stdout.write(_("  第一个损坏的 seq: %(seq)s") % {"seq": r.first_bad_seq})
                for p in r.problems:
                    self.stdout.write(f"  - [{p.check}] {p.message}")
        if any(not r.ok for _, r in reports):
            raise CommandError(_("账本校验未通过"))

    def _head(self, text: str, *, scheme_id: int | None, as_json: bool) -> None:
        """``--head SEQ:HASH``: exit 0 when the published head still verifies, 1 when not."""
        try:
            seq, digest = parse_head(text)
        except ValueError as exc:
            raise CommandError(f"--head {text!r}: {exc}") from None
        check = verify_head(seq=seq, hash=digest, scheme_id=scheme_id)
        if as_json:
            self.stdout.write(json.dumps(check.as_dict(), ensure_ascii=False))
        else:
            scheme = (
                Scheme.objects.filter(pk=check.scheme_id).first()
                if check.scheme_id is not None
                else None
            )
            when = f"{timezone.localtime(check.at):%Y-%m-%d %H:%M}" if check.at else "-"
            self.stdout.write(
                _("链头 seq=%(seq)s hash=%(hash)s") % {"seq": check.seq, "hash": check.hash}
            )
            if scheme is not None:
                self.stdout.write(
                    _("方案：%(scheme)s（%(id)s），该条入链时间 %(when)s")
                    % {"scheme": scheme.name, "id": scheme.pk, "when": when}
                )
            self.stdout.write(check.message)
        if not check.ok:
            raise CommandError(_("链头核对未通过"))
