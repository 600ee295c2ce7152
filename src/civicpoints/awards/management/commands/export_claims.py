"""``civicpoints export_claims --scheme ID --month 2026-11 [--village CODE] -o FILE``.

Writes the month's claims as the evaluation sheet: .csv (utf-8-sig) by the file's suffix,
else .xlsx. Without ``--user`` it exports for the whole scheme with full ID numbers (whoever
runs it has the server shell); with ``--user`` the user's scope and masking apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicpoints.awards.importing.export import claims_export
from civicpoints.errors import ApplicationError
from civicpoints.households.importing import command_line_actor
from civicpoints.schemes.models import Scheme, User
from civicpoints.schemes.scope import actor_for_user


class Command(BaseCommand):
    help = "导出某月的积分申报（与考评表模板相同的列）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scheme", type=int, required=True, help="积分方案编号")
        parser.add_argument("--month", required=True, help="月份，如 2026-11")
        parser.add_argument("--village", help="村或乡镇的12位区划代码（不填为全方案）")
        parser.add_argument("-o", "--output", required=True, help="输出文件（.xlsx 或 .csv）")
        parser.add_argument("--user", help="以这个工作人员的身份和管辖范围导出")

    def handle(self, *args: Any, **opts: Any) -> None:
        scheme = Scheme.objects.select_related("operator_region").filter(pk=opts["scheme"]).first()
        if scheme is None:
            raise CommandError(_("没有编号为 %(scheme)s 的积分方案") % {"scheme": opts["scheme"]})
        if opts["user"]:
            user = User.objects.filter(username=opts["user"], is_active=True).first()
            if user is None:
                raise CommandError(
                    _("没有名为 %(user)s 的工作人员（或已停用）") % {"user": opts["user"]}
                )
            actor = actor_for_user(user)
        else:
            actor = command_line_actor(scheme)
        path = Path(opts["output"])
        fmt = "csv" if path.suffix.lower() == ".csv" else "xlsx"
        try:
            with path.open("wb") as out:
                result = claims_export(
                    actor=actor,
                    scheme=scheme,
                    month=opts["month"],
                    region_code=opts["village"],
                    fmt=fmt,
                    out=out,
                )
        except ApplicationError as exc:
            path.unlink(missing_ok=True)
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(
                _("无法写入文件 %(path)s：%(error)s") % {"path": path, "error": exc.strerror or exc}
            ) from None
        self.stdout.write(
            _("已导出 %(count)s 条积分申报到 %(path)s") % {"count": result.rows, "path": path}
        )
