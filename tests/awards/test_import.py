"""Monthly evaluation import: template, both sheet forms, every check, all or nothing, export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import python_calamine
import xlsxwriter
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.awards.importing import (
    claim_import_commit,
    claim_import_preview,
    claim_import_template,
)
from civicpoints.awards.importing.export import claims_export
from civicpoints.awards.models import Claim, ClaimEvent, ClaimSource, ClaimStatus
from civicpoints.awards.services import claim_approve, notices_finalize, quota_set
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households import idcard
from civicpoints.households.models import Household
from civicpoints.households.services import NewHousehold, households_bulk_create
from civicpoints.households.standing import household_disqualify
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_staff
from tests.ledger.helpers import assert_ledger_ok

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "excel"
HEADER = ["乡镇", "村", "户主姓名", "身份证号", "手机号", "细则编号", "细则名称", "数量", "发生日期", "说明", "证明人"]  # fmt: skip
TOWNSHIP = {"晓光村": "开通镇", "新华村": "开通镇", "兴盛村": "兴隆山镇"}


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def an_id(n: int) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n)
    return idcard.make(f"220822{born:%Y%m%d}{n % 1000:03d}")


def name(n: int) -> str:
    return f"考评户{n}"


def add_households(earning, village, numbers) -> list[int]:
    return households_bulk_create(
        actor_id=None,
        scheme=earning.scheme,
        rows=[
            NewHousehold(village_id=village.pk, head_name=name(n), id_number=an_id(n))
            for n in numbers
        ],
    )


def yesterday() -> dt.date:
    return timezone.localdate() - dt.timedelta(days=1)


def row(n: int, code: str = "B01", quantity: object = 1, **kw: object) -> list[object]:
    village = str(kw.pop("村", "晓光村"))
    values = {
        "乡镇": TOWNSHIP.get(village, ""),
        "村": village,
        "户主姓名": name(n),
        "身份证号": an_id(n),
        "手机号": "",
        "细则编号": code,
        "细则名称": "",
        "数量": quantity,
        "发生日期": f"{yesterday():%Y-%m-%d}",
        "说明": "",
        "证明人": "",
    }
    values.update(kw)
    return [values[h] for h in HEADER]


def xlsx_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    """As xlsxwriter writes it: strings as text, numbers as numbers, dates as dates."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    for r, cells in enumerate([header, *rows]):
        for c, value in enumerate(cells):
            if value is None or value == "":
                continue
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, value, date)
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write_number(r, c, value)
    book.close()
    return out.getvalue()


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue().encode(encoding)


def preview(earning, data: bytes, actor=None, **kw):
    return claim_import_preview(
        actor=actor or earning.county_admin,
        scheme=earning.scheme,
        file_bytes=data,
        filename=kw.pop("filename", "考评.xlsx"),
        **kw,
    )


def imported(earning, data: bytes, actor=None, **kw):
    p = preview(earning, data, actor, **kw)
    assert p.errors == [], [str(e) for e in p.errors]
    return claim_import_commit(
        actor=actor or earning.county_admin, scheme=earning.scheme, token=p.token
    )


def messages(p) -> list[str]:
    return [str(e) for e in p.errors]


# ---------------------------------------------------------------- 10,000 rows, all or nothing


def big_sheet(bad: dict[int, dict[str, object]]) -> list[list[object]]:
    """2,500 households x 4 rules (bottles, labour, cleaning hours, a deduction)."""
    rows: list[list[object]] = []
    for n in range(1, 2501):
        rows.append(row(n, "B01", n % 40 + 1))
        rows.append(row(n, "V02", 1))
        rows.append(row(n, "E03", 2))
        rows.append(row(n, "D01", 1, 说明="违反村规民约：乱扔秸秆"))
    for index, changes in bad.items():
        for key, value in changes.items():
            rows[index][HEADER.index(key)] = value
    return rows


def count_queries(context: CaptureQueriesContext) -> int:
    return len(context.captured_queries)


