"""The import services: preview (read and check, keep a valid upload), commit, one-step file.

Only county, township and village admins import, and only into villages they are granted.
Commit checks the kept file again and creates through ``households_bulk_create`` (set-based,
all or nothing, audited); a second commit of the same token replays the first outcome.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied
from civicpoints.households.importing.checking import ImportRow, Progress, check_rows
from civicpoints.households.importing.pending import Pending
from civicpoints.households.importing.reading import FileProblem, ImportIssue, read_table
from civicpoints.households.services import NewHousehold, households_bulk_create
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, Grant
from civicpoints.schemes.selectors import schemes_granted


@dataclass
class ImportPreview:
    filename: str
    sha256: str = ""
    total_rows: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    rows: list[ImportRow] = field(default_factory=list)  # the first rows, for the preview table
    token: str = ""  # set when a valid upload was kept for the confirm step

    @property
    def ok(self) -> bool:
        return not self.errors and self.total_rows > 0

    @property
    def file_errors(self) -> list[ImportIssue]:
        """Problems of the file as a whole (unreadable, a column missing): no row is usable."""
        return [e for e in self.errors if e.row is None and not e.rows]

    @property
    def error_rows(self) -> int:
        """Rows with at least one problem, those a whole column's problem spoils included."""
        return len({e.row for e in self.errors if e.row} | {r for e in self.errors for r in e.rows})

    @property
    def valid_rows(self) -> int:
        return 0 if self.file_errors else self.total_rows - self.error_rows


@dataclass(frozen=True)
class ImportResult:
    token: str
    filename: str
    created: int
    replayed: bool = False


def _require_importer(actor: Actor, scheme: Scheme) -> None:
    # Row by row, each village is then checked against the actor's grants.
    if not any(g.scheme_id == scheme.pk for g in actor.grants_for(ADMIN_ROLES)):
        raise PermissionDenied("household.import")


def import_schemes(actor: Actor) -> list[Scheme]:
    """Schemes in which the actor may import households (an admin grant anywhere in them)."""
    return schemes_granted(actor, ADMIN_ROLES)


def command_line_actor(scheme: Scheme) -> Actor:
    """Whoever runs the CLI without ``--user`` has the server's shell: the whole scheme."""
    region = scheme.operator_region
    return Actor(
        user_id=None,
        username=_("命令行"),
        grants=(Grant(scheme.pk, region.pk, region.path, Role.COUNTY_ADMIN),),
    )


def _validate(
    *, actor: Actor, scheme: Scheme, data: bytes, filename: str, progress: Progress | None
) -> tuple[ImportPreview, list[NewHousehold]]:
    preview = ImportPreview(filename=filename, sha256=hashlib.sha256(data).hexdigest())
    try:
        table = read_table(data)
    except FileProblem as exc:
        preview.errors = [exc.issue]
        return preview, []
    checked = check_rows(actor=actor, scheme=scheme, table=table, progress=progress)
    preview.total_rows = checked.total
    preview.errors = checked.issues
    preview.rows = checked.rows
    return preview, checked.households


def _refused(preview: ImportPreview) -> ApplicationError:
    return ApplicationError(
        ErrorCode.IMPORT_INVALID,
        detail={"errors": [str(e) for e in preview.errors], "rows": preview.total_rows},
    )


def _create(
    *,
    actor: Actor,
    scheme: Scheme,
    households: list[NewHousehold],
    progress: Progress | None,
    source: dict[str, str],
) -> int:
    def saved(done: int, total: int) -> None:
        if progress:
            progress("save", done, total)

    try:
        ids = households_bulk_create(
            actor_id=actor.user_id,
            scheme=scheme,
            rows=households,
            action=AuditAction.HOUSEHOLD_IMPORT,
            audit_detail=source,
            progress=saved,
        )
    except IntegrityError:
        # The unique index caught an ID number registered between the check and the insert.
        raise ApplicationError(
            ErrorCode.DUPLICATE, _("有身份证号刚刚在系统中登记，请重新上传检查")
        ) from None
    return len(ids)


