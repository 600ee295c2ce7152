"""Payout files for the bank's batch payment: every unpaid statement with something due, as
CSV (utf-8-sig) and .xlsx. Reads statements only; paying them is ``statement_mark_paid``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.db.models import QuerySet

from civicpoints.exports import csv_writer, xlsx_row, xlsx_write
from civicpoints.merchants.models import Statement, StatementStatus
from civicpoints.merchants.services import bank_account_number

# The bank's batch payment file: its columns, sheet and purpose line are the bank's format.
PAYOUT_HEADERS = ["序号", "收款户名", "收款账号", "开户行", "金额(元)", "用途", "参考号"]
PAYOUT_FILE = {"sheet": "付款清单", "purpose": "文明积分结算 %(day)s"}


@dataclass(frozen=True)
class PayoutRow:
    statement: Statement
    account_name: str
    account_number: str
    bank_name: str
    amount: Decimal  # yuan
    purpose: str

    def masked(self) -> str:
        return f"**** {self.account_number[-4:]}"


def payout_rows(statements: QuerySet[Statement]) -> list[PayoutRow]:
    """What the bank pays: every unpaid statement with something due."""
    rows = []
    for s in (
        statements.filter(status=StatementStatus.UNPAID, amount_fen__gt=0)
        .select_related("merchant")
        .order_by("business_date", "merchant_id")
    ):
        m = s.merchant
        rows.append(
            PayoutRow(
                statement=s,
                account_name=m.account_name,
                account_number=bank_account_number(m),
                bank_name=m.bank_name,
                amount=(Decimal(s.amount_fen) / 100).quantize(Decimal("0.01")),
                purpose=PAYOUT_FILE["purpose"] % {"day": f"{s.business_date:%Y-%m-%d}"},
            )
        )
    return rows


def _cells(number: int, row: PayoutRow) -> list[Any]:
    return [
        number,
        row.account_name,
        row.account_number,
        row.bank_name,
        row.amount,
        row.purpose,
        row.statement.reference,
    ]


def payout_csv(rows: list[PayoutRow]) -> bytes:
    """CSV in utf-8-sig (Excel opens it with the Chinese intact); no cell runs as a formula."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(PAYOUT_HEADERS)
    for number, row in enumerate(rows, start=1):
        writer.writerow(_cells(number, row))
    return out.getvalue().encode("utf-8-sig")


def payout_xlsx(rows: list[PayoutRow]) -> bytes:
    """The same rows as .xlsx; account numbers as text so Excel keeps every digit."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(PAYOUT_FILE["sheet"])
    text = book.add_format({"num_format": "@"})
    money = book.add_format({"num_format": "0.00"})
    xlsx_row(sheet, 0, PAYOUT_HEADERS)
    for number, row in enumerate(rows, start=1):
        for col, value in enumerate(_cells(number, row)):
            xlsx_write(sheet, number, col, value, {2: text, 4: money}.get(col))
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, 2, 24, text)
    sheet.set_column(3, 3, 24)
    sheet.set_column(5, 6, 28)
    book.close()
    return buffer.getvalue()
