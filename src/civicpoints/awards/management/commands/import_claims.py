"""``civicpoints import_claims FILE --scheme ID [--user NAME] [--dry-run] [--approve]``.

A monthly evaluation sheet becomes submitted claims, all or nothing; every problem is printed
in Chinese and the command exits 1. Without ``--user`` it acts for the whole scheme (whoever
runs it has the server shell); ``--approve`` needs ``--user`` (an admin who approves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from django.core.management.base import CommandError
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from civicpoints.awards.importing import claim_import_file, claim_import_preview
from civicpoints.errors import ApplicationError
from civicpoints.households.importing.command import ImportCommand


class Command(ImportCommand):
    stages: ClassVar[dict[str, tuple[str | Promise, str | Promise]]] = {
        "read": (gettext_lazy("已读取"), pgettext_lazy("progress unit", "行")),
        "check": (gettext_lazy("已检查"), pgettext_lazy("progress unit", "条")),
        "save": (gettext_lazy("已写入"), pgettext_lazy("progress unit", "条")),
    }
    help = "从 Excel（.xlsx/.xls/WPS .et）或 CSV 考评表导入积分申报；有任何错误则一条也不导入"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="考评表文件")
        parser.add_argument("--scheme", type=int, required=True, help="积分方案编号")
        parser.add_argument("--user", help="以这个工作人员的身份和管辖范围导入")
        parser.add_argument("--dry-run", action="store_true", help="只检查，不导入")
        parser.add_argument(
            "--approve", action="store_true", help="导入即审核通过（村级），进入公示"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["file"])
        data = self.read_file(path)
        scheme, actor = self.scheme_and_actor(opts)
        if actor is None:
            if opts["approve"]:
                raise CommandError(_("--approve 需要用 --user 指定审核的工作人员"))
            actor = self.whole_scheme(scheme)
        try:
            if opts["dry_run"]:
                preview = claim_import_preview(
                    actor=actor,
                    scheme=scheme,
                    file_bytes=data,
                    filename=path.name,
                    approve=opts["approve"],
                    store=False,
                    progress=self.progress,
                )
                if not preview.ok:
                    self.fail([str(e) for e in preview.errors])
                self.stdout.write(
                    _("检查通过：%(count)s 条积分可以导入（试运行，未导入）")
                    % {"count": preview.lines}
                )
                return
            result = claim_import_file(
                actor=actor,
                scheme=scheme,
                file_bytes=data,
                filename=path.name,
                approve=opts["approve"],
                progress=self.progress,
            )
        except ApplicationError as exc:
            self.refused(exc)
        if opts["approve"]:
            tail = _("%(notice)s 条进入公示，%(township)s 条待乡镇复核") % {
                "notice": result.on_notice,
                "township": result.awaiting_township,
            }
        else:
            tail = _("待审核")
        self.stdout.write(
            _("导入完成：共导入 %(count)s 条积分申报，%(tail)s（%(scheme)s）")
            % {"count": result.created, "tail": tail, "scheme": scheme.name}
        )