@pytest.mark.django_db(transaction=False)
def test_ten_thousand_rows_three_bad_ones_import_nothing_then_the_fixed_file_imports_all(
    earning,
):
    # Given 2,500 households in 晓光村 and a 10,000-row sheet with three bad rows
    add_households(earning, earning.world.village_a1, range(1, 2501))
    tomorrow = f"{timezone.localdate() + dt.timedelta(days=1):%Y-%m-%d}"
    bad = {6: {"细则编号": "X99"}, 4000: {"数量": -2}, 9998: {"发生日期": tomorrow}}
    rows = big_sheet(bad)
    assert len(rows) == 10_000

    # When it is previewed
    p = preview(earning, xlsx_bytes(rows))

    # Then exactly those three rows are named (header is row 1: list index + 2) ...
    assert messages(p) == [
        "第8行：细则编号 X99 不存在",
        "第4002行：数量应为正数",
        "第10000行：发生日期不能晚于今天",
    ]
    assert (p.total_rows, p.error_rows, p.valid_rows, p.token) == (10_000, 3, 9_997, "")
    assert Claim.objects.count() == 0

    # When the fixed file is previewed and committed
    seen: list[tuple[str, int, int]] = []
    fixed = xlsx_bytes(big_sheet({}))
    p = preview(earning, fixed, progress=lambda *a: seen.append(a))
    assert p.errors == [] and p.lines == 10_000
    assert p.summary.claims == 10_000 and p.summary.households == 2_500
    with CaptureQueriesContext(connection) as queries:
        result = claim_import_commit(
            actor=earning.county_admin,
            scheme=earning.scheme,
            token=p.token,
            progress=lambda *a: seen.append(a),
        )

    # Then exactly 10,000 submitted claims exist, each with its submit event, and one audit row
    assert result.created == 10_000
    claims = Claim.objects.filter(scheme=earning.scheme)
    assert claims.count() == 10_000
    assert (
        claims.filter(
            status=ClaimStatus.SUBMITTED, source=ClaimSource.IMPORT, origin_ref=f"import:{p.token}"
        ).count()
        == 10_000
    )
    assert ClaimEvent.objects.filter(action="submit", to_status="submitted").count() == 10_000
    assert AuditEvent.objects.filter(action="claim.import").count() == 1
    assert ("check", 10_000, 10_000) in seen and seen[-1] == ("save", 10_000, 10_000)
    # and the commit's queries do not grow with the rows: lookups are one query per 1,000
    # households, the events one INSERT ... SELECT; only the claim INSERTs are batched (1,000
    # rows each on PostgreSQL; SQLite's 999-parameter limit makes its batches ~40 rows).
    assert count_queries(queries) <= 30 + 5 * math.ceil(2_500 / 1000) + insert_batches(10_000)
    lookups = [q for q in queries.captured_queries if not q["sql"].startswith("INSERT")]
    assert len(lookups) <= 30 + 5 * math.ceil(2_500 / 1000)


def insert_batches(rows: int) -> int:
    fields = [f for f in Claim._meta.concrete_fields if not f.primary_key]
    per_query = min(1000, connection.ops.bulk_batch_size(fields, [Claim()] * rows))
    return math.ceil(rows / per_query) + math.ceil(rows / 1000)


@pytest.mark.django_db
def test_commit_queries_are_the_same_for_100_and_1000_rows_apart_from_insert_batches(earning):
    add_households(earning, earning.world.village_a1, range(1, 1001))
    counts = []
    for size, codes in ((100, ("B01",)), (1000, ("V02",))):
        data = xlsx_bytes([row(n, code) for n in range(1, size + 1) for code in codes])
        p = preview(earning, data)
        with CaptureQueriesContext(connection) as queries:
            claim_import_commit(actor=earning.county_admin, scheme=earning.scheme, token=p.token)
        counts.append(
            [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("INSERT INTO")]
        )
    assert len(counts[0]) == len(counts[1])


# ---------------------------------------------------------------- to the ledger


