"""Every CSV and xlsx the system writes goes through here, so no cell runs as a formula.

A text cell that starts with ``= + - @``, a tab or a carriage return is one Excel, WPS or
LibreOffice may run as a formula (``=HYPERLINK(...)`` in a resident's note, ``+1+1`` as a
name): it gets a leading ``'`` (OWASP's advice on CSV injection). Numbers, dates and times are
written as what they are and are never changed: a negative amount stays a number.
Nothing here knows about the domain; callers decide which cells are text and which numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO, Any

import xlsxwriter
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NUMBERS = (int, float, Decimal)


def safe_text(value: str) -> str:
    """The text as a spreadsheet keeps it: a leading ``'`` before a formula's first sign."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_cell(value: Any) -> Any:
    """One CSV cell: numbers stay numbers, dates ISO, everything else neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return safe_text(str(value))
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, NUMBERS):
        return value
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{local:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return safe_text(str(value))


class SafeCsvWriter:
    """``csv.writer`` whose every row goes through ``csv_cell`` first."""

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(c) for c in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: Any, **options: Any) -> SafeCsvWriter:
    return SafeCsvWriter(out, **options)


class _Line:
    """A file-like object that hands back what one ``writerow`` wrote (for streaming)."""

    def __init__(self) -> None:
        self.value = ""

    def write(self, text: str) -> int:
        self.value = text
        return len(text)


def csv_lines(rows: Iterable[Iterable[Any]], *, bom: bool = True) -> Iterator[bytes]:
    """Rows as CSV lines in utf-8 (with the byte-order mark Excel needs), one at a time:
    the body of a ``StreamingHttpResponse`` for exports too big to hold in memory."""
    line = _Line()
    writer = csv_writer(line)
    if bom:
        yield "\ufeff".encode()
    for row in rows:
        writer.writerow(row)
        yield line.value.encode()


def xlsx_write(sheet: Any, row: int, col: int, value: Any, cell_format: Any = None) -> None:
    """One xlsx cell through xlsxwriter: numbers as numbers, dates as dates (give a date
    format), text always as a string cell (never ``write()``, which turns "=..." into a
    formula) and neutralised. ``None`` and "" leave the cell empty."""
    if value is None or value == "":
        if cell_format is not None:
            sheet.write_blank(row, col, None, cell_format)
        return
    if isinstance(value, bool):
        sheet.write_string(row, col, safe_text(str(value)), cell_format)
    elif isinstance(value, NUMBERS):
        sheet.write_number(row, col, float(value), cell_format)
    elif isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        sheet.write_datetime(row, col, value.replace(tzinfo=None), cell_format)
    elif isinstance(value, dt.date):
        sheet.write_datetime(row, col, value, cell_format)
    else:
        sheet.write_string(row, col, safe_text(str(value)), cell_format)


def xlsx_row(sheet: Any, row: int, values: Iterable[Any], cell_format: Any = None) -> None:
    """A row of cells from column 0 (in place of xlsxwriter's ``write_row``)."""
    for col, value in enumerate(values):
        xlsx_write(sheet, row, col, value, cell_format)


def sheet_name(title: str) -> str:
    """A sheet name Excel accepts: none of ``[]:*?/\\`` and at most 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet1"


def xlsx_file(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    widths: Sequence[int] = (),
    text_columns: Iterable[int] = (),
) -> IO[bytes]:
    """A one-sheet workbook of any size, written row by row (xlsxwriter's constant memory
    mode) to a temporary file, returned open at its start: a staff table's export.

    Dates and times get a date format (else Excel shows a serial number); the columns in
    ``text_columns`` (ID numbers, phones, card and account numbers) are formatted as text, so
    a value typed into them later stays text too."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the caller streams and closes it
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    sheet = book.add_worksheet(sheet_name(title))
    bold = book.add_format({"bold": True, "bg_color": "#E8F0E8"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    text = book.add_format({"num_format": "@"})
    texts = set(text_columns)
    for col in range(len(headers)):
        width = widths[col] if col < len(widths) else 14
        sheet.set_column(col, col, width, text if col in texts else None)
    xlsx_row(sheet, 0, headers, bold)
    for number, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if isinstance(value, dt.datetime):
                xlsx_write(sheet, number, col, value, when)
            elif isinstance(value, dt.date):
                xlsx_write(sheet, number, col, value, day)
            else:
                xlsx_write(sheet, number, col, value, text if col in texts else None)
    sheet.freeze_panes(1, 0)
    book.close()
    out.seek(0)
    return out


def xlsx_table(title: str, headers: Sequence[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """A one-sheet workbook (a header row in bold, frozen) of a table small enough to hold
    in memory: a campaign's results, a page of a ranking, a year's star households."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(sheet_name(title))
    bold = book.add_format({"bold": True, "bg_color": "#E8F0E8"})
    xlsx_row(sheet, 0, headers, bold)
    for number, row in enumerate(rows, start=1):
        xlsx_row(sheet, number, row)
    sheet.set_column(0, len(headers) - 1, 14)
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()
