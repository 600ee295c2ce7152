"""Bytes to rows: .xlsx / .xls / WPS .et through python-calamine, CSV through the csv module.

The format is told from the first bytes (zip or OLE container, else text), never from the
file name. Problems with the file as a whole raise ``FileProblem`` with a plain-Chinese
message; nothing here looks at the database. Which columns a sheet has is a ``Layout``
(households by default; the claims import brings its own). calamine builds a dense grid up to the last used
cell (one stray cell at XFD1048576 in a 5 KB file is an allocation that aborts the process),
so an .xlsx is measured from its XML before calamine may open it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import python_calamine
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
HEADER_SCAN_ROWS = 10  # a title line or two above the header is common
MAX_CELLS = 2_500_000  # rows x columns up to the last used cell: 100,000 x 25, 10,000 x 250
MAX_UNZIPPED = 300 * 1024 * 1024
CHUNK = 1024 * 1024
CELL_REF = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,7})"')
ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
ROW_NUMBER = re.compile(rb'\br="([0-9]{1,7})"')

ZIP_MAGIC = b"PK\x03\x04"  # .xlsx, newer WPS .et (and .ods, which calamine also reads)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (BIFF8), older WPS .et

# (key, the header people see, other headers offices use for the same column)
COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("township", "乡镇", ("乡镇(街道)", "乡镇街道", "乡镇名称", "街道", "镇")),
    ("village", "村", ("村(社区)", "村/社区", "村社区", "村名", "行政村", "社区")),
    ("name", "户主姓名", ("户主", "姓名", "户主名")),
    ("id", "身份证号", ("身份证号码", "户主身份证号", "身份证", "公民身份号码")),
    ("phone", "手机号", ("手机号码", "联系电话", "电话", "手机")),
    ("address", "家庭住址", ("住址", "地址", "家庭地址")),
    ("size", "家庭人口", ("人口", "家庭人口数", "人口数", "家庭人数")),
    ("status", "户状态", ("状态",)),
)
LABEL = {key: label for key, label, _ in COLUMNS}
REQUIRED = ("township", "village", "name", "id")
# How headers are written: full-width brackets and stars, and "(必填)" after a required one.
HEADER_SPELLING = (str.maketrans("（）＊", "()*"), "(必填)")
# How a TRUE / FALSE cell reads in a Chinese sheet.
CELL_YES_NO = ("是", "否")


def _header_key(text: str) -> str:
    fold, required_mark = HEADER_SPELLING
    text = re.sub(r"\s+", "", text).translate(fold)
    return text.strip("*").removesuffix(required_mark).strip("*")


class Layout:
    """The columns of one kind of sheet: (key, the header people see, other headers).

    ``extra`` names columns beyond the fixed ones from their header text (the evaluation
    sheet's one column per rule code), returning a key or None; its keys are labelled by the
    header text itself.
    """

    def __init__(
        self,
        columns: tuple[tuple[str, str, tuple[str, ...]], ...],
        *,
        required: tuple[str, ...],
        what: str,
        extra: Callable[[str], str | None] | None = None,
    ) -> None:
        self.columns = columns
        self.required = required
        self.what = what
        self.extra_column = extra
        self.labels = {key: label for key, label, _ in columns}
        self.headers = {
            _header_key(a): key for key, label, aliases in columns for a in (label, *aliases)
        }

    @property
    def all_headers(self) -> str:
        return _("、").join(self.labels.values())

    def key(self, header: str) -> str | None:
        plain = _header_key(header)
        found = self.headers.get(plain)
        if found is None and self.extra_column is not None and plain:
            found = self.extra_column(plain)
        return found

    def label(self, key: str) -> str:
        return self.labels.get(key) or key.partition(":")[2] or key

    @property
    def unknown_format(self) -> str:
        # Read when raised, so the message follows the request's language.
        return _(
            "无法识别这个文件：请上传Excel（.xlsx、.xls）、WPS表格（.et）或CSV文件，"
            "第一行为表头：%(headers)s"
        ) % {"headers": self.all_headers}


HOUSEHOLDS = Layout(COLUMNS, required=REQUIRED, what=gettext_noop("农户表格"))


@dataclass(frozen=True)
class ImportIssue:
    """One problem: a whole sentence, the spreadsheet row (None: the whole file), the column,
    and for a whole column's problem (IDs saved as numbers) every row it spoils, so the
    preview's count of rows with problems agrees with the sentence."""

    message: str
    row: int | None = None
    column: str = ""
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.row:
            return _("第%(row)d行：%(message)s") % {"row": self.row, "message": self.message}
        return self.message


class FileProblem(Exception):
    """The file as a whole cannot be imported (one message, no row)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.issue = ImportIssue(message)


@dataclass
class Table:
    """Data rows as (spreadsheet row number, raw cell value by column key); blank rows left out.

    ``columns`` maps each recognised column key to its index, in sheet order; ``header_row``
    is the header's spreadsheet row number.
    """

    rows: list[tuple[int, dict[str, Any]]]
    columns: dict[str, int] = field(default_factory=dict)
    header_row: int = 1


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return CELL_YES_NO[0] if value else CELL_YES_NO[1]
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(cell_text(c) == "" for c in cells)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _find_header(grid: list[list[Any]], layout: Layout) -> tuple[int, dict[str, int]] | None:
    """The first of the top rows naming three of our columns (else the one naming most)."""
    best: tuple[int, dict[str, int]] | None = None
    for i, cells in enumerate(grid[:HEADER_SCAN_ROWS]):
        found: dict[str, int] = {}
        for j, cell in enumerate(cells):
            key = layout.key(cell_text(cell))
            if key is None:
                continue
            if key in found:
                raise FileProblem(
                    _(
                        "表头第%(row)d行中“%(column)s”出现了两次"
                        "（%(first)s列和%(second)s列），请删掉一列"
                    )
                    % {
                        "row": i + 1,
                        "column": layout.label(key),
                        "first": _column_letter(found[key]),
                        "second": _column_letter(j),
                    }
                )
            found[key] = j
        if len(found) >= 3:
            return i, found
        if found and (best is None or len(found) > len(best[1])):
            best = (i, found)
    return best


def _too_many_rows() -> FileProblem:
    return FileProblem(_("文件超过%(rows)d行，请分成几个文件分别导入") % {"rows": MAX_ROWS})


def _table(grid: list[list[Any]], *, from_text: bool, layout: Layout) -> Table:
    if all(_is_blank(cells) for cells in grid[: MAX_ROWS + HEADER_SCAN_ROWS]):
        raise FileProblem(_("表格是空的，没有任何内容"))
    header = _find_header(grid, layout)
    if header is None:
        if from_text:
            raise FileProblem(layout.unknown_format)
        header = (0, {})
    at, columns = header
    missing = [layout.label(k) for k in layout.required if k not in columns]
    if missing:
        raise FileProblem(
            _("缺少必需的列：%(missing)s。表头（第%(row)d行）应包含这些列名：%(headers)s")
            % {"missing": _("、").join(missing), "row": at + 1, "headers": layout.all_headers}
        )
    rows: list[tuple[int, dict[str, Any]]] = []
    for i in range(at + 1, len(grid)):
        cells = grid[i]
        if _is_blank(cells):
            continue
        if len(rows) == MAX_ROWS:
            raise _too_many_rows()
        rows.append((i + 1, {k: cells[j] if j < len(cells) else None for k, j in columns.items()}))
    if not rows:
        raise FileProblem(_("文件里只有表头，没有数据行"))
    return Table(rows, dict(sorted(columns.items(), key=lambda kv: kv[1])), at + 1)


def _column_number(letters: bytes) -> int:
    n = 0
    for c in letters:
        n = n * 26 + c - 64
    return n


def _too_large(rows: int, columns: int) -> FileProblem | None:
    if rows > MAX_ROWS + HEADER_SCAN_ROWS:
        return _too_many_rows()
    if rows * columns > MAX_CELLS:
        return FileProblem(
            _(
                "表格的内容区域太大（到第%(rows)d行、第%(column)s列），"
                "请删除表格下方和右侧多余的行、列（或多余的工作表）后再上传"
            )
            % {"rows": rows, "column": _column_letter(columns - 1)}
        )
    return None


def _measure_xlsx(data: bytes) -> None:
    """Refuse an .xlsx whose sheets reach too far, before calamine allocates their grid."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            names = {e.filename for e in entries}
            if "xl/workbook.xml" not in names:
                raise FileProblem(
                    _("这个文件不是Excel表格（.xlsx）。请在Excel或WPS中打开后另存为 .xlsx 再上传")
                )
            if sum(e.file_size for e in entries) > MAX_UNZIPPED:
                raise FileProblem(_("文件解压后太大，请删除多余的工作表或图片后再上传"))
            for entry in entries:
                if entry.filename.startswith("xl/worksheets/") and entry.filename.endswith(".xml"):
                    with archive.open(entry) as xml:
                        rows, columns = _extent(xml)
                    problem = _too_large(rows, columns)
                    if problem:
                        raise problem
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise _unreadable() from None


def _extent(xml: IO[bytes]) -> tuple[int, int]:
    rows = columns = 0
    tail = b""
    while chunk := xml.read(CHUNK):
        text = tail + chunk
        for letters, number in CELL_REF.findall(text):
            columns = max(columns, _column_number(letters))
            rows = max(rows, int(number))
        for attrs in ROW_TAG.findall(text):
            found = ROW_NUMBER.search(attrs)
            if found and not attrs.endswith(b"/"):  # <row r="9" s="1"/> holds no cells
                rows = max(rows, int(found.group(1)))
        tail = text[-64:]
    return rows, max(columns, 1)


def _unreadable() -> FileProblem:
    return FileProblem(
        _(
            "无法读取这个文件：它不是有效的Excel或WPS表格（可能已损坏、设置了打开密码，"
            "或只是改了扩展名）。请在Excel或WPS中打开后另存为 .xlsx 再上传"
        )
    )


def _read_workbook(data: bytes, layout: Layout) -> Table:
    if data.startswith(ZIP_MAGIC):
        _measure_xlsx(data)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = [
            m.name
            for m in book.sheets_metadata
            if m.visible == python_calamine.SheetVisibleEnum.Visible
            and m.typ == python_calamine.SheetTypeEnum.WorkSheet
        ] or list(book.sheet_names)
        first: FileProblem | None = None
        for name in names:
            sheet = book.get_sheet_by_name(name)
            if sheet.end is not None:
                # An .xls is at most 65,536 x 256 cells; its grid exists now, the Python copy not yet.
                problem = _too_large(sheet.end[0] + 1, sheet.end[1] + 1)
                if problem:
                    raise problem
            try:
                return _table(
                    sheet.to_python(skip_empty_area=False), from_text=False, layout=layout
                )
            except FileProblem as exc:
                # An instructions sheet may come first: take the first sheet that fits.
                first = first or exc
        raise first or FileProblem(_("文件里没有工作表"))
    except FileProblem:
        raise
    except Exception:  # calamine on untrusted bytes: any failure means "cannot read this file"
        raise _unreadable() from None


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")  # Excel's "Unicode text" export
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")  # what Excel on a Chinese Windows saves as "CSV"


def _read_text(data: bytes, layout: Layout) -> Table:
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        raise FileProblem(layout.unknown_format) from None
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text):
        raise FileProblem(layout.unknown_format)  # binary: an image, a PDF, a Word file ...
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    grid: list[list[Any]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if len(grid) > MAX_ROWS + HEADER_SCAN_ROWS:
                raise _too_many_rows()
            grid.append(record)
    except csv.Error:
        raise FileProblem(
            _("CSV文件格式有误（引号不成对），请在Excel或WPS中另存后再上传")
        ) from None
    return _table(grid, from_text=True, layout=layout)


def read_table(data: bytes, layout: Layout = HOUSEHOLDS) -> Table:
    """Data rows of the first sheet with the layout's header; raises ``FileProblem``."""
    if not data:
        raise FileProblem(_("文件是空的，请选择填好的%(what)s") % {"what": _(layout.what)})
    if len(data) > MAX_BYTES:
        mb = MAX_BYTES // 1024 // 1024
        raise FileProblem(_("文件超过%(mb)d MB，请分成几个文件分别导入") % {"mb": mb})
    if data.startswith((ZIP_MAGIC, OLE_MAGIC)):
        return _read_workbook(data, layout)
    return _read_text(data, layout)
