"""The audit log as a file (CSV streamed row by row, or xlsx written to a temporary file),
through ``civicpoints.exports`` so no cell runs as a formula. Every export is itself audited,
with its filter and row count, before the first row is written."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import xlsxwriter
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.audit.describe import Describer
from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.audit.selectors import AUDIT_READERS, AuditFilter, audit_events, may_read_audit
from civicpoints.audit.services import audit_record
from civicpoints.errors import PermissionDenied, invalid
from civicpoints.exports import csv_lines, xlsx_row, xlsx_write
from civicpoints.schemes.scope import STAFF_ROLES, Actor

HEADERS = (
    gettext_lazy("时间"),
    gettext_lazy("操作人"),
    gettext_lazy("操作"),
    gettext_lazy("对象"),
    gettext_lazy("区域"),
    gettext_lazy("详情"),
    gettext_lazy("记录号"),
)
CHUNK = 1000
XLSX_MAX_ROWS = 200_000  # beyond this, CSV (streamed) is the sensible file


def _headers() -> list[str]:
    return [str(h) for h in HEADERS]


def _rows(actor: Actor, wanted: AuditFilter, before: int) -> Iterator[list[Any]]:
    """The rows written before the export's own (a snapshot as it started)."""
    events = audit_events(actor, wanted).filter(pk__lt=before).select_related("actor", "region")
    chunk: list[AuditEvent] = []
    for event in events.iterator(chunk_size=CHUNK):
        chunk.append(event)
        if len(chunk) == CHUNK:
            yield from _described(chunk)
            chunk = []
    yield from _described(chunk)


def _described(chunk: list[AuditEvent]) -> Iterator[list[Any]]:
    for line in Describer(chunk).lines():
        yield [
            line.when.replace(tzinfo=None),
            line.who,
            line.what,
            line.target,
            line.region,
            line.detail_text,
            line.event.pk,
        ]


def _record(actor: Actor, wanted: AuditFilter, fmt: str, rows: int) -> int:
    return export_record(
        actor,
        AuditAction.AUDIT_EXPORT,
        roles=AUDIT_READERS,
        region_id=wanted.region.pk if wanted.region else None,
        detail={"format": fmt, "rows": rows} | _filters(wanted),
    )


def export_record(
    actor: Actor,
    action: AuditAction,
    *,
    roles: Iterable[str] = STAFF_ROLES,
    region_id: int | None = None,
    detail: dict[str, Any],
) -> int:
    """Record a file leaving the system, before its first row is written; returns the event's
    id. Filed under the region exported, else the reader's own region when they hold one (so
    they see their exports too), in their scheme when they work in one."""
    grants = actor.grants_for(roles)
    schemes = {g.scheme_id for g in grants}
    regions = {g.region_id for g in grants}
    if region_id is None and len(regions) == 1:
        region_id = next(iter(regions))
    with transaction.atomic():
        event_id = audit_record(
            actor_id=actor.user_id,
            scheme_id=next(iter(schemes)) if len(schemes) == 1 else None,
            action=action,
            region_id=region_id,
            detail=detail,
        )
    return event_id


def _filters(wanted: AuditFilter) -> dict[str, Any]:
    """The filter of an export, only what was set."""
    given = {
        "user": wanted.actor_id,
        "action": wanted.action.value if wanted.action else None,
        "region": wanted.region.code if wanted.region else None,
        "since": wanted.since.isoformat() if wanted.since else None,
        "until": wanted.until.isoformat() if wanted.until else None,
    }
    return {key: value for key, value in given.items() if value is not None}


def audit_export_csv(*, actor: Actor, wanted: AuditFilter) -> tuple[int, Iterator[bytes]]:
    """The row count and the file's lines (utf-8 with BOM), to stream as they are made."""
    if not may_read_audit(actor):
        raise PermissionDenied("audit.export")
    count = audit_events(actor, wanted).count()
    before = _record(actor, wanted, "csv", count)
    return count, csv_lines(_chain([_headers()], _rows(actor, wanted, before)))


def audit_export_xlsx(*, actor: Actor, wanted: AuditFilter) -> tuple[int, IO[bytes]]:
    """The row count and an open temporary file holding the workbook (at its start)."""
    if not may_read_audit(actor):
        raise PermissionDenied("audit.export")
    count = audit_events(actor, wanted).count()
    if count > XLSX_MAX_ROWS:
        raise invalid(
            _("记录太多（%(count)s 条），Excel 文件最多导出 %(limit)s 条：请缩小时间范围或导出 CSV")
            % {"count": count, "limit": XLSX_MAX_ROWS},
            field="format",
        )
    before = _record(actor, wanted, "xlsx", count)
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response streams and closes it
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    sheet = book.add_worksheet(_("审计日志"))
    bold = book.add_format({"bold": True, "bg_color": "#E8F0E8"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for col, width in enumerate((19, 18, 16, 28, 12, 60, 10)):
        sheet.set_column(col, col, width)
    xlsx_row(sheet, 0, _headers(), bold)
    for number, row in enumerate(_rows(actor, wanted, before), start=1):
        xlsx_write(sheet, number, 0, row[0], when)
        for col, value in enumerate(row[1:], start=1):
            xlsx_write(sheet, number, col, value)
    sheet.freeze_panes(1, 0)
    book.close()
    out.seek(0)
    return count, out


def _chain(*parts: Any) -> Iterator[Any]:
    for part in parts:
        yield from part
