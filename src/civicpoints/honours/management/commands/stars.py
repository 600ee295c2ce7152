"""``civicpoints stars --year 2025``: rate a year's 星级文明户 (the scheduler does it once a year)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError
from civicpoints.honours.models import StarLevel
from civicpoints.honours.stars import stars_compute
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "评定某一年的星级文明户（该年结束后）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--year", type=int, required=True, help="年度，如 2025")
        parser.add_argument("--scheme", type=int, help="只评这个方案（编号）")

    def handle(self, *args: Any, **opts: Any) -> None:
        schemes = Scheme.objects.filter(
            pk__in=StarLevel.objects.values_list("scheme_id", flat=True)
        ).order_by("pk")
        if opts["scheme"] is not None:
            schemes = schemes.filter(pk=opts["scheme"])
        if not schemes.exists():
            raise CommandError(_("没有设置了星级标准的方案"))
        for scheme in schemes:
            try:
                run = stars_compute(actor_id=None, scheme_id=scheme.pk, year=opts["year"])
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            counts = _("，").join(
                _("%(stars)s星 %(n)s 户") % {"stars": s, "n": n} for s, n in run.by_stars.items()
            )
            self.stdout.write(
                _("%(scheme)s %(year)s年：%(counts)s；变化 %(changed)s 户")
                % {
                    "scheme": scheme.name,
                    "year": run.year,
                    "counts": counts or _("无"),
                    "changed": run.changed,
                }
            )