@pytest.mark.django_db
def test_imported_claims_post_only_after_approval_and_notice(earning):
    # Given three households and a sheet of four awards and a deduction
    add_households(earning, earning.world.village_a1, [1, 2, 3])
    h1, h2, h3 = (Household.objects.get(head_name=name(n)) for n in (1, 2, 3))
    rows = [
        row(1, "B01", 120),
        row(2, "V02", 1),
        row(3, "E03", 2.5),
        row(1, "M01", 1, 说明="捡到钱包交还失主", 证明人="李四"),
    ]
    result = imported(earning, xlsx_bytes(rows), actor=earning.grid_worker)
    assert result.created == 4
    claims = {c.rule.code: c for c in Claim.objects.select_related("rule")}
    assert {k: c.points for k, c in claims.items()} == {
        "B01": 12000,
        "V02": 1000,
        "E03": 2500,
        "M01": 3000,
    }
    assert claims["M01"].witness == "李四" and claims["B01"].proposed_by_id == (
        earning.grid_worker.user_id
    )

    # When the village admin approves three of them and notice ends
    now = timezone.now()
    for code in ("B01", "E03", "M01"):
        claim_approve(actor=earning.village_admin, claim=claims[code], at=now)
    assert notices_finalize(at=now + dt.timedelta(days=2)).count == 0
    finalized = notices_finalize(at=now + dt.timedelta(days=4))

    # Then exactly those three are posted; the unapproved one waits in the review queue
    assert finalized.count == 3
    assert household_balance(household_id=h1.pk).balance == 15000
    assert household_balance(household_id=h2.pk).balance == 0
    assert household_balance(household_id=h3.pk).balance == 2500
    claims["V02"].refresh_from_db()
    assert claims["V02"].status == ClaimStatus.SUBMITTED
    assert_ledger_ok(earning.scheme.pk)


@pytest.mark.django_db
def test_approve_on_commit_puts_claims_on_notice_with_the_same_limits(earning):
    add_households(earning, earning.world.village_a1, [1, 2])
    rows = [row(1, "B01", 10), row(2, "F02", 1, 说明="最美家庭评选")]
    p = preview(earning, xlsx_bytes(rows), actor=earning.village_admin, approve=True)
    assert p.errors == []
    result = claim_import_commit(actor=earning.village_admin, scheme=earning.scheme, token=p.token)

    # F02 (200 points, township review above 150) waits for the township; B01 is on notice
    assert (result.created, result.on_notice, result.awaiting_township) == (2, 1, 1)
    b01 = Claim.objects.get(rule__code="B01")
    f02 = Claim.objects.get(rule__code="F02")
    assert (b01.status, f02.status) == (ClaimStatus.ON_NOTICE, ClaimStatus.APPROVED)
    assert b01.village_approved_by_id == earning.village_admin.user_id
    assert list(b01.events.values_list("action", "from_status", "to_status")) == [
        ("submit", "", "submitted"),
        ("approve", "submitted", "on_notice"),
    ]
    claim_approve(actor=earning.township_admin, claim=f02)
    assert notices_finalize(at=timezone.now() + dt.timedelta(days=4)).count == 2
    assert_ledger_ok(earning.scheme.pk)


@pytest.mark.django_db
def test_approve_on_commit_is_refused_for_photo_rules_and_for_non_admins(earning):
    add_households(earning, earning.world.village_a1, [1])
    data = xlsx_bytes([row(1, "E02", 1)])
    p = preview(earning, data, actor=earning.village_admin, approve=True)
    assert messages(p) == [
        "第2行：「干净人家」需要上传照片，不能导入即审核通过；请不勾选“导入即审核通过”，导入后补传照片再审核"
    ]
    p = preview(earning, xlsx_bytes([row(1, "B01", 1)]), actor=earning.grid_worker, approve=True)
    assert messages(p) == [
        "您不是晓光村的管理员，不能“导入即审核通过”。请不勾选这一项，导入后由村管理员在审核页面审核"
    ]
    # Without approval the photo rule imports fine (the photo is added before review)
    assert preview(earning, data, actor=earning.village_admin).summary.needs_photo == 1


