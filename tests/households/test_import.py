"""Household import: the office's real sheets (tests/fixtures/excel), every check, all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import xlsxwriter
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households import idcard
from civicpoints.households.importing import (
    ImportPreview,
    household_import_commit,
    household_import_file,
    household_import_preview,
    household_import_result,
    reading,
)
from civicpoints.households.models import Household, HouseholdStatus, Member
from civicpoints.households.selectors import household_search
from civicpoints.ledger.models import Account
from civicpoints.schemes.models import Region, RegionLevel, Role, User
from civicpoints.schemes.scope import Actor, actor_for_user
from civicpoints.schemes.services import region_create
from tests.factories import World, make_household, make_staff

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "excel"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
HEADER = ["乡镇", "村", "户主姓名", "身份证号", "手机号", "家庭住址", "家庭人口", "户状态"]


@dataclass
class Tongyu:
    """通榆县 with the townships and villages the fixture sheets name, and a county admin."""

    world: World
    admin: User
    actor: Actor
    villages: dict[str, Region]


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def tongyu(world: World) -> Tongyu:
    return build_tongyu(world)


def build_tongyu(world: World) -> Tongyu:
    villages: dict[str, Region] = {}
    for i, (township_name, names) in enumerate(EXPECTED["villages"].items()):
        township = Region.objects.filter(
            path__startswith=world.county.path, level=RegionLevel.TOWNSHIP, name=township_name
        ).first() or region_create(
            code=f"22082210{i + 5}000",
            name=township_name,
            level=RegionLevel.TOWNSHIP,
            parent=world.county,
        )
        for k, name in enumerate(names):
            villages[name] = township.children.filter(name=name).first() or region_create(
                code=f"{township.code[:9]}{300 + k}",
                name=name,
                level=RegionLevel.VILLAGE,
                parent=township,
            )
    admin = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    return Tongyu(world, admin, actor_for_user(admin), villages)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def imports_dir() -> Path:
    return Path(django_settings.VAR_DIR) / "imports"


def counts() -> tuple[int, int, int]:
    return Household.objects.count(), Member.objects.count(), Account.objects.count()


def preview(t: Tongyu, data: bytes, filename: str = "农户.xlsx", **kw) -> ImportPreview:
    return household_import_preview(
        actor=kw.pop("actor", t.actor),
        scheme=t.world.scheme,
        file_bytes=data,
        filename=filename,
        **kw,
    )


def commit(t: Tongyu, token: str, actor: Actor | None = None):
    return household_import_commit(actor=actor or t.actor, scheme=t.world.scheme, token=token)


def csv_bytes(rows: list[list[object]], *, header=HEADER, encoding="utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], *, header=HEADER, above: int = 0) -> bytes:
    """A sheet as xlsxwriter writes it: strings as text, numbers as numbers."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    if above:
        sheet.write_string(0, 0, "通榆县农户花名册")
    for r, cells in enumerate([header, *rows]):
        for c, value in enumerate(cells):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(above + r, c, value)
            else:
                sheet.write_number(above + r, c, value)
    book.close()
    return out.getvalue()


def valid_csv_rows() -> list[list[str]]:
    text = fixture("households-valid.csv").decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]


def an_id(n: int) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n)
    return idcard.make(f"220822{born:%Y%m%d}{n % 1000:03d}")


def row(n: int = 1, **overrides: object) -> list[object]:
    values: dict[str, object] = {
        "乡镇": "开通镇",
        "村": "晓光村",
        "户主姓名": f"王{n}",
        "身份证号": an_id(n),
        "手机号": f"138{n:08d}",
        "家庭住址": f"开通镇晓光村{n}号",
        "家庭人口": "3",
        "户状态": "正常",
    }
    values.update({k: v for k, v in overrides.items()})
    return [values[h] for h in HEADER]


