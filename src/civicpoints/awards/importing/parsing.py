"""Sheet rows to award lines, with every problem of the values themselves (no database).

One row of the long form is one line; one row of the wide form is a line per filled rule
column. Identity is kept as the keyed digest of the ID number (never the number) or the card
code; a column saved as numbers (digits lost) is one file-level message, as for households.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicpoints.awards.importing.sheet import LABEL, RULE_KEY, normal_code
from civicpoints.households import crypto, idcard
from civicpoints.households.importing.checking import SCIENTIFIC, _as_typed, _numbers_lost
from civicpoints.households.importing.reading import FileProblem, ImportIssue, Table, cell_text

MAX_LINES = 100_000
EXCEL_EPOCH = dt.date(1899, 12, 30)
SERIAL_DAYS = range(36_526, 73_051)  # an Excel date number between 2000 and 2099
DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
DATE_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
FORMS_HELP = gettext_lazy(
    "表头应包含：乡镇、村、户主姓名、身份证号、手机号、细则编号、细则名称、数量、发生日期、说明、证明人"
    "（每行一条）；或者每项细则一列、列名为细则编号（如 V01），每行一户"
)


@dataclass(slots=True)
class Line:
    """One award or deduction to be, as read from the sheet."""

    row: int
    digest: str  # of the ID number, "" when none was given (or it was unusable)
    masked_id: str
    card: str
    name: str
    township: str
    village: str
    code: str
    quantity: Decimal | None
    occurred_on: dt.date | None
    note: str
    witness: str
    column: str = ""  # the wide form's rule column, for messages
    ok: bool = True  # False: the values already have a problem (reported)


@dataclass
class Parsed:
    wide: bool
    lines: list[Line]
    issues: list[ImportIssue]
    rows: int  # data rows in the sheet
    id_rows: dict[str, int] = field(default_factory=dict)  # digest -> first row


def _plain(text: str) -> str:
    return re.sub(r"\s+", "", text)


def parse_date(raw: Any, text: str) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # A date cell formatted as a number still holds Excel's day count.
        if float(raw).is_integer() and int(raw) in SERIAL_DAYS:
            return EXCEL_EPOCH + dt.timedelta(days=int(raw))
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    text = text.split("T")[0].split(" ")[0] if re.match(r"^\d{4}-\d\d-\d\d[T ]", text) else text
    found = DATE_TEXT.match(text) or DATE_DIGITS.match(text)
    if found is None:
        return None
    try:
        return dt.date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def parse_quantity(raw: Any, text: str) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))
    text = unicodedata.normalize("NFKC", text).strip().replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class _Reader:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.issues: list[ImportIssue] = []
        self.lost: list[tuple[int, str]] = []  # ID cells saved as numbers
        self.truncated: list[tuple[int, str, str]] = []  # IDs ending in 000 that fail
        self.id_rows: dict[str, int] = {}
        self.row = 0

    def bad(self, column: str, message: str) -> None:
        self.issues.append(ImportIssue(message, self.row, column))

    def identity(self, cells: dict[str, Any]) -> tuple[str, str, str, bool]:
        """(digest, masked ID, card code, usable) of the row's household."""
        card = normal_code(cell_text(cells.get("card")))
        raw = cells.get("id")
        text = _as_typed(cell_text(raw))
        if card and "*" in text:
            return "", text, card, True  # an exported sheet: masked ID, the card identifies
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            self.lost.append((self.row, repr(raw) if isinstance(raw, float) else text))
            return "", "", card, False
        if SCIENTIFIC.match(text):
            self.lost.append((self.row, text))
            return "", "", card, False
        number = idcard.normalize(text)
        if "*" in number:
            self.bad(
                LABEL["id"],
                _("身份证号中间是*号（隐去了数字），请填写完整的身份证号，或者填写卡号"),
            )
            return "", "", card, False
        if not number:
            if card:
                return "", "", card, True
            self.bad(
                LABEL["id"],
                _("身份证号不能为空") if "card" not in cells else _("请填写身份证号或卡号"),
            )
            return "", "", "", False
        problem = idcard.problem(number)
        if problem and len(number) == 18 and number.endswith("000"):
            self.truncated.append((self.row, number, problem))
            return "", "", card, False
        if problem:
            self.bad(LABEL["id"], problem)
            return "", "", card, False
        digest = crypto.digest(number)
        self.id_rows.setdefault(digest, self.row)
        return digest, crypto.mask_id_number(number), card, True

    def date(self, cells: dict[str, Any], default: dt.date | None) -> dt.date | None:
        raw = cells.get("date")
        text = cell_text(raw)
        if not text:
            if default is not None:
                return default
            self.bad(LABEL["date"], _("发生日期不能为空"))
            return None
        found = parse_date(raw, text)
        if found is None:
            self.bad(
                LABEL["date"],
                _("发生日期“%(text)s”无法识别，请写成 2026-11-01 这样的日期") % {"text": text},
            )
        return found

    def quantity(self, raw: Any, column: str, prefix: str = "") -> Decimal | None:
        text = cell_text(raw)
        if not text:
            self.bad(column, _("%(prefix)s数量不能为空") % {"prefix": prefix})
            return None
        value = parse_quantity(raw, text)
        if value is None:
            self.bad(
                column, _("%(prefix)s数量“%(text)s”不是数字") % {"prefix": prefix, "text": text}
            )
        elif value <= 0:
            self.bad(column, _("%(prefix)s数量应为正数") % {"prefix": prefix})
            return None
        return value

    def finish(self) -> list[ImportIssue]:
        if len(self.truncated) >= 2:
            self.lost = sorted(self.lost + [(r, n) for r, n, _ in self.truncated])
        else:
            self.issues.extend(ImportIssue(p, r, LABEL["id"]) for r, _, p in self.truncated)
        head = [_numbers_lost("id", self.lost)] if self.lost else []
        return head + self.issues


