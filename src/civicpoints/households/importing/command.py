"""What the import commands share (households, evaluation sheets): reading the file, the
scheme and the acting user, progress lines, and printing every refused row."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, NoReturn

from django.core.management.base import BaseCommand, CommandError
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.importing.flow import command_line_actor
from civicpoints.households.importing.reading import MAX_BYTES
from civicpoints.schemes.models import Scheme, User
from civicpoints.schemes.scope import Actor, actor_for_user


class ImportCommand(BaseCommand):
    stages: ClassVar[dict[str, tuple[str | Promise, str | Promise]]] = {}

    def read_file(self, path: Path) -> bytes:
        try:
            with path.open("rb") as f:
                return f.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(
                _("无法打开文件 %(path)s：%(error)s") % {"path": path, "error": exc.strerror or exc}
            ) from None

    def scheme_and_actor(self, opts: dict[str, Any]) -> tuple[Scheme, Actor | None]:
        """The scheme, and the ``--user`` actor (None: act for the whole scheme)."""
        scheme = Scheme.objects.select_related("operator_region").filter(pk=opts["scheme"]).first()
        if scheme is None:
            raise CommandError(_("没有编号为 %(scheme)s 的积分方案") % {"scheme": opts["scheme"]})
        if not opts["user"]:
            return scheme, None
        user = User.objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(
                _("没有名为 %(user)s 的工作人员（或已停用）") % {"user": opts["user"]}
            )
        return scheme, actor_for_user(user)

    def whole_scheme(self, scheme: Scheme) -> Actor:
        return command_line_actor(scheme)

    def progress(self, stage: str, done: int, total: int) -> None:
        verb, unit = self.stages.get(stage, (stage, ""))
        self.stdout.write(f"  {verb} {done}/{total} {unit}")

    def fail(self, errors: list[str]) -> NoReturn:
        for line in errors:
            self.stderr.write(line)
        raise CommandError(_("文件有 %(count)s 处错误，未导入任何数据") % {"count": len(errors)})

    def refused(self, exc: ApplicationError) -> NoReturn:
        if exc.code == ErrorCode.IMPORT_INVALID:
            self.fail(exc.detail.get("errors", []))
        raise CommandError(exc.message) from None
