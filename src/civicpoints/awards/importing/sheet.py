"""The evaluation sheet's columns, the blank template, and writing claims back as a sheet.

Two forms are read: one row per award (``LONG``, the template's columns) and households x
rules (one row per household, one column per rule code holding the quantity); the header says
which. ID and phone columns are written as text ('@') so Excel and WPS keep every digit.
Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from civicpoints.exports import csv_writer, xlsx_write
from civicpoints.households.importing.reading import COLUMNS as HOUSEHOLD_COLUMNS
from civicpoints.households.importing.reading import Layout
from civicpoints.ledger.amounts import format_points
from civicpoints.rules.models import Rule

_ALIASES = {key: aliases for key, _label, aliases in HOUSEHOLD_COLUMNS}

# (key, header, other headers offices use); the first eleven are the template, in order.
COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("township", "乡镇", _ALIASES["township"]),
    ("village", "村", _ALIASES["village"]),
    ("name", "户主姓名", (*_ALIASES["name"], "村民姓名")),
    ("id", "身份证号", _ALIASES["id"]),
    ("phone", "手机号", _ALIASES["phone"]),
    ("rule", "细则编号", ("细则代码", "项目编号", "积分项目编号")),
    ("rule_name", "细则名称", ("细则", "积分项目", "项目名称")),
    ("quantity", "数量", ("次数", "数目")),
    ("date", "发生日期", ("日期", "考评日期", "发生时间")),
    ("note", "说明", ("备注", "事由", "事迹")),
    ("witness", "证明人", ("证明人姓名",)),
    ("card", "卡号", ("积分卡号", "户卡号")),
)
TEMPLATE_KEYS = tuple(key for key, _, _ in COLUMNS[:11])
LABEL = {key: label for key, label, _ in COLUMNS}
# The export adds the household's card code (so the file can be imported again even with
# masked ID numbers) and two columns for reading: points and review status.
EXPORT_HEADERS = (*(LABEL[k] for k in TEMPLATE_KEYS), "卡号", "积分", "状态")
RULE_KEY = "rule:"
# A header that looks like a rule code (V01, E02, D03): reported if no such rule exists.
CODE_SHAPED = re.compile(r"^[A-Z]{1,4}[0-9]{1,4}$")
LEADING_CODE = re.compile(r"^([A-Za-z0-9_-]+)(.*)$")
WIDTHS = {"身份证号": 22, "手机号": 15, "细则名称": 24, "说明": 30, "发生日期": 12, "卡号": 13}
# The template's sheets: claims, and the rules in force (the claims sheet's rule column
# checks against the rules sheet by name, so the names are part of the format).
SHEETS = {"claims": "积分申报", "rules": "细则"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def normal_code(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


def layout(codes: Iterable[str]) -> Layout:
    """The sheet's layout for a scheme whose rule codes are ``codes``.

    A header such as "V01" or "V01 志愿服务（按小时计）" is the wide form's column for rule
    V01; a code-shaped header naming no rule still becomes a column, so the check can say
    that the rule does not exist instead of quietly skipping the quantities under it.
    """
    known = {normal_code(c): c for c in codes}

    def rule_column(header: str) -> str | None:
        found = LEADING_CODE.match(unicodedata.normalize("NFKC", header))
        if found is None:
            return None
        code, rest = normal_code(found.group(1)), found.group(2)
        if rest and (rest[0].isascii() and rest[0] not in "(:"):
            return None
        if code in known or CODE_SHAPED.match(code):
            return RULE_KEY + known.get(code, code)
        return None

    return Layout(COLUMNS, required=("name",), what=gettext_noop("考评表格"), extra=rule_column)


@dataclass(frozen=True)
class RuleInfo:
    code: str
    category: str
    name: str
    unit: str
    points: str
    sign: str
    caps: str
    evidence: str
    review: str


def rule_info(rule: Rule) -> RuleInfo:
    caps = [
        _("%(period)s%(points)s分") % {"period": label, "points": format_points(cap)}
        for label, cap in (
            (_("日"), rule.cap_day),
            (_("月"), rule.cap_month),
            (_("年"), rule.cap_year),
        )
        if cap is not None
    ]
    evidence = [
        label
        for label, needed in (
            (_("照片"), rule.needs_photo),
            (_("说明"), rule.needs_note),
            (_("证明人"), rule.needs_witness),
        )
        if needed
    ]
    review = _("村级")
    if rule.approval_level == "township":
        review = (
            _("村级+乡镇")
            if rule.township_threshold is None
            else _("超过%(points)s分需乡镇复核")
            % {"points": format_points(rule.township_threshold)}
        )
    return RuleInfo(
        code=rule.code,
        category=rule.category,
        name=rule.name,
        unit=rule.get_unit_display(),
        points=format_points(rule.points_per_unit),
        sign=rule.get_sign_display(),
        caps=_("，").join(caps) or _("不限"),
        evidence=_("、").join(evidence) or _("无"),
        review=review,
    )


RULE_SHEET_HEADERS = (
    gettext_lazy("细则编号"),
    gettext_lazy("类别"),
    gettext_lazy("细则名称"),
    gettext_lazy("单位"),
    gettext_lazy("每单位积分"),
    gettext_lazy("加分/扣分"),
    gettext_lazy("每户上限"),
    gettext_lazy("需要"),
    gettext_lazy("审核"),
)
RULE_NAME_COLUMN = 2


def template_workbook(rules: Sequence[Rule], *, wide: bool = False) -> bytes:
    """A blank sheet to fill in, with the scheme's rules in force on a second sheet."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True, "num_format": "@", "bg_color": "#E8F0E8"})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    number = book.add_format({"num_format": "0.##"})
    sheet = book.add_worksheet(SHEETS["claims"])
    keys: tuple[str, ...]
    if wide:
        keys = ("township", "village", "name", "id", "phone", "card", "date", "note", "witness")
        headers = [LABEL[k] for k in keys] + [f"{r.code} {r.name}" for r in rules]
    else:
        keys = TEMPLATE_KEYS
        headers = [LABEL[k] for k in keys]
    for col, header in enumerate(headers):
        key = keys[col] if col < len(keys) else "quantity"
        cell_format = {"date": date, "quantity": number}.get(key, text)
        width = WIDTHS.get(header, 12 if col < len(keys) else max(10, len(header) * 2))
        sheet.set_column(col, col, width, cell_format)
        xlsx_write(sheet, 0, col, header, bold)
    sheet.freeze_panes(1, 0)
    last = 10_000
    if rules and not wide:
        rule_col = keys.index("rule")
        sheet.data_validation(
            1,
            rule_col,
            last,
            rule_col,
            {
                "validate": "list",
                "source": f"={SHEETS['rules']}!$A$2:$A${len(rules) + 1}",
                "error_type": "warning",
                "error_message": _("请填写“%(sheet)s”工作表中的细则编号")
                % {"sheet": SHEETS["rules"]},
            },
        )
    first_quantity = len(keys) if wide else keys.index("quantity")
    last_quantity = len(headers) - 1 if wide else first_quantity
    sheet.data_validation(
        1,
        first_quantity,
        last,
        last_quantity,
        {
            "validate": "decimal",
            "criteria": ">",
            "value": 0,
            "error_type": "warning",
            "error_message": _("数量应为正数"),
        },
    )
    listing = book.add_worksheet(SHEETS["rules"])
    for col, title in enumerate(RULE_SHEET_HEADERS):
        listing.set_column(col, col, 24 if col == RULE_NAME_COLUMN else 12, text)
        xlsx_write(listing, 0, col, str(title), bold)
    for r, rule in enumerate(rules, start=1):
        info = rule_info(rule)
        for col, value in enumerate(
            (
                info.code,
                info.category,
                info.name,
                info.unit,
                info.points,
                info.sign,
                info.caps,
                info.evidence,
                info.review,
            )
        ):
            xlsx_write(listing, r, col, value)
    listing.freeze_panes(1, 0)
    book.close()
    return out.getvalue()


