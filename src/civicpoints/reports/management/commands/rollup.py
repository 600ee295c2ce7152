"""``civicpoints rollup``: check the rollups against the ledger, or rebuild them from it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicpoints.ledger.chain import chain_follow
from civicpoints.reports.rollups import rollups_differences, rollups_rebuild
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "核对或重建积分汇总（按户、日、类别）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild", action="store_true", help="从账本重新计算汇总（替换现有汇总）"
        )
        parser.add_argument("--scheme", type=int, help="只处理这个方案（编号）")

    def handle(self, *args: Any, **opts: Any) -> None:
        schemes = Scheme.objects.order_by("pk")
        if opts["scheme"] is not None:
            schemes = schemes.filter(pk=opts["scheme"])
            if not schemes.exists():
                raise CommandError(_("没有编号为 %(id)s 的方案") % {"id": opts["scheme"]})
        differ = 0
        for scheme in schemes:
            # what is committed is chained and rolled up
            chain_follow(scheme_id=scheme.pk, sweep=True)
            if opts["rebuild"]:
                rows = rollups_rebuild(scheme_id=scheme.pk)
                self.stdout.write(
                    _("%(scheme)s: 已从账本重建汇总 %(rows)s 行")
                    % {"scheme": scheme.name, "rows": rows}
                )
                continue
            found = rollups_differences(scheme_id=scheme.pk)
            differ += len(found)
            if found:
                self.stdout.write(
                    _("%(scheme)s: 汇总与账本不一致 %(count)s 处，例如 %(first)s")
                    % {"scheme": scheme.name, "count": len(found), "first": found[0]}
                )
            else:
                self.stdout.write(_("%(scheme)s: 汇总与账本一致") % {"scheme": scheme.name})
        if differ:
            raise CommandError(_("汇总与账本不一致：运行 civicpoints rollup --rebuild"))
