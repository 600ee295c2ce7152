"""``civicpoints restore ARCHIVE [--force] [--check]``: put a backup back, then verify.

Before it touches anything it checks the keys (naming any that differ), the manifest's seal,
every file's checksum and that the database and photo folder are empty (``--force``: replace
them; the old photo folder is kept under another name). ``--check`` only checks the archive.
Afterwards every scheme is verified and its chain head compared with the manifest's; exit 1
on any refusal, difference or verify problem. See docs/operations.md, "Backup and restore".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicpoints.ops.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = "从备份恢复数据库和照片，并校验账本、比对哈希链头"
    requires_system_checks: list[str] = []  # the target may be empty: no tables to check yet

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("archive", type=Path)
        parser.add_argument("--force", action="store_true", help="目标数据库或照片目录不空时也覆盖")
        parser.add_argument(
            "--check", action="store_true", help="只检查备份包（密钥、清单、校验和），不恢复"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            result = backup_restore(
                archive=opts["archive"], force=opts["force"], check_only=opts["check"]
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = result.manifest
        for key in result.signing_missing:
            self.stdout.write(
                _(
                    "注意：方案 %(scheme)s 的信用报告签名密钥 %(kid)s 不在本机（STATEMENT_KEY_DIR）。"
                    "请把原服务器上的 %(kid)s.pem 复制过来；找不到就轮换密钥"
                    "（civicpoints statement rotate --scheme %(scheme)s）。在此之前合作机构取不到签名报告。"
                )
                % key
            )
        if not result.restored:
            self.stdout.write(
                _("备份包完好：%(created)s 的备份，%(db)s，照片 %(files)s 个；密钥一致")
                % {
                    "created": manifest["created_at"],
                    "db": manifest["versions"]["database"],
                    "files": result.files,
                }
            )
            return
        self.stdout.write(
            _("已恢复 %(created)s 的备份：数据库和照片 %(files)s 个")
            % {"created": manifest["created_at"], "files": result.files}
        )
        if result.evidence_set_aside:
            self.stdout.write(
                _("原照片目录已改名保留：%(path)s") % {"path": result.evidence_set_aside}
            )
        for h in result.heads:
            same = _("一致") if h.same else _("不一致")
            state = _("账本校验正常") if h.verify_ok else _("账本校验有问题")
            self.stdout.write(
                _("%(scheme)s（%(id)s）：%(same)s，%(state)s")
                % {"scheme": h.name, "id": h.scheme_id, "same": same, "state": state}
            )
            self.stdout.write(
                _("  备份时链头 seq=%(seq)s hash=%(hash)s")
                % {"seq": h.saved_seq, "hash": h.saved_hash}
            )
            self.stdout.write(
                _("  恢复后链头 seq=%(seq)s hash=%(hash)s") % {"seq": h.seq, "hash": h.hash}
            )
            for problem in h.problems:
                self.stdout.write(f"  - {problem}")
        if result.pending_migrations:
            self.stdout.write(
                _("本程序比备份新：还有 %(n)s 个迁移未执行，请运行 civicpoints migrate")
                % {"n": result.pending_migrations}
            )
        if not result.ok:
            raise CommandError(_("恢复后的账本与备份清单不符或校验未通过"))
