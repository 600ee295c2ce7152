"""``civicpoints verify``: every ledger invariant and the hash chain; exit 1 on any problem."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.verify import verify
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "校验账本：借贷平衡、余额、哈希链"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scheme", type=int, help="只校验这个方案")
        parser.add_argument("--follow", action="store_true", help="先把未入链的记账入链")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        schemes = Scheme.objects.order_by("pk")
        if opts["scheme"]:
            schemes = schemes.filter(pk=opts["scheme"])
        reports = []
        for scheme in schemes:
            if opts["follow"]:
                chain_follow(scheme_id=scheme.pk)
            reports.append((scheme, verify(scheme_id=scheme.pk)))
        if opts["json"]:
            self.stdout.write(json.dumps([r.as_dict() for _, r in reports], ensure_ascii=False))
        else:
            for scheme, r in reports:
                state = "正常" if r.ok else "有问题"
                self.stdout.write(
                    f"{scheme.name}: {state}；记账 {r.postings} 笔，已入链 {r.chained} 笔"
                    f"（待入链 {r.lag}），链头 seq={r.head_seq} hash={r.head_hash}"
                )
                if r.first_bad_seq is not None:
                    self.stdout.write(f"  第一个损坏的 seq: {r.first_bad_seq}")
                for p in r.problems:
                    self.stdout.write(f"  - [{p.check}] {p.message}")
        if any(not r.ok for _, r in reports):
            raise CommandError("账本校验未通过")