# ---------------------------------------------------------------- the office's sheets


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["households-valid.xlsx", "households-valid.xls", "households-valid.csv"]
)
def test_valid_sheet_previews_then_imports_all_200(tongyu, name):
    before = counts()

    p = preview(tongyu, fixture(name), name)

    assert p.errors == []
    assert (p.total_rows, p.valid_rows, p.error_rows) == (200, 200, 0)
    assert len(p.rows) == 20
    assert p.rows[0].row == 2
    assert p.rows[0].head_name == "仇海"
    assert p.rows[0].id_number == "220822********4614"
    assert p.rows[0].phone == "186****6690"
    assert p.token
    assert counts() == before  # a preview stores nothing in the database

    result = commit(tongyu, p.token)

    assert result.created == 200
    assert not result.replayed
    assert counts() == (before[0] + 200, before[1] + 200, before[2] + 200)
    first = Household.objects.get(head_name="仇海")
    assert (first.village.name, first.phone, first.size, first.status) == (
        "东风村",
        "18631706690",
        3,
        HouseholdStatus.ACTIVE,
    )
    assert first.members.get().id_number_masked == "220822********4614"
    event = AuditEvent.objects.get(action="household.import")
    assert (event.actor_id, event.detail) == (
        tongyu.admin.pk,
        {"file": name, "sha256": hashlib.sha256(fixture(name)).hexdigest(), "households": 200},
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "upload_as"),
    [
        ("households-valid.xls", "农户.et"),  # WPS saves .et as an OLE (xls) or zip (xlsx) file
        ("households-valid.xlsx", "农户.et"),
        ("households-valid.xlsx", "农户.csv"),
        ("households-valid.csv", "农户.xlsx"),
        ("households-valid.xls", "农户"),
    ],
)
def test_the_format_comes_from_the_content_not_the_name(tongyu, name, upload_as):
    p = preview(tongyu, fixture(name), upload_as)

    assert (p.errors, p.total_rows) == ([], 200)


@pytest.mark.django_db
def test_rare_characters_surnames_and_phone_layout_survive(tongyu):
    p = preview(tongyu, fixture("households-valid.xlsx"))
    commit(tongyu, p.token)
    actor = tongyu.actor

    zeng = Household.objects.get(head_name="曾𠮷")  # row 19: CJK Extension B
    assert zeng.head_name == "曾\U00020bb7"
    assert zeng.members.get().name == "曾𠮷"
    assert zeng.status == HouseholdStatus.AWAY
    for query in ("z", "c", "zeng", "ceng", "曾𠮷", "𠮷"):
        assert zeng in household_search(actor, query, limit=500), query
    shan = Household.objects.get(head_name="单解仇")  # row 20
    for query in ("djc", "sjc", "dan", "shan"):
        assert shan in household_search(actor, query, limit=500), query
    row_22 = Household.objects.get(address="开通镇晓光村3组34号")  # "188 4878-7065"
    assert (row_22.head_name, row_22.phone) == ("黎海", "18848787065")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["households-errors.xlsx", "households-errors.csv"])
def test_error_sheet_names_each_planted_error_and_imports_nothing(tongyu, name):
    before = counts()

    p = preview(tongyu, fixture(name), name)

    expected = [(e["row"], e["column"]) for e in EXPECTED["households-errors"]]
    assert [(e.row, e.column) for e in p.errors] == expected
    messages = [str(e) for e in p.errors]
    assert messages == [
        "第12行：身份证校验位错误",
        "第30行：户主姓名不能为空",
        "第43行：身份证号与第42行重复",
        "第56行：开通镇下没有不存在村",
        "第78行：手机号应为11位，这里是10位",
        "第92行：家庭人口应为1到99的整数，这里是“三”",
    ]
    assert (p.total_rows, p.error_rows, p.valid_rows) == (120, 6, 114)
    assert p.token == ""
    assert counts() == before
    assert list(imports_dir().glob("*")) == []


