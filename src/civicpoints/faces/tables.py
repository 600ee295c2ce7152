"""Every staff table as a file: the list a page shows, all of its rows (not one page), as xlsx
or CSV under a Chinese file name, written through ``civicpoints.exports`` so no cell runs as a
formula.

A list view declares its ``Table`` (the columns as a clerk reads them: names, not codes) beside
the page and, before it pages, answers ``?export=xlsx`` or ``?export=csv`` with
``table_export``; the page includes ``backoffice/_export_links.html``, which offers both and keeps
the list's filters. The file holds exactly the rows the list holds, with its filters and scope.

- **xlsx**: written row by row to a temporary file (constant memory), dates as dates, ID, phone,
  card and account columns formatted as text (an 18-digit ID number stays 18 digits).
- **CSV**: streamed line by line in utf-8 with a byte-order mark (Excel and WPS then read the
  Chinese); a text column's non-empty cells end in a tab, which Excel, WPS and LibreOffice all
  read as "this is text" (else they turn an ID number into 1.10101E+17 and lose its last digits).

Every export is audited (which table, format, row count and filter) before the first row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from civicpoints.audit.export import export_record
from civicpoints.audit.models import AuditAction
from civicpoints.errors import invalid
from civicpoints.exports import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE, csv_lines, xlsx_file
from civicpoints.faces.errors import refusals_return_to
from civicpoints.ledger.amounts import to_points
from civicpoints.schemes.models import Region
from civicpoints.schemes.scope import Actor

FORMATS = ("xlsx", "csv")
XLSX_MAX_ROWS = 200_000  # beyond this Excel is slow to open; CSV streams any size
CHUNK = 1000
# Query parameters that choose a page or a file, not rows: never part of an export's filter.
NOT_FILTERS = frozenset({"export", "page"})


@dataclass(frozen=True)
class Column:
    """One column: its header and how a row gives its cell (a number stays a number)."""

    header: str | Promise
    value: Callable[[Any], Any]
    width: int = 14
    text: bool = False  # ID numbers, phones, card and account numbers: always text


@dataclass(frozen=True)
class Table:
    """A staff list as a file: ``title`` names the file (with the day) and its sheet."""

    title: str | Promise
    columns: Sequence[Column]

    def headers(self) -> list[str]:
        return [str(c.header) for c in self.columns]

    def cells(self, row: Any) -> list[Any]:
        return [c.value(row) for c in self.columns]

    def csv_cells(self, row: Any) -> list[Any]:
        cells = self.cells(row)
        for col, column in enumerate(self.columns):
            if column.text and cells[col] not in (None, ""):
                cells[col] = f"{cells[col]}\t"
        return cells


def points(hundredths: int | None) -> Decimal | None:
    """Hundredths as points, a number in the file (12.5, not "12.5 分")."""
    return None if hundredths is None else to_points(hundredths)


def township_of(village: Any) -> str:
    """The township a village belongs to (its loaded parent), for a list's township column."""
    return village.parent.name if village is not None and village.parent_id else ""


def export_format(request: HttpRequest) -> str | None:
    """``xlsx`` or ``csv`` when the list is asked for as a file, else None (the page)."""
    wanted = request.GET.get("export", "")
    return wanted if wanted in FORMATS else None


def filters_of(request: HttpRequest) -> dict[str, str]:
    """The list's filters as the request gives them (what an export records)."""
    return {
        key: str(value)[:100]
        for key, value in request.GET.items()
        if key not in NOT_FILTERS and value != ""
    }


def filter_detail(filters: dict[str, str]) -> dict[str, Any]:
    """A list's filters as the audit log can put them in words (``audit.describe``): the ids
    of a store, a scheme or a village become names there, a status its label, a search stays
    as typed. Filters it has no words for (a review queue's name) are left out: the table's
    name and row count say what left."""
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if key == "q":
            out["search"] = value
        elif key in ("store", "scheme") and value.isdigit():
            out[key] = int(value)
        elif key in ("village", "region") and value.isdigit():
            code = Region.objects.filter(pk=int(value)).values_list("code", flat=True).first()
            if code:
                out[key] = code
        elif key in ("status", "kind") and value != "all":
            out[key] = value
        elif key == "date":
            out["date"] = value
    return out


def table_export(
    request: HttpRequest,
    actor: Actor,
    table: Table,
    rows: QuerySet[Any] | Sequence[Any],
    *,
    region_id: int | None = None,
) -> HttpResponseBase | None:
    """The file of ``rows`` when the request asks for one (``?export=``), else None.

    ``rows`` is the list's query (read in chunks, its prefetches kept) or a list already made.
    ``region_id`` files the audit event under the region the list is of, when it is one."""
    fmt = export_format(request)
    return (
        None if fmt is None else table_file(request, actor, table, rows, fmt, region_id=region_id)
    )


def table_file(
    request: HttpRequest,
    actor: Actor,
    table: Table,
    rows: QuerySet[Any] | Sequence[Any],
    fmt: str,
    *,
    region_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> HttpResponseBase:
    """``rows`` as a file in ``fmt`` (``table_export`` for when a list made at some cost is
    made only for the file). ``detail`` adds to what the audit event records."""
    count = rows.count() if isinstance(rows, QuerySet) else len(rows)
    if fmt == "xlsx" and count > XLSX_MAX_ROWS:
        back = request.GET.copy()
        back.pop("export", None)
        refusals_return_to(request, f"{request.path}?{back.urlencode()}")
        raise invalid(
            _("共 %(count)s 行，Excel 文件最多导出 %(limit)s 行：请缩小范围，或导出 CSV")
            % {"count": count, "limit": XLSX_MAX_ROWS},
            field="export",
        )
    recorded: dict[str, Any] = {"table": str(table.title), "format": fmt, "rows": count}
    recorded |= filter_detail(filters_of(request)) | (detail or {})
    export_record(actor, AuditAction.TABLE_EXPORT, region_id=region_id, detail=recorded)
    stem = f"{table.title}-{timezone.localdate():%Y%m%d}"
    response: HttpResponseBase
    if fmt == "xlsx":
        out = xlsx_file(
            str(table.title),
            table.headers(),
            (table.cells(row) for row in _each(rows)),
            widths=[c.width for c in table.columns],
            text_columns=[col for col, c in enumerate(table.columns) if c.text],
        )
        response = FileResponse(
            out, as_attachment=True, filename=f"{stem}.xlsx", content_type=XLSX_CONTENT_TYPE
        )
    else:
        lines = csv_lines(_then([table.headers()], (table.csv_cells(r) for r in _each(rows))))
        response = StreamingHttpResponse(lines, content_type=CSV_CONTENT_TYPE)
        response["Content-Disposition"] = content_disposition_header(True, f"{stem}.csv") or ""
    response["Cache-Control"] = "no-store"
    response["X-Rows"] = str(count)
    return response


def _each(rows: QuerySet[Any] | Iterable[Any]) -> Iterator[Any]:
    if isinstance(rows, QuerySet):
        yield from rows.iterator(chunk_size=CHUNK)
    else:
        yield from rows


def _then(*parts: Iterable[Any]) -> Iterator[Any]:
    for part in parts:
        yield from part