# ---------------------------------------------------------------- the checks


@pytest.mark.django_db
def test_every_row_problem_in_plain_chinese(earning):
    add_households(earning, earning.world.village_a1, [1, 2, 3])
    add_households(earning, earning.world.village_a2, [4])
    old = f"{timezone.localdate() - dt.timedelta(days=400):%Y-%m-%d}"
    rows = [
        row(1, "B01", 5),  # 2: fine
        row(1, "B01", 7),  # 3: the same household, rule and day again
        row(2, "V02", 1, 户主姓名="王五"),  # 4: name does not match
        row(3, "V02", 1.5),  # 5: whole occurrences only
        row(9, "B01", 1),  # 6: nobody with this ID
        row(2, "E03", 5),  # 7: 5 hours x 10 > the 40-point daily cap
        row(3, "D01", 1),  # 8: the deduction needs a note
        row(1, "V01", 1, 发生日期=old),  # 9: too old
        row(4, "B01", 1),  # 10: lives in 新华村, not 晓光村
        row(2, "B01", "三"),  # 11: not a number
        row(2, "V02", 1, 发生日期="下个月"),  # 12: not a date
        row(2, "V02", 1, 身份证号="220822195001030022"),  # 13: bad check digit
        row(2, "", 1),  # 14: no rule code
    ]
    rows[8][HEADER.index("村")] = "晓光村"
    p = preview(earning, xlsx_bytes(rows), actor=earning.county_admin)
    assert messages(p) == [
        "第3行：与第2行重复（同一户、同一细则、同一天）",
        "第4行：姓名“王五”与该身份证号登记的姓名“考评户2”不一致",
        "第5行：该细则按整数计数",
        f"第6行：本方案中没有登记这个身份证号（{an_id(9)[:6]}********{an_id(9)[-4:]}）的农户",
        "第7行：「环境卫生整治」每日上限 40 分，已有 0 分，本次 50 分",
        "第8行：该细则需要填写说明",
        "第9行：发生日期不能早于一年前",
        "第10行：该户登记在开通镇新华村，表中填的是开通镇晓光村",
        "第11行：数量“三”不是数字",
        "第12行：发生日期“下个月”无法识别，请写成 2026-11-01 这样的日期",
        "第13行：身份证校验位错误",
        "第14行：细则编号不能为空",
    ]
    assert Claim.objects.count() == 0


@pytest.mark.django_db
def test_caps_count_the_files_own_rows_and_earlier_claims(earning):
    add_households(earning, earning.world.village_a1, [1])
    day = yesterday()
    # E02 干净人家: 20 points, at most 20 a month
    first = day.replace(day=1)
    rows = [
        row(1, "E02", 1, 发生日期=f"{first:%Y-%m-%d}"),
        row(1, "E02", 1, 发生日期=f"{first + dt.timedelta(days=1):%Y-%m-%d}")
        if first + dt.timedelta(days=1) <= timezone.localdate()
        else row(1, "E02", 1, 发生日期=f"{first - dt.timedelta(days=40):%Y-%m-%d}"),
    ]
    if rows[1][HEADER.index("发生日期")] < f"{first:%Y-%m-%d}":
        pytest.skip("the first day of a month: no second day in this month yet")
    p = preview(earning, xlsx_bytes(rows))
    assert messages(p) == [
        "第3行：「干净人家」每月上限 20 分，已有 20 分（其中本文件 20 分），本次 20 分"
    ]


@pytest.mark.django_db
def test_reimporting_the_same_sheet_is_refused_as_duplicates(earning):
    add_households(earning, earning.world.village_a1, [1, 2])
    data = xlsx_bytes([row(1, "B01", 3), row(2, "V02", 1)])
    imported(earning, data)
    ids = list(Claim.objects.order_by("pk").values_list("pk", flat=True))
    p = preview(earning, data)
    assert messages(p) == [
        f"第2行：该户 {yesterday():%Y-%m-%d} 已有「回收农药瓶」的申报（#{ids[0]}），不能重复导入",
        f"第3行：该户 {yesterday():%Y-%m-%d} 已有「参加村集体义务劳动」的申报（#{ids[1]}），不能重复导入",
    ]


