"""``civicpoints import_households FILE --scheme ID``: import a household sheet, all or nothing.

Prints every problem in Chinese and exits 1 when the file has any; ``--dry-run`` only checks.
Without ``--user`` the import acts for the whole scheme (whoever runs it has the server shell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from civicpoints.errors import ApplicationError
from civicpoints.households.importing import (
    household_import_file,
    household_import_preview,
)
from civicpoints.households.importing.command import ImportCommand


class Command(ImportCommand):
    stages: ClassVar[dict[str, tuple[str | Promise, str | Promise]]] = {
        "check": (gettext_lazy("已检查"), pgettext_lazy("progress unit", "行")),
        "save": (gettext_lazy("已写入"), pgettext_lazy("progress unit", "户")),
    }
    help = "从 Excel（.xlsx/.xls/WPS .et）或 CSV 文件导入农户；有任何错误则一户也不导入"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="农户表格文件")
        parser.add_argument("--scheme", type=int, required=True, help="积分方案编号")
        parser.add_argument("--user", help="以这个工作人员的身份和管辖范围导入")
        parser.add_argument("--dry-run", action="store_true", help="只检查，不导入")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["file"])
        data = self.read_file(path)
        scheme, actor = self.scheme_and_actor(opts)
        actor = actor or self.whole_scheme(scheme)

        try:
            if opts["dry_run"]:
                preview = household_import_preview(
                    actor=actor,
                    scheme=scheme,
                    file_bytes=data,
                    filename=path.name,
                    store=False,
                    progress=self.progress,
                )
                if not preview.ok:
                    self.fail([str(e) for e in preview.errors])
                self.stdout.write(
                    _("检查通过：%(count)s 户可以导入（试运行，未导入）")
                    % {"count": preview.total_rows}
                )
                return
            result = household_import_file(
                actor=actor,
                scheme=scheme,
                file_bytes=data,
                filename=path.name,
                progress=self.progress,
            )
        except ApplicationError as exc:
            self.refused(exc)
        self.stdout.write(
            _("导入完成：共导入 %(count)s 户（%(scheme)s）")
            % {"count": result.created, "scheme": scheme.name}
        )