@pytest.mark.django_db
def test_ids_saved_as_numbers_are_one_message_saying_how_to_fix(tongyu):
    before = counts()

    p = preview(tongyu, fixture("households-numeric-ids.xlsx"))

    assert len(p.errors) == 1
    error = p.errors[0]
    assert (error.row, error.column) == (None, "身份证号")
    assert "数字格式" in error.message
    assert "最后几位已经丢失" in error.message
    assert "2.20822195508255e+17" in error.message
    numeric = [r for r in valid_csv_rows() if not r[3].endswith("X")]  # Calc left ...X as text
    assert f"共{len(numeric)}行" in error.message
    assert "“文本”" in error.message
    assert "重新上传" in error.message
    # The rows the sentence names are the rows counted as having a problem (tiles agree).
    assert p.error_rows == len(numeric) and error.rows[0] == 2
    assert p.valid_rows == p.total_rows - len(numeric)
    assert p.token == ""
    with pytest.raises(ApplicationError) as err:
        household_import_file(
            actor=tongyu.actor,
            scheme=tongyu.world.scheme,
            file_bytes=fixture("households-numeric-ids.xlsx"),
            filename="x.xlsx",
        )
    assert err.value.code == ErrorCode.IMPORT_INVALID
    assert len(err.value.detail["errors"]) == 1
    assert counts() == before


@pytest.mark.django_db
def test_phones_stored_as_numbers_are_accepted(tongyu):
    data = xlsx_bytes([row(1, 手机号=13800138000.0, 家庭人口=2.0), row(2, 手机号=13900139000)])

    result = household_import_file(
        actor=tongyu.actor, scheme=tongyu.world.scheme, file_bytes=data, filename="x.xlsx"
    )

    assert result.created == 2
    assert list(Household.objects.order_by("pk").values_list("phone", "size")) == [
        ("13800138000", 2),
        ("13900139000", 3),
    ]


@pytest.mark.django_db
def test_ids_from_a_csv_saved_by_excel_with_lost_digits_are_one_message(tongyu):
    rows = [row(1, 身份证号="2.20822E+17"), row(2, 身份证号="2.20822E+17")]
    truncated = [row(3, 身份证号="220822195508254000"), row(4, 身份证号="220822196204111000")]

    for data in (csv_bytes(rows), csv_bytes(truncated)):
        p = preview(tongyu, data, "x.csv")
        assert len(p.errors) == 1
        assert p.errors[0].row is None
        assert "数字格式" in p.errors[0].message


# ---------------------------------------------------------------- files that are not right


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "文件是空的"),
        (b"\xef\xbb\xbf", "表格是空的"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "无法识别这个文件"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00", "无法识别这个文件"),
        (b"just some words, nothing else\n", "无法识别这个文件"),
        (b"PK\x03\x04not really a zip", "无法读取这个文件"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "无法读取这个文件"),
    ],
)
def test_wrong_files_are_one_clear_message(tongyu, data, expected):
    before = counts()

    p = preview(tongyu, data, "农户.xlsx")

    assert len(p.errors) == 1
    assert p.errors[0].row is None
    assert p.errors[0].message.startswith(expected)
    assert (p.ok, p.token) == (False, "")
    assert counts() == before


@pytest.mark.django_db
def test_a_zip_that_is_not_a_workbook_is_refused(tongyu):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")

    p = preview(tongyu, out.getvalue(), "农户.xlsx")

    assert len(p.errors) == 1
    assert p.errors[0].message.startswith("这个文件不是Excel表格（.xlsx）")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ((1_000_000, 10_000), "文件超过100000行"),  # would be a 320 GB grid inside calamine
        ((100_010, 1), "文件超过100000行"),
        ((50_000, 200), "表格的内容区域太大（到第50001行、第GS列）"),
    ],
)
def test_a_stray_cell_far_away_is_refused_before_reading(tongyu, cell, expected):
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    for c, label in enumerate(HEADER):
        sheet.write_string(0, c, label)
    sheet.write_string(*cell, "x")
    book.close()

    p = preview(tongyu, out.getvalue())

    assert len(p.errors) == 1
    assert p.errors[0].message.startswith(expected)