@pytest.mark.django_db
def test_quota_and_disqualification(earning):
    add_households(earning, earning.world.village_a1, [1, 2, 3])
    quota_set(
        actor=earning.county_admin,
        scheme=earning.scheme,
        village=earning.world.village_a1,
        year=yesterday().year,
        points=10000,
    )
    household_disqualify(
        actor=earning.village_admin,
        household=Household.objects.get(head_name=name(3)),
        reason="违规建房",
        starts_on=yesterday() - dt.timedelta(days=10),
        ends_on=yesterday() + dt.timedelta(days=30),
    )
    rows = [row(1, "B01", 60), row(2, "B01", 50), row(2, "V02", 1), row(3, "B01", 1)]
    p = preview(earning, xlsx_bytes(rows))
    until = yesterday() + dt.timedelta(days=30)
    assert messages(p) == [
        f"第3行：晓光村{yesterday().year}年积分额度 100 分，已用 0 分，本文件到这一行共 110 分，"
        "超出额度（后面同村的行不再逐行列出）",
        f"第5行：该户处于一票否决期内（至 {until:%Y-%m-%d}）：违规建房",
    ]


# ---------------------------------------------------------------- scope


@pytest.mark.django_db
def test_a_grid_worker_cannot_import_for_another_village(earning):
    add_households(earning, earning.world.village_a1, [1])
    add_households(earning, earning.world.village_b1, [2])
    rows = [row(1, "B01", 1), row(2, "B01", 1, 村="兴盛村")]
    p = preview(earning, xlsx_bytes(rows), actor=earning.grid_worker)
    assert messages(p) == ["第3行：该户不在您的管辖范围内"]
    assert p.token == "" and Claim.objects.count() == 0


@pytest.mark.django_db
def test_staff_without_a_proposer_role_or_of_another_scheme_may_not_import(earning):
    clerk = actor_for_user(
        make_staff("clerk", Role.STORE_CLERK, earning.world.village_a1, earning.scheme)
    )
    other = actor_for_user(
        make_staff(
            "other", Role.COUNTY_ADMIN, earning.world.other_county, earning.world.other_scheme
        )
    )
    data = xlsx_bytes([row(1, "B01", 1)])
    for actor in (clerk, other):
        with pytest.raises(ApplicationError) as err:
            preview(earning, data, actor=actor)
        assert err.value.code == ErrorCode.PERMISSION_DENIED


@pytest.mark.django_db
def test_someone_elses_or_a_household_token_is_not_found(earning):
    add_households(earning, earning.world.village_a1, [1])
    p = preview(earning, xlsx_bytes([row(1, "B01", 1)]), actor=earning.village_admin)
    for actor, token in ((earning.county_admin, p.token), (earning.village_admin, "x" * 32)):
        with pytest.raises(ApplicationError) as err:
            claim_import_commit(actor=actor, scheme=earning.scheme, token=token)
        assert err.value.code == ErrorCode.NOT_FOUND
    first = claim_import_commit(actor=earning.village_admin, scheme=earning.scheme, token=p.token)
    again = claim_import_commit(actor=earning.village_admin, scheme=earning.scheme, token=p.token)
    assert (first.created, again.created, again.replayed) == (1, 1, True)
    assert Claim.objects.count() == 1


# ---------------------------------------------------------------- formats


