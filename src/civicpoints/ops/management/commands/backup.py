"""``civicpoints backup [-o FILE | --dir DIR]``: one archive of the database, the photos and a
manifest (chain head per scheme, counts, versions, checksums, key fingerprints).

See docs/operations.md, "Backup and restore". Exit 1 when no archive was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicpoints.ops.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "备份：数据库、照片和清单（含每个方案的哈希链头）写成一个归档文件"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("-o", "--output", type=Path, help="归档文件路径（不会覆盖已有文件）")
        parser.add_argument(
            "--dir", type=Path, help="放归档的目录（文件名按时间生成；默认 var/backups）"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            result = backup_create(output=opts["output"], directory=opts["dir"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = result.manifest
        counts = manifest["counts"]
        self.stdout.write(
            _("备份完成：%(path)s（%(mb).1f MB）")
            % {"path": result.path, "mb": result.size / 1_048_576}
        )
        self.stdout.write(
            _(
                "数据库 %(db)s；户 %(households)s，记账 %(postings)s 笔，分录 %(entries)s 条；"
                "照片文件 %(files)s 个"
            )
            % {"db": manifest["versions"]["database"], "files": counts["evidence_files"], **counts}
        )
        for scheme in manifest["schemes"]:
            head = scheme["head"]
            state = _("链头核对通过") if head["verified"] else _("链头核对未通过")
            self.stdout.write(
                _("%(scheme)s（%(id)s）：seq=%(seq)s hash=%(hash)s %(state)s")
                % {
                    "scheme": scheme["name"],
                    "id": scheme["id"],
                    "seq": head["seq"],
                    "hash": head["hash"],
                    "state": state,
                }
            )
            if not head["verified"]:
                self.stderr.write(head.get("problem", ""))
        if counts["photos_missing"]:
            self.stderr.write(
                _("注意：数据库引用的照片中有 %(n)s 个不在照片目录里（备份前就缺失）")
                % {"n": counts["photos_missing"]}
            )
