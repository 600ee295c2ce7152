"""The evaluation import services: template, preview (keep a valid upload), commit, one step.

Grid workers and admins import for the villages they hold; rows become submitted claims
(source import, ``origin_ref`` "import:<token>") in one transaction: claims by
``bulk_create`` in batches, their events by one INSERT ... SELECT per kind, one audit row.
With ``approve`` a village admin's file goes straight to notice, after the same limit checks
as ``claim_approve`` run set-based under household and quota locks. Never a query per row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.importing.checking import (
    PREVIEW_ROWS,
    PROGRESS_EVERY,
    Checker,
    PreviewLine,
    Progress,
    Summary,
)
from civicpoints.awards.importing.parsing import Line, parse_table
from civicpoints.awards.importing.sheet import layout, template_workbook
from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus
from civicpoints.awards.services.claims import PROPOSERS
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied
from civicpoints.households.importing.pending import Pending
from civicpoints.households.importing.reading import FileProblem, ImportIssue, read_table
from civicpoints.ledger.amounts import format_points
from civicpoints.rules.models import Rule
from civicpoints.rules.selectors import rules_in_force
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor
from civicpoints.schemes.selectors import schemes_granted

BATCH = 1000
KIND = "claims"
# The claims' history says where they came from, in Chinese whatever the importer's language.
STORED_TEXT = {"imported": "批量导入：%(file)s", "approved": "导入即审核通过"}


@dataclass
class ClaimImportPreview:
    filename: str
    sha256: str = ""
    approve: bool = False
    wide: bool = False
    total_rows: int = 0  # data rows in the sheet
    lines: int = 0  # claims the sheet would make
    errors: list[ImportIssue] = field(default_factory=list)
    rows: list[PreviewLine] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    token: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and self.lines > 0

    @property
    def file_errors(self) -> list[ImportIssue]:
        return [e for e in self.errors if e.row is None]

    @property
    def error_rows(self) -> int:
        return len({e.row for e in self.errors if e.row})

    @property
    def valid_rows(self) -> int:
        return 0 if self.file_errors else self.total_rows - self.error_rows


@dataclass(frozen=True)
class ClaimImportResult:
    token: str
    filename: str
    created: int
    on_notice: int = 0
    awaiting_township: int = 0
    replayed: bool = False


def claim_import_schemes(actor: Actor) -> list[Scheme]:
    """Schemes in which the actor may import claims (a proposer's grant anywhere in them)."""
    return schemes_granted(actor, PROPOSERS)


def _require_importer(actor: Actor, scheme: Scheme) -> None:
    # Row by row, each household's village is then checked against the actor's grants.
    if not any(g.scheme_id == scheme.pk for g in actor.grants_for(PROPOSERS)):
        raise PermissionDenied("claim.import")


def claim_import_template(*, scheme: Scheme, wide: bool = False) -> bytes:
    """The blank sheet (one row per award, or households x rules) with the rules in force."""
    return template_workbook(list(rules_in_force(scheme_id=scheme.pk)), wide=wide)


def _refused(preview: ClaimImportPreview) -> ApplicationError:
    return ApplicationError(
        ErrorCode.IMPORT_INVALID,
        detail={"errors": [str(e) for e in preview.errors], "rows": preview.total_rows},
    )


class _Writer:
    """Claims in batches as the checks pass them; events and the audit row at the end."""

    def __init__(self, *, actor: Actor, scheme: Scheme, approve: bool, now: dt.datetime) -> None:
        self.actor = actor
        self.scheme = scheme
        self.approve = approve
        self.now = now
        self.batch: list[Claim] = []
        self.low: int | None = None
        self.high: int | None = None
        self.created = self.on_notice = self.awaiting_township = 0
        self.notice_ends_at = now + dt.timedelta(days=scheme.notice_days)

    def add(self, claim: Claim) -> None:
        if self.approve:
            claim.village_approved_by_id = self.actor.user_id
            if claim.needs_township:
                claim.status = ClaimStatus.APPROVED
                self.awaiting_township += 1
            else:
                claim.status = ClaimStatus.ON_NOTICE
                claim.notice_ends_at = self.notice_ends_at
                self.on_notice += 1
        self.batch.append(claim)

    def flush(self) -> None:
        if not self.batch:
            return
        Claim.objects.bulk_create(self.batch, batch_size=BATCH)
        pks = [c.pk for c in self.batch if c.pk is not None]
        if pks:
            self.low = min(pks) if self.low is None else min(self.low, min(pks))
            self.high = max(pks) if self.high is None else max(self.high, max(pks))
        self.created += len(self.batch)
        self.batch = []

    def events(self, origin_ref: str, filename: str) -> None:
        """One INSERT ... SELECT per kind of event, over this import's claims."""
        reason = STORED_TEXT["imported"] % {"file": filename}
        self._events(origin_ref, "submit", "", "%s", ClaimStatus.SUBMITTED, reason)
        if self.approve:
            self._events(
                origin_ref, "approve", ClaimStatus.SUBMITTED, None, None, STORED_TEXT["approved"]
            )

    def _events(
        self,
        origin_ref: str,
        action: str,
        from_status: str,
        to_sql: str | None,
        to_status: str | None,
        reason: str,
    ) -> None:
        qn = connection.ops.quote_name
        event, claim = ClaimEvent._meta, Claim._meta

        def column(meta: Any, name: str) -> str:
            return qn(meta.get_field(name).column)

        targets = ", ".join(
            column(event, f)
            for f in (
                "scheme",
                "claim",
                "actor",
                "action",
                "from_status",
                "to_status",
                "reason",
                "created_at",
            )
        )
        to_value = to_sql or column(claim, "status")
        where = [f"{column(claim, 'origin_ref')} = %s", f"{column(claim, 'scheme')} = %s"]
        params: list[Any] = [
            self.actor.user_id,
            action,
            from_status,
            *([to_status] if to_sql else []),
            reason[:500],
            connection.ops.adapt_datetimefield_value(self.now),
            origin_ref,
            self.scheme.pk,
        ]
        if self.low is not None and self.high is not None:
            # The claims just inserted: a primary-key range, not a scan of every claim.
            where.append(f"{qn(claim.pk.column)} BETWEEN %s AND %s")
            params += [self.low, self.high]
        # Only quoted names from the models' _meta go into the text; values are parameters.
        sql = (
            f"INSERT INTO {qn(event.db_table)} ({targets}) "  # noqa: S608
            f"SELECT {column(claim, 'scheme')}, {qn(claim.pk.column)}, %s, %s, %s, {to_value}, "
            f"%s, %s FROM {qn(claim.db_table)} WHERE {' AND '.join(where)} "
            f"ORDER BY {qn(claim.pk.column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _run(
    *,
    actor: Actor,
    scheme: Scheme,
    data: bytes,
    filename: str,
    approve: bool,
    write: bool,
    token: str = "",
    progress: Progress | None = None,
    at: dt.datetime | None = None,
) -> tuple[ClaimImportPreview, ClaimImportResult | None]:
    """Read and check a file; with ``write``, also create its claims (or raise, having
    written nothing)."""
    now = at or timezone.now()
    preview = ClaimImportPreview(
        filename=filename, sha256=hashlib.sha256(data).hexdigest(), approve=approve
    )
    codes = Rule.objects.filter(scheme=scheme).values_list("code", flat=True).distinct()
    try:
        table = read_table(data, layout(list(codes)))
        parsed = parse_table(table)
    except FileProblem as exc:
        preview.errors = [exc.issue]
        if write:
            raise _refused(preview) from None
        return preview, None
    del table
    preview.wide, preview.total_rows, preview.lines = parsed.wide, parsed.rows, len(parsed.lines)
    if progress:
        progress("read", parsed.rows, parsed.rows)
    origin_ref = f"import:{token}"
    result = None
    with transaction.atomic() if write else contextlib.nullcontext():
        checker = Checker(
            actor=actor,
            scheme=scheme,
            lines=parsed.lines,
            now=now,
            approve=approve,
            lock=write and approve,
            origin_ref=origin_ref,
        )
        writer = _Writer(actor=actor, scheme=scheme, approve=approve, now=now)
        clean = not parsed.issues
        tally = _Tally()
        total = len(parsed.lines)
        for n, line in enumerate(parsed.lines, start=1):
            claim = checker.check(line)
            tally.add(line, claim, checker)
            if claim is not None and write and clean and not checker.issues:
                writer.add(claim)
                if len(writer.batch) >= BATCH:
                    writer.flush()
                    if progress:
                        progress("save", writer.created, total)
            if progress and n % PROGRESS_EVERY == 0:
                progress("check", n, total)
        preview.errors = checker.finish(parsed.issues)
        if progress:
            progress("check", total, total)
        preview.rows, preview.summary = tally.done(preview.errors)
        if write:
            if preview.errors:
                raise _refused(preview)  # rolls back every batch written so far
            writer.flush()
            writer.events(origin_ref, filename)
            audit_record(
                actor_id=actor.user_id,
                scheme_id=scheme.pk,
                action=AuditAction.CLAIM_IMPORT,
                detail={
                    "file": filename,
                    "sha256": preview.sha256,
                    "claims": writer.created,
                    "approved": approve,
                    "origin_ref": origin_ref,
                },
            )
            if progress:
                progress("save", writer.created, total)
            result = ClaimImportResult(
                token=token,
                filename=filename,
                created=writer.created,
                on_notice=writer.on_notice,
                awaiting_township=writer.awaiting_township,
            )
    return preview, result


class _Tally:
    """The preview's first rows and its summary by rule."""

    def __init__(self) -> None:
        self.rows: list[PreviewLine] = []
        self.counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        self.households: set[int] = set()
        self.summary = Summary()

    def add(self, line: Line, claim: Claim | None, checker: Checker) -> None:
        rule = checker.rules.get(line.code)
        if len(self.rows) < PREVIEW_ROWS:
            person = checker.by_card.get(line.card) if line.card else None
            person = person or checker.by_digest.get(line.digest)
            home = checker.homes.get(person.household_id) if person else None
            self.rows.append(
                PreviewLine(
                    row=line.row,
                    village=home.village_name if home else line.village,
                    name=line.name,
                    id_number=line.masked_id or line.card,
                    code=line.code,
                    rule_name=rule.name if rule else "",
                    quantity=f"{line.quantity.normalize():f}" if line.quantity else "",
                    occurred_on=f"{line.occurred_on:%Y-%m-%d}" if line.occurred_on else "",
                    points=format_points(claim.points) if claim else "",
                )
            )
        if claim is None or rule is None:
            return
        s = self.summary
        s.claims += 1
        self.households.add(claim.household_id)
        if claim.is_deduction:
            s.deduction_points += claim.points
        else:
            s.award_points += claim.points
        s.needs_township += claim.needs_township
        s.needs_photo += rule.needs_photo
        count = self.counts[(rule.code, rule.name)]
        count[0] += 1
        count[1] += claim.points

    def done(self, errors: list[ImportIssue]) -> tuple[list[PreviewLine], Summary]:
        wrong = {e.row for e in errors}
        rows = [replace(r, has_error=r.row in wrong) for r in self.rows]
        self.summary.households = len(self.households)
        self.summary.by_rule = [
            (code, name, count, format_points(points))
            for (code, name), (count, points) in sorted(self.counts.items())
        ]
        return rows, self.summary


def claim_import_preview(
    *,
    actor: Actor,
    scheme: Scheme,
    file_bytes: bytes,
    filename: str,
    approve: bool = False,
    store: bool = True,
    progress: Progress | None = None,
    at: dt.datetime | None = None,
) -> ClaimImportPreview:
    """Read and check a file; a valid one is kept (``store``) for ``claim_import_commit``."""
    _require_importer(actor, scheme)
    preview, _ = _run(
        actor=actor,
        scheme=scheme,
        data=file_bytes,
        filename=filename,
        approve=approve,
        write=False,
        progress=progress,
        at=at,
    )
    if preview.ok and store:
        meta = {
            "kind": KIND,
            "user_id": actor.user_id,
            "scheme_id": scheme.pk,
            "filename": filename,
            "sha256": preview.sha256,
            "rows": preview.total_rows,
            "approve": approve,
        }
        preview.token = Pending.create(file_bytes, meta).token
    return preview


def claim_import_commit(
    *,
    actor: Actor,
    scheme: Scheme,
    token: str,
    progress: Progress | None = None,
    at: dt.datetime | None = None,
) -> ClaimImportResult:
    """Import a previewed upload, checked again; all or nothing, at most once per token."""
    _require_importer(actor, scheme)
    pending = Pending(token)
    done = pending.done(user_id=actor.user_id, scheme_id=scheme.pk)
    if done is None:
        meta = pending.meta(user_id=actor.user_id, scheme_id=scheme.pk)
        if meta.get("kind") != KIND:
            raise NotFound("import")  # a household upload's token
        if pending.claim():
            return _commit_claimed(actor, scheme, pending, meta, progress, at)
        done = pending.done(user_id=actor.user_id, scheme_id=scheme.pk)
        if done is None:
            raise ApplicationError(
                ErrorCode.IMPORT_IN_PROGRESS, _("这个文件正在导入，请稍候刷新页面查看结果")
            )
    return _result(token, done, replayed=True)


def _result(token: str, done: dict[str, Any], *, replayed: bool = False) -> ClaimImportResult:
    if done.get("kind") != KIND:
        raise NotFound("import")
    return ClaimImportResult(
        token=token,
        filename=done["filename"],
        created=done["created"],
        on_notice=done.get("on_notice", 0),
        awaiting_township=done.get("awaiting_township", 0),
        replayed=replayed,
    )


def _commit_claimed(
    actor: Actor,
    scheme: Scheme,
    pending: Pending,
    meta: dict[str, Any],
    progress: Progress | None,
    at: dt.datetime | None,
) -> ClaimImportResult:
    try:
        data = pending.working.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise NotFound("import")
        _, result = _run(
            actor=actor,
            scheme=scheme,
            data=data,
            filename=meta["filename"],
            approve=bool(meta.get("approve")),
            write=True,
            token=pending.token,
            progress=progress,
            at=at,
        )
        assert result is not None
    except ApplicationError:
        pending.discard()  # the file itself is refused: fix it and upload again
        raise
    except BaseException:
        pending.unclaim()  # not the file's fault (database down ...): it may be confirmed again
        raise
    pending.finish(
        {
            "kind": KIND,
            "user_id": actor.user_id,
            "scheme_id": scheme.pk,
            "filename": result.filename,
            "created": result.created,
            "on_notice": result.on_notice,
            "awaiting_township": result.awaiting_township,
        }
    )
    return result


def claim_import_file(
    *,
    actor: Actor,
    scheme: Scheme,
    file_bytes: bytes,
    filename: str,
    approve: bool = False,
    progress: Progress | None = None,
    at: dt.datetime | None = None,
) -> ClaimImportResult:
    """Check and import in one step (the command line); a bad file raises IMPORT_INVALID."""
    _require_importer(actor, scheme)
    _, result = _run(
        actor=actor,
        scheme=scheme,
        data=file_bytes,
        filename=filename,
        approve=approve,
        write=True,
        token=secrets.token_urlsafe(24),
        progress=progress,
        at=at,
    )
    assert result is not None
    return result


def claim_import_result(*, actor: Actor, token: str) -> ClaimImportResult:
    """The outcome of a committed import, for the person who uploaded it."""
    done = Pending(token).done(user_id=actor.user_id)
    if done is None:
        raise NotFound("import")
    return _result(token, done)