@pytest.mark.django_db
def test_template_round_trip(earning, tmp_path):
    add_households(earning, earning.world.village_a1, [1, 2])
    template = claim_import_template(scheme=earning.scheme)
    book = openpyxl.load_workbook(io.BytesIO(template))
    sheet, rules = book["积分申报"], book["细则"]
    assert [c.value for c in sheet[1]] == HEADER
    assert sheet.column_dimensions["D"].number_format == "@"  # 身份证号 as text
    assert sheet.column_dimensions["E"].number_format == "@"  # 手机号 as text
    assert [r[0].value for r in rules.iter_rows(min_row=2)] == sorted(
        earning.rules, key=lambda c: (earning.rules[c].category, c)
    )
    # Filled in by hand (as Excel would keep the '@' columns: text)
    for r, values in enumerate([row(1, "B01", 30), row(2, "H01", 2, 证明人="张三")], start=2):
        for c, value in enumerate(values, start=1):
            if value != "":
                sheet.cell(r, c, value)
    out = tmp_path / "filled.xlsx"
    book.save(out)
    result = imported(earning, out.read_bytes())
    assert result.created == 2
    assert sorted(Claim.objects.values_list("rule__code", "points")) == [
        ("B01", 3000),
        ("H01", 3000),
    ]


@pytest.mark.django_db
def test_wide_form_households_by_rules(earning):
    add_households(earning, earning.world.village_a1, [1, 2, 3])
    header = ["乡镇", "村", "户主姓名", "身份证号", "发生日期", "B01 回收农药瓶", "V02", "E03 环境卫生整治", "备注"]  # fmt: skip
    day = yesterday()
    rows = [
        ["开通镇", "晓光村", name(1), an_id(1), day, 100, 1, None, ""],
        ["开通镇", "晓光村", name(2), an_id(2), day, None, None, None, ""],  # nothing this month
        ["开通镇", "晓光村", name(3), an_id(3), day, 0, 1, 3, ""],
    ]
    template = claim_import_template(scheme=earning.scheme, wide=True)
    assert "B01 回收农药瓶" in [
        c.value for c in openpyxl.load_workbook(io.BytesIO(template))["积分申报"][1]
    ]
    # A column for a rule that does not exist, and a negative quantity, are named
    wrong = [list(r) for r in rows]
    wrong[0][5] = -1
    assert messages(preview(earning, xlsx_bytes(wrong, [*header[:6], "X99", *header[7:]]))) == [
        "第2行：「B01」数量应为正数",
        "第2行：细则编号 X99 不存在",
        "第4行：细则编号 X99 不存在",
    ]
    p = preview(earning, xlsx_bytes(rows, header))
    assert (p.errors, p.wide, p.total_rows, p.lines) == ([], True, 3, 4)
    claim_import_commit(actor=earning.county_admin, scheme=earning.scheme, token=p.token)
    assert sorted(Claim.objects.values_list("household__head_name", "rule__code", "quantity")) == [
        (name(1), "B01", Decimal("100.00")),
        (name(1), "V02", Decimal("1.00")),
        (name(3), "E03", Decimal("3.00")),
        (name(3), "V02", Decimal("1.00")),
    ]


@pytest.mark.django_db
def test_xls_and_csv_inputs(earning, monkeypatch):
    # The .xls fixture (Excel 97-2003, dates as date cells) was filled in on 2026-11-02.
    add_households(earning, earning.world.village_a1, [1, 2, 3])
    monkeypatch.setattr(timezone, "localdate", lambda value=None: dt.date(2026, 11, 2))
    data = (FIXTURES / "claims-evaluation.xls").read_bytes()
    p = preview(earning, data, filename="考评.xls")
    assert p.errors == [] and p.lines == 4
    assert [r.occurred_on for r in p.rows] == ["2026-11-01", "2026-11-01", "2026-10-30", "2026-10-31"]  # fmt: skip
    assert p.summary.award_points == 12000 + 1000 + 2500 + 3000
    monkeypatch.undo()
    for encoding in ("utf-8-sig", "gb18030"):
        p = preview(
            earning, csv_bytes([row(1, "B01", 2), row(2, "V02", 1)], encoding), filename="a.csv"
        )
        assert (p.errors, p.lines) == ([], 2)