@pytest.mark.django_db
def test_missing_columns_are_named_in_one_message(tongyu):
    data = csv_bytes([["开通镇", "张三", "13800138000"]], header=["乡镇", "户主姓名", "手机号"])

    p = preview(tongyu, data, "x.csv")

    assert len(p.errors) == 1
    assert p.errors[0].message.startswith("缺少必需的列：村、身份证号。")


@pytest.mark.django_db
def test_xlsx_without_our_header_names_the_missing_columns(tongyu):
    p = preview(tongyu, xlsx_bytes([["a", "b"]], header=["序号", "备注"]))

    assert p.errors[0].message.startswith("缺少必需的列：乡镇、村、户主姓名、身份证号。")


@pytest.mark.django_db
def test_header_only_file(tongyu):
    p = preview(tongyu, csv_bytes([]), "x.csv")

    assert [str(e) for e in p.errors] == ["文件里只有表头，没有数据行"]


@pytest.mark.django_db
def test_size_and_row_caps(tongyu, monkeypatch):
    monkeypatch.setattr(reading, "MAX_ROWS", 5)
    for name in ("households-valid.csv", "households-valid.xlsx"):
        p = preview(tongyu, fixture(name), name)
        assert [str(e) for e in p.errors] == ["文件超过5行，请分成几个文件分别导入"]
    monkeypatch.setattr(reading, "MAX_BYTES", 1024 * 1024)
    p = preview(tongyu, b"x" * (1024 * 1024 + 1))
    assert [str(e) for e in p.errors] == ["文件超过1 MB，请分成几个文件分别导入"]


# ---------------------------------------------------------------- CSV flavours and layout


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "utf-16"])
def test_csv_encodings(tongyu, encoding):
    data = csv_bytes(valid_csv_rows(), encoding=encoding)

    p = preview(tongyu, data, "households.csv")

    assert (p.errors, p.total_rows) == ([], 200)
    assert commit(tongyu, p.token).created == 200
    assert Household.objects.filter(head_name="曾𠮷").count() == 1


@pytest.mark.django_db
def test_title_rows_blank_rows_and_padded_names(tongyu):
    rows = [row(1, 户主姓名="张　三"), ["", "", "", "", "", "", "", ""], row(2), row(3, 家庭人口=0)]

    p = preview(tongyu, xlsx_bytes(rows, above=2))

    # Title in row 1, blank row 2, header row 3: data rows are 4, 5 (blank), 6, 7.
    assert [r.row for r in p.rows] == [4, 6, 7]
    assert p.rows[0].head_name == "张三"
    assert [str(e) for e in p.errors] == ["第7行：家庭人口应为1到99的整数，这里是“0”"]


@pytest.mark.django_db
def test_every_problem_in_a_row_is_reported(tongyu):
    rows = [
        row(1, 乡镇="不存在镇", 户主姓名="", 身份证号="12345", 手机号="abc", 家庭人口="2.5"),
        row(2, 户状态="已搬走", 家庭人口=100, 村=""),
        row(3, 身份证号="", 家庭住址="址" * 201),
        row(4, 身份证号="220822199913450001"),
        row(5, 乡镇="兴隆山镇", 村="晓光村"),
    ]

    p = preview(tongyu, csv_bytes(rows), "x.csv")

    assert [str(e) for e in p.errors] == [
        "第2行：通榆县下没有不存在镇",
        "第2行：户主姓名不能为空",
        "第2行：身份证号应为18位，这里是5位",
        "第2行：手机号格式不对",
        "第2行：家庭人口应为1到99的整数，这里是“2.5”",
        "第3行：村不能为空",
        "第3行：家庭人口应为1到99的整数，这里是“100”",
        "第3行：户状态只能填“正常”“外出务工”或“无劳动能力”，这里是“已搬走”",
        "第4行：身份证号不能为空",
        "第4行：家庭住址太长（最多200个字）",
        "第5行：身份证号中的出生日期无效",
        "第6行：兴隆山镇下没有晓光村",
    ]
    assert (p.error_rows, p.valid_rows) == (5, 0)


