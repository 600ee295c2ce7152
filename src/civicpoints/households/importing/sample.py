"""A blank household sheet to fill in: our headers, ID and phone columns formatted as text.

Text format is what keeps an 18-digit ID number whole when people type or paste it in Excel.
"""

from __future__ import annotations

import io

import xlsxwriter

from civicpoints.exports import xlsx_write
from civicpoints.households.importing.reading import COLUMNS

EXAMPLE = ("开通镇", "晓光村", "张三", "", "", "开通镇晓光村1组1号", "3", "正常")
WIDTHS = {"身份证号": 22, "手机号": 15, "家庭住址": 28}


def sample_workbook() -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("农户")
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True, "num_format": "@"})
    for col, (_, label, _aliases) in enumerate(COLUMNS):
        sheet.set_column(col, col, WIDTHS.get(label, 12), text)
        xlsx_write(sheet, 0, col, label, bold)
        xlsx_write(sheet, 1, col, EXAMPLE[col])
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()