@pytest.mark.django_db
def test_ids_stored_as_numbers_are_one_column_message(earning):
    numbers = [n for n in range(1, 100) if an_id(n)[-1] != "X"][:30]
    add_households(earning, earning.world.village_a1, numbers)
    rows = [row(n, "B01", 1) for n in numbers]
    for r in rows:
        r[HEADER.index("身份证号")] = float(r[HEADER.index("身份证号")])
    p = preview(earning, xlsx_bytes(rows))
    assert len(p.errors) == 1
    assert p.errors[0].row is None
    assert str(p.errors[0]).startswith(
        "“身份证号”这一列被保存成了数字格式，18位身份证号的最后几位已经丢失（例如第2行变成了 2.20822195001"
    )
    assert "共30行，无法导入" in str(p.errors[0]) and "“文本”" in str(p.errors[0])


@pytest.mark.django_db
def test_files_that_are_not_evaluation_sheets(earning):
    assert messages(preview(earning, b"")) == ["文件是空的，请选择填好的考评表格"]
    header_only = xlsx_bytes([], ["乡镇", "村", "户主姓名", "身份证号", "手机号"])
    assert messages(preview(earning, header_only + b""))[0] == "文件里只有表头，没有数据行"
    no_rules = xlsx_bytes([["开通镇", "晓光村", name(1), an_id(1)]], HEADER[:4])
    assert messages(preview(earning, no_rules))[0].startswith("缺少必需的列：细则编号、数量。")


# ---------------------------------------------------------------- export


def read_back(data: bytes) -> list[list[str]]:
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    grid = book.get_sheet_by_index(0).to_python()
    return [[_text(c) for c in r] for r in grid]


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return str(value)


@pytest.mark.django_db
def test_export_equals_import_and_masks_ids_for_non_admins(earning):
    add_households(earning, earning.world.village_a1, [1, 2])
    add_households(earning, earning.world.village_b1, [3])
    rows = [
        row(1, "B01", 12, 细则名称="回收农药瓶"),
        row(1, "M01", 1, 细则名称="拾金不昧、见义勇为", 说明="交还钱包", 证明人="李四"),
        row(2, "E03", 2.5, 细则名称="环境卫生整治"),
        row(3, "V02", 1, 村="兴盛村", 细则名称="参加村集体义务劳动"),
    ]
    imported(earning, xlsx_bytes(rows))
    month = f"{yesterday():%Y-%m}"

    out = io.BytesIO()
    result = claims_export(actor=earning.county_admin, scheme=earning.scheme, month=month, out=out)
    back = read_back(out.getvalue())
    assert result.rows == 4 and result.full_ids == 4
    assert back[0][:11] == HEADER and back[0][11:] == ["卡号", "积分", "状态"]
    assert [r[:11] for r in back[1:]] == [[str(v) for v in r] for r in rows]
    assert [r[13] for r in back[1:]] == ["待审核"] * 4

    # CSV, one village, as utf-8-sig
    out = io.BytesIO()
    claims_export(
        actor=earning.county_admin,
        scheme=earning.scheme,
        month=month,
        region_code=earning.world.village_b1.code,
        fmt="csv",
        out=out,
    )
    assert out.getvalue().startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert [r[:11] for r in lines[1:]] == [[str(v) for v in rows[3]]]

    # A grid worker of 晓光村 sees only that village, with IDs masked; the file still imports
    # again by card code (and is refused there as duplicates of the claims it came from)
    out = io.BytesIO()
    result = claims_export(actor=earning.grid_worker, scheme=earning.scheme, month=month, out=out)
    back = read_back(out.getvalue())
    assert (result.rows, result.full_ids) == (3, 0)
    assert [r[3] for r in back[1:]] == [f"{an_id(n)[:6]}********{an_id(n)[-4:]}" for n in (1, 1, 2)]
    again = preview(earning, out.getvalue())
    assert [e.message.split("（#")[0] for e in again.errors] == [
        f"该户 {yesterday():%Y-%m-%d} 已有「{r[6]}」的申报" for r in back[1:]
    ]
    assert AuditEvent.objects.filter(action="claim.export").count() == 3


