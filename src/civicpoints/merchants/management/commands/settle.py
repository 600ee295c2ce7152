"""``civicpoints settle --date D``: settle business day D for every merchant (T+1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError
from civicpoints.ledger.amounts import format_points
from civicpoints.merchants.models import Statement
from civicpoints.merchants.settlement import settle, settle_due
from civicpoints.schemes.models import Scheme


class Command(BaseCommand):
    help = "结算某一营业日的商家消费（T+1；可重复运行，不会重复结算）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--date", help="营业日，如 2026-11-27；不填则结算所有已结束但未结算的日子"
        )
        parser.add_argument("--scheme", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["date"]:
            made = settle_due()
            self.stdout.write(_("补结算完成：新结算单 %(count)s 张") % {"count": made})
            return
        try:
            day = dt.date.fromisoformat(opts["date"])
        except ValueError:
            raise CommandError(_("--date 应为日期，如 2026-11-27")) from None
        schemes = Scheme.objects.all()
        if opts["scheme"]:
            schemes = schemes.filter(pk=opts["scheme"])
        for scheme in schemes:
            try:
                result = settle(scheme=scheme, day=day)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            net = sum(s.net for s in Statement.objects.filter(pk__in=result.statements))
            done = _("%(scheme)s %(day)s：新结算单 %(count)s 张，净额 %(net)s 积分") % {
                "scheme": scheme.name,
                "day": f"{day:%Y-%m-%d}",
                "count": len(result.statements),
                "net": format_points(net),
            }
            if result.carried:
                done += _("，%(count)s 家退款多于收款，结转次日") % {"count": len(result.carried)}
            self.stdout.write(done)
        self.stdout.write(_("完成于 %(at)s") % {"at": f"{timezone.localtime():%Y-%m-%d %H:%M}"})
