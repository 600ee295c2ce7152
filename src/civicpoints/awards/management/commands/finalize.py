"""``civicpoints finalize [--at ISO-TIME]``: post every claim whose public notice has ended."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.awards.services import notices_finalize


def _who() -> str:
    """The command and the login that ran it, for the run's audit row."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        login = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return f"civicpoints finalize ({login})"


class Command(BaseCommand):
    help = "公示期满的申报入账（可重复运行，不会重复入账）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--at", help="按这个时间运行（ISO 格式，如 2026-12-01T08:00+08:00）")
        parser.add_argument("--scheme", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        at = timezone.now()
        if opts["at"]:
            try:
                at = dt.datetime.fromisoformat(opts["at"])
            except ValueError:
                raise CommandError(_("--at 应为 ISO 时间，如 2026-12-01T08:00+08:00")) from None
            if timezone.is_naive(at):
                at = timezone.make_aware(at)
            # A time ahead of now would post claims whose notice has not ended (issue 9, item
            # 7); catching up after downtime only ever needs a time in the past.
            if at > timezone.now():
                raise CommandError(_("--at 不能晚于现在：公示未满的申报不能提前入账"))
        result = notices_finalize(at=at, scheme_id=opts["scheme"], by=_who())
        done = _("截至 %(at)s：入账 %(count)s 条申报") % {
            "at": f"{timezone.localtime(at):%Y-%m-%d %H:%M}",
            "count": result.count,
        }
        if result.owed:
            done += _("，其中 %(points)s 分扣分因余额不足记为欠扣") % {
                "points": f"{result.owed / 100:.2f}"
            }
        self.stdout.write(done)