# ---------------------------------------------------------------- command line and pages


@pytest.mark.django_db
def test_cli_import_and_export(earning, tmp_path):
    add_households(earning, earning.world.village_a1, [1, 2])
    path = tmp_path / "考评.xlsx"
    path.write_bytes(xlsx_bytes([row(1, "B01", 3), row(2, "V02", 1)]))
    out = io.StringIO()
    call_command(
        "import_claims", str(path), "--scheme", str(earning.scheme.pk), "--user", "cun",
        "--dry-run", stdout=out,
    )  # fmt: skip
    assert "检查通过：2 条积分可以导入（试运行，未导入）" in out.getvalue()
    assert Claim.objects.count() == 0
    call_command(
        "import_claims", str(path), "--scheme", str(earning.scheme.pk), "--user", "cun",
        stdout=out,
    )  # fmt: skip
    assert "导入完成：共导入 2 条积分申报，待审核" in out.getvalue()
    assert Claim.objects.count() == 2

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes([row(1, "X99", 3)]))
    err = io.StringIO()
    with pytest.raises(CommandError, match="文件有 1 处错误，未导入任何数据"):
        call_command(
            "import_claims", str(bad), "--scheme", str(earning.scheme.pk), stdout=out, stderr=err
        )
    assert "第2行：细则编号 X99 不存在" in err.getvalue()

    target = tmp_path / "export.csv"
    call_command(
        "export_claims", "--scheme", str(earning.scheme.pk), "--month", f"{yesterday():%Y-%m}",
        "--village", earning.world.village_a1.code, "-o", str(target), stdout=out,
    )  # fmt: skip
    text = target.read_bytes().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) == 3


@pytest.mark.django_db
def test_pages_upload_preview_confirm_done_template_and_export(earning):
    add_households(earning, earning.world.village_a1, [1, 2])
    client = Client()
    # client.login() would authenticate without a request, which django-axes refuses.
    client.force_login(User.objects.get(username="cun"))
    page = client.get("/claims/import/")
    assert page.status_code == 200 and "下载模板" in page.content.decode()
    template = client.get(f"/claims/import/template.xlsx?scheme={earning.scheme.pk}")
    assert template.status_code == 200 and template.getvalue()[:2] == b"PK"

    data = xlsx_bytes([row(1, "B01", 3), row(2, "X99", 1)])
    upload = io.BytesIO(data)
    upload.name = "考评.xlsx"
    response = client.post("/claims/import/", {"scheme": earning.scheme.pk, "file": upload})
    assert response.status_code == 422
    assert "第3行：细则编号 X99 不存在" in response.content.decode()

    upload = io.BytesIO(xlsx_bytes([row(1, "B01", 3), row(2, "V02", 1)]))
    upload.name = "考评.xlsx"
    response = client.post(
        "/claims/import/", {"scheme": earning.scheme.pk, "file": upload, "approve": "1"}
    )
    body = response.content.decode()
    assert response.status_code == 200 and "确认导入并审核通过 2 条" in body
    token = response.context["preview"].token
    response = client.post("/claims/import/confirm/", {"scheme": earning.scheme.pk, "token": token})
    assert response.status_code == 302
    done = client.get(response["Location"])
    assert "已从“考评.xlsx”导入 <strong>2</strong> 条积分申报" in done.content.decode()
    assert Claim.objects.filter(status=ClaimStatus.ON_NOTICE).count() == 2

    export = client.get(
        f"/claims/export/?scheme={earning.scheme.pk}&month={yesterday():%Y-%m}&format=csv"
    )
    assert export.status_code == 200
    assert b"".join(export.streaming_content if export.streaming else [export.content]).startswith(
        b"\xef\xbb\xbf"
    )
    bad_month = client.get(f"/claims/export/?scheme={earning.scheme.pk}&month=2026-13")
    assert bad_month.status_code == 400
