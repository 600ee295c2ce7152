"""The household import preview's summary tiles agree with its message: rows with problems
plus rows without make the data rows, the problems tile is the count the heading gives, and a
whole column saved as numbers ("共183行") counts its 183 rows as rows with problems (it used to
show 0 rows with problems and 0 without, of 200)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.households.test_import import FIXTURES, Tongyu, build_tongyu, counts
from tests.households.test_import_pages import upload


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def tongyu(world) -> Tongyu:
    return build_tongyu(world)


@pytest.fixture
def staff(tongyu: Tongyu) -> Client:
    client = Client()
    client.force_login(tongyu.admin)
    return client


def tiles(page: str) -> dict[str, int]:
    found = re.findall(
        r'<div class="figure"><div class="muted">([^<]+)</div><div class="value">(\d+)</div>', page
    )
    return {label: int(value) for label, value in found}


def heading(page: str) -> str:
    found = re.search(r'<div class="card" role="alert">\s*<h2>(.*?)</h2>', page, re.S)
    return found[1] if found else ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "expected", "says"),
    [
        (
            "households-valid.xlsx",
            {"数据行": 200, "有问题的行": 0, "没有问题的行": 200, "问题（处）": 0},
            "",
        ),
        (
            "households-errors.xlsx",
            {"数据行": 120, "有问题的行": 6, "没有问题的行": 114, "问题（处）": 6},
            "6 行有问题（共 6 处），未导入任何数据",
        ),
        (
            "households-errors.csv",
            {"数据行": 120, "有问题的行": 6, "没有问题的行": 114, "问题（处）": 6},
            "6 行有问题（共 6 处），未导入任何数据",
        ),
        (
            "households-numeric-ids.xlsx",
            {"数据行": 200, "有问题的行": 183, "没有问题的行": 17, "问题（处）": 1},
            "183 行有问题（共 1 处），未导入任何数据",
        ),
    ],
)
def test_the_tiles_agree_with_the_message(staff, name, expected, says):
    before = counts()

    page = upload(staff, name).content.decode()

    shown = tiles(page)
    assert shown == expected
    assert shown["有问题的行"] + shown["没有问题的行"] == shown["数据行"]
    assert heading(page) == says
    if name == "households-numeric-ids.xlsx":
        assert f"共{shown['有问题的行']}行，无法导入" in page
    assert (
        len(re.findall(r"<li>第\d+行：", page)) + page.count("这一列被保存成了数字格式")
        == (shown["问题（处）"])
    )
    assert counts() == before


@pytest.mark.django_db
def test_a_row_with_two_problems_is_one_row_and_two_problems(staff):
    lines = (FIXTURES / "households-valid.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[2] = ""  # 户主姓名 missing
    cells[4] = "1391234567"  # and the phone has 10 digits
    lines[3] = ",".join(cells)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    before = counts()

    page = upload(staff, "two-problems.csv", data).content.decode()

    assert tiles(page) == {"数据行": 200, "有问题的行": 1, "没有问题的行": 199, "问题（处）": 2}
    assert heading(page) == "1 行有问题（共 2 处），未导入任何数据"
    assert "<li>第4行：户主姓名不能为空</li>" in page
    assert "<li>第4行：手机号应为11位，这里是10位</li>" in page
    assert counts() == before


@pytest.mark.django_db
def test_a_file_that_cannot_be_read_has_no_rows_either_way(staff):
    page = upload(staff, "empty.xlsx", b"").content.decode()

    assert tiles(page) == {"数据行": 0, "有问题的行": 0, "没有问题的行": 0, "问题（处）": 1}
    assert heading(page) == "发现 1 处问题，未导入任何数据"