@pytest.mark.django_db
def test_numbers_typed_full_width_or_marked_as_text_are_read(tongyu):
    full_width = an_id(1).translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    data = csv_bytes(
        [
            row(1, 身份证号=full_width, 手机号="１３８ ００１３ ８０００"),
            row(2, 身份证号=f"'{an_id(2)}", 手机号='="13900139000"'),
        ]
    )

    p = preview(tongyu, data, "x.csv")

    assert p.errors == []
    assert [r.phone for r in p.rows] == ["138****8000", "139****9000"]
    assert commit(tongyu, p.token).created == 2
    assert Member.objects.filter(id_number_masked__endswith=an_id(1)[-4:]).count() == 1


@pytest.mark.django_db
def test_blank_size_and_status_take_defaults(tongyu):
    data = csv_bytes([row(1, 家庭人口="", 户状态=""), row(2, 户状态="无劳动能力")])

    household_import_file(
        actor=tongyu.actor, scheme=tongyu.world.scheme, file_bytes=data, filename="x.csv"
    )

    assert list(Household.objects.order_by("pk").values_list("size", "status")) == [
        (1, HouseholdStatus.ACTIVE),
        (3, HouseholdStatus.UNABLE),
    ]


# ---------------------------------------------------------------- the database and scope


@pytest.mark.django_db
def test_ids_already_registered_are_refused_and_nothing_changes(tongyu):
    make_household(tongyu.world.scheme, tongyu.villages["东风村"], id_number="220822195508254614")
    before = counts()

    p = preview(tongyu, fixture("households-valid.xlsx"))

    assert [str(e) for e in p.errors] == ["第2行：身份证号已在系统中登记，不能重复导入"]
    assert p.errors[0].column == "身份证号"
    assert p.token == ""
    with pytest.raises(ApplicationError):
        household_import_file(
            actor=tongyu.actor,
            scheme=tongyu.world.scheme,
            file_bytes=fixture("households-valid.xlsx"),
            filename="x.xlsx",
        )
    assert counts() == before


@pytest.mark.django_db
def test_same_id_in_another_scheme_is_not_a_clash(tongyu):
    other = tongyu.world
    make_household(other.other_scheme, other.other_village, id_number="220822195508254614")

    assert preview(tongyu, fixture("households-valid.xlsx")).errors == []


@pytest.mark.django_db
def test_village_admin_may_import_only_their_village(tongyu):
    clerk = make_staff(
        "xiaoguang", Role.VILLAGE_ADMIN, tongyu.villages["晓光村"], tongyu.world.scheme
    )
    actor = actor_for_user(clerk)
    before = counts()
    in_village = [r for r in valid_csv_rows() if r[1] == "晓光村"]

    p = preview(tongyu, fixture("households-valid.xlsx"), actor=actor)

    assert p.token == ""
    assert p.error_rows == 200 - len(in_village)
    assert all(e.column == "村" and e.message.endswith("村不在您的管辖范围内") for e in p.errors)
    assert "第2行：东风村不在您的管辖范围内" in [str(e) for e in p.errors]
    assert counts() == before

    own = preview(tongyu, csv_bytes(in_village), "x.csv", actor=actor)
    assert own.errors == []
    assert commit(tongyu, own.token, actor).created == len(in_village)


@pytest.mark.django_db
def test_township_admin_scope(tongyu):
    staff = make_staff("kaitong", Role.TOWNSHIP_ADMIN, tongyu.world.township_a, tongyu.world.scheme)
    data = csv_bytes([row(1), row(2, 乡镇="兴隆山镇", 村="兴盛村")])

    p = preview(tongyu, data, "x.csv", actor=actor_for_user(staff))

    assert [str(e) for e in p.errors] == ["第3行：兴盛村不在您的管辖范围内"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.STORE_CLERK, Role.GRID_WORKER, Role.AUDITOR])