def household_import_preview(
    *,
    actor: Actor,
    scheme: Scheme,
    file_bytes: bytes,
    filename: str,
    store: bool = True,
    progress: Progress | None = None,
) -> ImportPreview:
    """Read and check a file; a valid one is kept (``store``) for ``household_import_commit``."""
    _require_importer(actor, scheme)
    preview, _households = _validate(
        actor=actor, scheme=scheme, data=file_bytes, filename=filename, progress=progress
    )
    if preview.ok and store:
        meta = {
            "user_id": actor.user_id,
            "scheme_id": scheme.pk,
            "filename": filename,
            "sha256": preview.sha256,
            "rows": preview.total_rows,
        }
        preview.token = Pending.create(file_bytes, meta).token
    return preview


def household_import_commit(
    *, actor: Actor, scheme: Scheme, token: str, progress: Progress | None = None
) -> ImportResult:
    """Import a previewed upload, checked again; all or nothing, at most once per token."""
    _require_importer(actor, scheme)
    pending = Pending(token)
    done = pending.done(user_id=actor.user_id, scheme_id=scheme.pk)
    if done is None:
        meta = pending.meta(user_id=actor.user_id, scheme_id=scheme.pk)
        if meta.get("kind", "households") != "households":
            raise NotFound("import")  # another kind of upload (an evaluation sheet)
        if pending.claim():
            return _commit_claimed(actor, scheme, pending, meta, progress)
        done = pending.done(user_id=actor.user_id, scheme_id=scheme.pk)
        if done is None:
            raise ApplicationError(
                ErrorCode.IMPORT_IN_PROGRESS, _("这个文件正在导入，请稍候刷新页面查看结果")
            )
    return ImportResult(token, done["filename"], done["created"], replayed=True)


def _commit_claimed(
    actor: Actor, scheme: Scheme, pending: Pending, meta: dict[str, Any], progress: Progress | None
) -> ImportResult:
    try:
        data = pending.working.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise NotFound("import")
        preview, households = _validate(
            actor=actor, scheme=scheme, data=data, filename=meta["filename"], progress=progress
        )
        if not preview.ok:
            raise _refused(preview)
        created = _create(
            actor=actor,
            scheme=scheme,
            households=households,
            progress=progress,
            source={"file": meta["filename"], "sha256": meta["sha256"]},
        )
    except ApplicationError:
        pending.discard()  # the file itself is refused: fix it and upload again
        raise
    except BaseException:
        pending.unclaim()  # not the file's fault (database down ...): it may be confirmed again
        raise
    pending.finish(
        {
            "user_id": actor.user_id,
            "scheme_id": scheme.pk,
            "filename": meta["filename"],
            "created": created,
        }
    )
    return ImportResult(pending.token, meta["filename"], created)


def household_import_file(
    *,
    actor: Actor,
    scheme: Scheme,
    file_bytes: bytes,
    filename: str,
    progress: Progress | None = None,
) -> ImportResult:
    """Check and import in one step (the command line); a bad file raises IMPORT_INVALID."""
    _require_importer(actor, scheme)
    preview, households = _validate(
        actor=actor, scheme=scheme, data=file_bytes, filename=filename, progress=progress
    )
    if not preview.ok:
        raise _refused(preview)
    created = _create(
        actor=actor,
        scheme=scheme,
        households=households,
        progress=progress,
        source={"file": filename, "sha256": preview.sha256},
    )
    return ImportResult(token="", filename=filename, created=created)


def household_import_result(*, actor: Actor, token: str) -> ImportResult:
    """The outcome of a committed import, for the person who uploaded it."""
    done = Pending(token).done(user_id=actor.user_id)
    if done is None:
        raise NotFound("import")
    return ImportResult(token, done["filename"], done["created"])
