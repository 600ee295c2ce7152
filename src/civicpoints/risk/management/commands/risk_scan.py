"""``civicpoints risk_scan [--scheme ID]``: raise risk flags now (the scheduler runs it hourly)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicpoints.risk.models import FlagStatus, RiskFlag
from civicpoints.risk.services import risk_scan
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "扫描风险规则，生成风险提示（可重复运行，不会重复提示）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scheme", type=int, help="只扫描这个方案（编号）")

    def handle(self, *args: Any, **opts: Any) -> None:
        scheme_id = opts["scheme"]
        if scheme_id is not None and not Scheme.objects.filter(pk=scheme_id).exists():
            raise CommandError(_("没有编号为 %(scheme)s 的方案") % {"scheme": scheme_id})
        began = time.monotonic()
        raised = risk_scan(scheme_id=scheme_id, force=True)
        flags = RiskFlag.objects.filter(status=FlagStatus.OPEN)
        if scheme_id is not None:
            flags = flags.filter(scheme_id=scheme_id)
        self.stdout.write(
            _("新风险提示 %(new)s 条，待核查共 %(open)s 条（用时 %(seconds)s 秒）")
            % {
                "new": raised,
                "open": flags.count(),
                "seconds": f"{time.monotonic() - began:.1f}",
            }
        )
