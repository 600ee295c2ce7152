"""``civicpoints import_claims FILE --scheme ID [--user NAME] [--dry-run] [--approve]``.

A monthly evaluation sheet becomes submitted claims, all or nothing; every problem is printed
in Chinese and the command exits 1. Without ``--user`` it acts for the whole scheme (whoever
runs it has the server shell); ``--approve`` needs ``--user`` (an admin who approves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError

from civicpoints.awards.importing import claim_import_file, claim_import_preview
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.importing import MAX_BYTES, command_line_actor
from civicpoints.schemes.models import Scheme, User
from civicpoints.schemes.scope import actor_for_user

STAGE = {"read": ("已读取", "行"), "check": ("已检查", "条"), "save": ("已写入", "条")}


class Command(BaseCommand):
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
        try:
            with path.open("rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"无法打开文件 {path}：{exc.strerror or exc}") from None
        scheme = Scheme.objects.select_related("operator_region").filter(pk=opts["scheme"]).first()
        if scheme is None:
            raise CommandError(f"没有编号为 {opts['scheme']} 的积分方案")
        if opts["user"]:
            user = User.objects.filter(username=opts["user"], is_active=True).first()
            if user is None:
                raise CommandError(f"没有名为 {opts['user']} 的工作人员（或已停用）")
            actor = actor_for_user(user)
        elif opts["approve"]:
            raise CommandError("--approve 需要用 --user 指定审核的工作人员")
        else:
            actor = command_line_actor(scheme)
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
                self.stdout.write(f"检查通过：{preview.lines} 条积分可以导入（试运行，未导入）")
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
            if exc.code == ErrorCode.IMPORT_INVALID:
                self.fail(exc.detail.get("errors", []))
            raise CommandError(exc.message) from None
        if opts["approve"]:
            tail = f"{result.on_notice} 条进入公示，{result.awaiting_township} 条待乡镇复核"
        else:
            tail = "待审核"
        self.stdout.write(f"导入完成：共导入 {result.created} 条积分申报，{tail}（{scheme.name}）")

    def progress(self, stage: str, done: int, total: int) -> None:
        verb, unit = STAGE.get(stage, (stage, ""))
        self.stdout.write(f"  {verb} {done}/{total} {unit}")

    def fail(self, errors: list[str]) -> NoReturn:
        for line in errors:
            self.stderr.write(line)
        raise CommandError(f"文件有 {len(errors)} 处错误，未导入任何数据")