def _form(table: Table) -> bool:
    """True for the wide form; a header fitting neither form is a file problem."""
    columns = table.columns
    rule_columns = [k for k in columns if k.startswith(RULE_KEY)]
    at = table.header_row
    if "rule" in columns and rule_columns:
        raise FileProblem(
            _(
                "表头（第%(row)s行）既有“细则编号”列，又有按细则分列的数量列（%(codes)s），请只用一种格式"
            )
            % {"row": at, "codes": _("、").join(k[len(RULE_KEY) :] for k in rule_columns[:3])}
        )
    missing = [] if "id" in columns or "card" in columns else [LABEL["id"]]
    if "rule" in columns:
        missing += [LABEL[k] for k in ("quantity", "date") if k not in columns]
    elif not rule_columns:
        missing += [LABEL["rule"], LABEL["quantity"]]
    if missing:
        raise FileProblem(
            _("缺少必需的列：%(missing)s。%(help)s")
            % {"missing": _("、").join(missing), "help": FORMS_HELP}
        )
    return "rule" not in columns


def parse_table(table: Table, *, default_date: dt.date | None = None) -> Parsed:
    """Lines of a sheet; ``default_date`` fills a wide sheet without a 发生日期 column."""
    wide = _form(table)
    if wide and "date" not in table.columns and default_date is None:
        raise FileProblem(
            _("缺少必需的列：%(missing)s。%(help)s")
            % {"missing": LABEL["date"], "help": FORMS_HELP}
        )
    reader = _Reader(table)
    lines: list[Line] = []
    rule_columns = [k for k in table.columns if k.startswith(RULE_KEY)]
    for row, cells in table.rows:
        reader.row = row
        text = {k: cell_text(v) for k, v in cells.items() if not k.startswith(RULE_KEY)}
        if wide:
            filled = [
                k
                for k in rule_columns
                if cell_text(cells.get(k)) not in ("", "0")
                and parse_quantity(cells.get(k), cell_text(cells.get(k))) != 0
            ]
            if not filled:
                continue  # a household with nothing this month
        else:
            filled = [""]
        before = len(reader.issues) + len(reader.lost) + len(reader.truncated)
        digest, masked, card, usable = reader.identity(cells)
        name = _plain(text.get("name", ""))
        if not name:
            reader.bad(LABEL["name"], _("户主姓名不能为空"))
        occurred_on = reader.date(cells, default_date)
        note, witness = text.get("note", ""), text.get("witness", "")
        if len(note) > 500:
            reader.bad(LABEL["note"], _("说明太长（最多500个字）"))
        if len(witness) > 60:
            reader.bad(LABEL["witness"], _("证明人太长（最多60个字）"))
        row_ok = len(reader.issues) + len(reader.lost) + len(reader.truncated) == before
        for key in filled:
            if wide:
                code = key[len(RULE_KEY) :]
                quantity = reader.quantity(cells.get(key), code, _("「%(code)s」") % {"code": code})
            else:
                code = normal_code(text.get("rule", ""))
                if not code:
                    reader.bad(LABEL["rule"], _("细则编号不能为空"))
                quantity = reader.quantity(cells.get("quantity"), LABEL["quantity"])
            lines.append(
                Line(
                    row=row,
                    digest=digest,
                    masked_id=masked,
                    card=card,
                    name=name,
                    township=_plain(text.get("township", "")),
                    village=_plain(text.get("village", "")),
                    code=code,
                    quantity=quantity,
                    occurred_on=occurred_on,
                    note=note,
                    witness=witness,
                    column=code if wide else "",
                    ok=row_ok and usable and bool(code) and quantity is not None,
                )
            )
            if len(lines) > MAX_LINES:
                raise FileProblem(
                    _("一次最多导入%(limit)s条积分，请分成几个文件分别导入") % {"limit": MAX_LINES}
                )
    if not lines:
        raise FileProblem(_("文件里没有要导入的积分（数量都是空的）"))
    issues = reader.finish()
    return Parsed(wide, lines, issues, len(table.rows), reader.id_rows)