def test_only_admins_may_import(tongyu, role):
    staff = make_staff("someone", role, tongyu.world.county, tongyu.world.scheme)
    before = counts()

    with pytest.raises(ApplicationError) as err:
        preview(tongyu, fixture("households-valid.xlsx"), actor=actor_for_user(staff))

    assert err.value.code == ErrorCode.PERMISSION_DENIED
    assert counts() == before


@pytest.mark.django_db
def test_admin_of_another_scheme_may_not_import_here(tongyu):
    w = tongyu.world
    staff = make_staff("zhenlai", Role.COUNTY_ADMIN, w.other_county, w.other_scheme)

    with pytest.raises(ApplicationError) as err:
        preview(tongyu, fixture("households-valid.xlsx"), actor=actor_for_user(staff))

    assert err.value.code == ErrorCode.PERMISSION_DENIED


# ---------------------------------------------------------------- confirm: once, and checked again


@pytest.mark.django_db
def test_confirming_twice_imports_once(tongyu):
    p = preview(tongyu, fixture("households-valid.xlsx"))
    before = counts()

    first = commit(tongyu, p.token)
    second = commit(tongyu, p.token)

    assert (first.created, first.replayed) == (200, False)
    assert (second.created, second.replayed) == (200, True)
    assert counts() == (before[0] + 200, before[1] + 200, before[2] + 200)
    assert household_import_result(actor=tongyu.actor, token=p.token).created == 200
    assert list(Path(imports_dir()).glob("*.upload")) == []


@pytest.mark.django_db
def test_someone_elses_or_a_made_up_token_is_not_found(tongyu):
    p = preview(tongyu, fixture("households-valid.xlsx"))
    other = make_staff("other", Role.COUNTY_ADMIN, tongyu.world.county, tongyu.world.scheme)
    before = counts()

    for actor, token in [
        (actor_for_user(other), p.token),
        (tongyu.actor, "x" * 32),
        (tongyu.actor, "../../etc/passwd"),
        (tongyu.actor, ""),
    ]:
        with pytest.raises(ApplicationError) as err:
            commit(tongyu, token, actor)
        assert err.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ApplicationError):
        household_import_result(actor=actor_for_user(other), token=p.token)
    assert counts() == before
    assert commit(tongyu, p.token).created == 200


@pytest.mark.django_db
def test_commit_checks_again_and_refuses_an_id_registered_since_the_preview(tongyu):
    p = preview(tongyu, fixture("households-valid.xlsx"))
    make_household(tongyu.world.scheme, tongyu.villages["东风村"], id_number="220822194311180100")
    before = counts()

    with pytest.raises(ApplicationError) as err:
        commit(tongyu, p.token)

    assert err.value.code == ErrorCode.IMPORT_INVALID
    assert err.value.detail["errors"] == ["第3行：身份证号已在系统中登记，不能重复导入"]
    assert counts() == before
    with pytest.raises(ApplicationError) as again:
        commit(tongyu, p.token)  # the refused upload is gone: fix the file and upload again
    assert again.value.code == ErrorCode.NOT_FOUND


@pytest.mark.django_db
def test_a_tampered_upload_is_not_imported(tongyu):
    p = preview(tongyu, fixture("households-valid.csv"), "x.csv")
    (imports_dir() / f"{p.token}.upload").write_bytes(fixture("households-errors.csv"))
    before = counts()

    with pytest.raises(ApplicationError) as err:
        commit(tongyu, p.token)

    assert err.value.code == ErrorCode.NOT_FOUND
    assert counts() == before


