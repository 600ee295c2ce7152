"""Spreadsheet formulas in exports (issue 9, fix 1): a text cell that starts with = + - @, a tab
or a carriage return comes out with a leading ' in every CSV and xlsx; numbers stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
import xlsxwriter

from civicpoints.awards.importing.export import claims_export
from civicpoints.awards.importing.sheet import template_workbook
from civicpoints.awards.services import claim_submit
from civicpoints.exports import csv_lines, csv_writer, safe_text, xlsx_row
from civicpoints.households.importing.sample import sample_workbook
from civicpoints.merchants.models import Merchant, Statement
from civicpoints.merchants.settlement import payout_csv, payout_rows, payout_xlsx
from civicpoints.rules.models import Rule
from civicpoints.rules.services import rule_change
from tests.factories import make_household
from tests.merchants.conftest import build_till

DANGEROUS = ['=HYPERLINK("http://x","点我")', "+1+1", "-1+1", "@SUM(A1:A9)", "\t=1", "\r=1"]


def test_every_dangerous_first_sign_is_neutralised_and_numbers_are_not() -> None:
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow([*DANGEROUS, -12.5, Decimal("-3.25"), -7, dt.date(2026, 11, 2), "张三", "1-2"])
    row = next(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert row == [
        *("'" + d for d in DANGEROUS),
        "-12.5",
        "-3.25",
        "-7",
        "2026-11-02",
        "张三",
        "1-2",
    ]
    assert b"".join(csv_lines([["=1", -1]])) == "\ufeff'=1,-1\r\n".encode()

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    xlsx_row(book.add_worksheet("s"), 0, [*DANGEROUS, -12.5, Decimal("-3.25"), "张三"])
    book.close()
    cells = next(openpyxl.load_workbook(buffer).active.iter_rows(values_only=True))
    # (openpyxl reads back xlsxwriter's escape of a carriage return as "_x000D_")
    expected = [("'" + d).replace("\r", "_x000D_") for d in DANGEROUS]
    assert list(cells) == [*expected, -12.5, -3.25, "张三"]
    assert [safe_text(t) for t in ("", "a=1", "'=1")] == ["", "a=1", "'=1"]


@pytest.mark.django_db
def test_claims_export_neutralises_names_and_notes_and_keeps_points_numeric(earning) -> None:
    w = earning.world
    today = dt.date.today()
    deduction = earning.rules["D01"]
    names = ['=HYPERLINK("http://x")', "+1+1", "-1+1", "@SUM(A1)"]
    for name in names:
        home = make_household(w.scheme, w.village_a1, name)
        claim_submit(
            actor=earning.village_admin,
            household=home,
            rule_id=deduction.pk,
            quantity=1,
            occurred_on=today,
            note="@SUM(A1:A2)" if name.startswith("+") else name,
        )
    month = f"{today:%Y-%m}"

    out = io.BytesIO()
    claims_export(actor=earning.county_admin, scheme=w.scheme, month=month, fmt="csv", out=out)
    lines = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    header = lines[0]
    name_col, note_col, points_col = header.index("户主姓名"), header.index("说明"), 12
    assert sorted(r[name_col] for r in lines[1:]) == sorted("'" + n for n in names)
    assert all(r[note_col].startswith("'") for r in lines[1:])
    assert {r[points_col] for r in lines[1:]} == {"-20"}  # a deduction: a plain number

    out = io.BytesIO()
    claims_export(actor=earning.county_admin, scheme=w.scheme, month=month, out=out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sorted(r[name_col] for r in rows) == sorted("'" + n for n in names)
    assert all(r[note_col].startswith("'") for r in rows)
    assert {r[points_col] for r in rows} == {-20}
    assert {r[7] for r in rows} == {1}  # the quantity too


@pytest.mark.django_db
def test_the_evaluation_template_neutralises_a_rule_name(earning) -> None:
    rule = earning.rules["V02"]
    rule_change(actor_id=None, rule=rule, name="=1+1 义务劳动")
    rules = list(Rule.objects.filter(scheme=earning.scheme, effective_to__isnull=True))
    book = openpyxl.load_workbook(io.BytesIO(template_workbook(rules)))
    names = [row[2] for row in book["细则"].iter_rows(min_row=2, values_only=True)]
    assert "'=1+1 义务劳动" in names and "=1+1 义务劳动" not in names
    sample = openpyxl.load_workbook(io.BytesIO(sample_workbook())).active
    assert [c.value for c in sample[2]][2] == "张三"


@pytest.mark.django_db
def test_payout_files_neutralise_the_account_name_and_keep_the_amount(world) -> None:
    till = build_till(world)
    Merchant.objects.filter(pk=till.merchant.pk).update(account_name="-2+3", bank_name="@SUM(1)")
    Statement.objects.create(
        scheme=world.scheme,
        merchant=till.merchant,
        business_date=dt.date(2026, 11, 1),
        net=1250,
        amount_fen=1250,
        yuan_per_point=world.scheme.yuan_per_point,
        status="unpaid",
    )
    rows = payout_rows(Statement.objects.all())
    line = list(csv.reader(io.StringIO(payout_csv(rows).decode("utf-8-sig"))))[1]
    assert (line[1], line[3], line[4]) == ("'-2+3", "'@SUM(1)", "12.50")
    sheet = openpyxl.load_workbook(io.BytesIO(payout_xlsx(rows))).active
    assert (sheet["B2"].value, sheet["D2"].value, sheet["E2"].value) == ("'-2+3", "'@SUM(1)", 12.5)
    assert sheet["A2"].value == 1