def write_xlsx(rows: Iterable[Sequence[Any]], out: Any) -> int:
    """Claims as the template's columns; IDs and phones as text, quantities and points as
    numbers, dates as dates; no text cell runs as a formula. Returns the rows written."""
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True, "num_format": "@", "bg_color": "#E8F0E8"})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet(SHEETS["claims"])
    for col, header in enumerate(EXPORT_HEADERS):
        sheet.set_column(
            col, col, WIDTHS.get(header, 12), date if header == LABEL["date"] else text
        )
        xlsx_write(sheet, 0, col, header, bold)
    count = 0
    for count, cells in enumerate(rows, start=1):
        for col, value in enumerate(cells):
            if isinstance(value, Decimal):
                xlsx_write(sheet, count, col, value)
            elif isinstance(value, dt.date):
                xlsx_write(sheet, count, col, value, date)
            else:
                xlsx_write(sheet, count, col, value, text)
    book.close()
    return count


def write_csv(rows: Iterable[Sequence[Any]], out: Any) -> int:
    """Claims as CSV for other systems (written by the caller as utf-8-sig); numbers and
    dates as they are, no text cell runs as a formula."""
    writer = csv_writer(out)
    writer.writerow(EXPORT_HEADERS)
    count = 0
    for cells in rows:
        writer.writerow(cells)
        count += 1
    return count