@pytest.mark.django_db
def test_ten_thousand_rows_import_fully(tongyu):
    names = ["晓光村", "新华村", "东风村"]
    rows = [row(i, 村=names[i % 3], 户主姓名=f"李{i}") for i in range(10_000)]
    data = xlsx_bytes(rows)
    seen: list[tuple[str, int, int]] = []

    p = household_import_preview(
        actor=tongyu.actor,
        scheme=tongyu.world.scheme,
        file_bytes=data,
        filename="big.xlsx",
        progress=lambda *a: seen.append(a),
    )
    assert (p.errors, p.total_rows) == ([], 10_000)
    result = household_import_commit(
        actor=tongyu.actor,
        scheme=tongyu.world.scheme,
        token=p.token,
        progress=lambda *a: seen.append(a),
    )

    assert result.created == 10_000
    assert Household.objects.filter(scheme=tongyu.world.scheme).count() == 10_000
    assert Member.objects.filter(scheme=tongyu.world.scheme).count() == 10_000
    assert ("check", 10_000, 10_000) in seen
    assert seen[-1] == ("save", 10_000, 10_000)


# ---------------------------------------------------------------- the command line


@pytest.mark.django_db
def test_cli_imports_a_valid_file(tongyu):
    out = io.StringIO()

    call_command(
        "import_households",
        str(FIXTURES / "households-valid.xls"),
        scheme=tongyu.world.scheme.pk,
        stdout=out,
    )

    assert "导入完成：共导入 200 户" in out.getvalue()
    assert Household.objects.count() == 200
    assert AuditEvent.objects.get(action="household.import").actor_id is None


@pytest.mark.django_db
def test_cli_prints_every_error_and_fails(tongyu):
    out, err = io.StringIO(), io.StringIO()
    before = counts()

    with pytest.raises(CommandError, match="文件有 6 处错误，未导入任何数据"):
        call_command(
            "import_households",
            str(FIXTURES / "households-errors.xlsx"),
            scheme=tongyu.world.scheme.pk,
            stdout=out,
            stderr=err,
        )

    assert err.getvalue().splitlines()[0] == "第12行：身份证校验位错误"
    assert len(err.getvalue().splitlines()) == 6
    assert counts() == before


@pytest.mark.django_db
def test_cli_dry_run_and_user_scope(tongyu):
    make_staff("xg", Role.VILLAGE_ADMIN, tongyu.villages["晓光村"], tongyu.world.scheme)
    path = str(FIXTURES / "households-valid.csv")
    out = io.StringIO()

    call_command("import_households", path, scheme=tongyu.world.scheme.pk, dry_run=True, stdout=out)
    assert "检查通过：200 户可以导入（试运行，未导入）" in out.getvalue()
    assert Household.objects.count() == 0

    with pytest.raises(CommandError, match="未导入任何数据"):
        call_command(
            "import_households",
            path,
            scheme=tongyu.world.scheme.pk,
            user="xg",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    with pytest.raises(CommandError, match="没有名为 nobody 的工作人员"):
        call_command("import_households", path, scheme=tongyu.world.scheme.pk, user="nobody")
    with pytest.raises(CommandError, match="没有编号为 999999 的积分方案"):
        call_command("import_households", path, scheme=999999)
    with pytest.raises(CommandError, match="无法打开文件"):
        call_command("import_households", "/nonexistent.xlsx", scheme=tongyu.world.scheme.pk)
    assert Household.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_confirms_at_the_same_moment_import_once(tongyu):
    p = preview(tongyu, fixture("households-valid.csv"), "x.csv")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def confirm() -> None:
        barrier.wait()
        try:
            result = commit(tongyu, p.token)
            outcomes.append("replayed" if result.replayed else f"created {result.created}")
        except ApplicationError as exc:
            outcomes.append(str(exc.code))
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) in (
        ["created 200", "import_in_progress"],
        ["created 200", "replayed"],
    )
    assert Household.objects.filter(scheme=tongyu.world.scheme).count() == 200
