"""``civicpoints year_end --scheme ID [--run]``: what the scheme's year-end policy would expire
today (the default, nothing written), or expire it (``--run``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError
from civicpoints.honours.year_end import year_end_preview, year_end_run
from civicpoints.ledger.amounts import format_points
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "按方案的年终政策预览或执行积分过期"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scheme", type=int, required=True, help="方案编号")
        parser.add_argument("--run", action="store_true", help="执行（不加只预览，不写入）")

    def handle(self, *args: Any, **opts: Any) -> None:
        scheme = Scheme.objects.filter(pk=opts["scheme"]).first()
        if scheme is None:
            raise CommandError(_("没有编号为 %(id)s 的方案") % {"id": opts["scheme"]})
        preview = year_end_preview(scheme=scheme)
        if preview.cutoff is None:
            raise CommandError(_("这个方案的积分长期有效，不会过期"))
        cutoff = timezone.localtime(preview.cutoff).date().isoformat()
        self.stdout.write(
            _("%(cutoff)s 之前获得、至今未用的积分：%(households)s 户，共 %(points)s 分")
            % {
                "cutoff": cutoff,
                "households": len(preview.due),
                "points": format_points(preview.points),
            }
        )
        if not opts["run"]:
            return
        try:
            households, points = year_end_run(scheme=scheme, actor_id=None)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            _("已过期：%(households)s 户，共 %(points)s 分")
            % {"households": households, "points": format_points(points)}
        )
