"""Every staff list as a file (faces/tables.py): xlsx and CSV of all the list's rows, under a
Chinese file name, ID and phone columns as text, formula-like cells neutralised, audited."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from urllib.parse import unquote

import openpyxl
import pytest
from django.test import Client

from civicpoints.activities.models import Activity
from civicpoints.activities.selectors import activity_counts
from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.demo.county import build_demo
from civicpoints.schemes.models import Role, User
from tests.factories import World, fund, make_household, make_staff

ID_NUMBER = "110101199003071233"  # a valid check digit: 18 digits, all numeric


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def file_name(response) -> str:  # type: ignore[no-untyped-def]
    disposition = response["Content-Disposition"]
    return unquote(disposition.split("filename*=utf-8''", 1)[1])


def xlsx_rows(response) -> list[tuple]:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content)
    return list(openpyxl.load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))


def csv_rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # utf-8-sig: Excel reads the Chinese
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def households(world: World) -> World:
    w = world
    a = make_household(
        w.scheme, w.village_a1, "=HYPERLINK(1)", id_number=ID_NUMBER, phone="13800138000"
    )
    fund(a, 1250)
    make_household(w.scheme, w.village_a1, "李桂兰", phone="13900139000")
    make_household(w.scheme, w.village_b1, "王秀英")
    return w


def test_the_county_admin_exports_every_household_with_whole_numbers_as_text(households):
    w = households
    client = logged_in(make_staff("xian", Role.COUNTY_ADMIN, w.county, w.scheme))
    page = client.get("/households/").content.decode()
    assert "?export=xlsx" in page and "?export=csv" in page

    response = client.get("/households/", {"export": "xlsx"})
    assert response.status_code == 200
    assert file_name(response).startswith("农户名单-") and file_name(response).endswith(".xlsx")
    rows = xlsx_rows(response)
    assert rows[0][:6] == ("户号", "乡镇", "村/社区", "户主", "户主身份证号", "手机号")
    assert len(rows) == 4
    first = rows[1]
    assert first[3] == "'=HYPERLINK(1)"  # a name that looks like a formula stays text
    assert first[4] == ID_NUMBER and first[5] == "13800138000"  # text cells, every digit
    assert first[10] == 12.5 and first[11] == 12.5  # points as numbers
    assert "正常" in first

    rows = csv_rows(client.get("/households/", {"export": "csv", "q": "李"}))
    assert len(rows) == 2 and rows[1][3] == "李桂兰"
    assert rows[1][5] == "13900139000\t"  # the tab keeps it text in Excel and LibreOffice

    events = AuditEvent.objects.filter(action=AuditAction.TABLE_EXPORT).order_by("pk")
    assert [e.detail["format"] for e in events] == ["xlsx", "csv"]
    assert events[0].detail["rows"] == 3 and events[0].detail["full_ids"] == 3
    assert events[1].detail["search"] == "李"


def test_a_store_clerk_exports_masked_numbers_of_their_village_only(households):
    w = households
    client = logged_in(make_staff("dian", Role.STORE_CLERK, w.village_a1, w.scheme))
    rows = xlsx_rows(client.get("/households/", {"export": "xlsx"}))
    assert len(rows) == 3  # two households of village a1
    assert rows[1][4] != ID_NUMBER and rows[1][4].endswith("1233") and "*" in rows[1][4]
    assert rows[1][5] == "138****8000"
    event = AuditEvent.objects.get(action=AuditAction.TABLE_EXPORT)
    assert event.detail["full_ids"] == 0 and event.region_id == w.village_a1.pk


def soffice(tmp_path, name: str, body: bytes, to: str, *options: str) -> bytes:  # type: ignore[no-untyped-def]
    """``body`` saved as ``name`` and converted by LibreOffice (headless) to ``to``."""
    if not shutil.which("soffice"):
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice (soffice) is required in CI: .ci/run installs it")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    source = tmp_path / name
    source.write_bytes(body)
    profile = (tmp_path / "lo-profile").as_uri()  # its own profile: passes may run together
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile}",
            "--headless",
            *options,
            "--convert-to",
            to,
            "--outdir",
            str(tmp_path / "out"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (tmp_path / "out" / f"{source.stem}.{to.split(':')[0]}").read_bytes()


def test_exports_open_in_libreoffice_with_id_numbers_intact(households, one_database, tmp_path):
    w = households
    client = logged_in(make_staff("xian", Role.COUNTY_ADMIN, w.county, w.scheme))
    xlsx = b"".join(client.get("/households/", {"export": "xlsx"}).streaming_content)
    # xlsx -> CSV (UTF-8): what LibreOffice holds in each cell
    text = soffice(tmp_path, "h.xlsx", xlsx, "csv:Text - txt - csv (StarCalc):44,34,76,1")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8"))))
    assert rows[1][4] == ID_NUMBER and rows[1][5] == "13800138000"
    assert rows[1][3] == "'=HYPERLINK(1)"  # shown as typed, never run
    assert rows[1][10] == "12.5"

    # our CSV opened in LibreOffice (UTF-8) and saved as xlsx: the ID is text, every digit
    ours = b"".join(client.get("/households/", {"export": "csv"}).streaming_content)
    book = soffice(tmp_path, "h.csv", ours, "xlsx", "--infilter=CSV:44,34,76,1")
    sheet = openpyxl.load_workbook(io.BytesIO(book)).active
    cells = next(iter(sheet.iter_rows(min_row=2, max_row=2, values_only=True)))
    assert cells[3] == "'=HYPERLINK(1)"
    assert isinstance(cells[4], str) and cells[4].strip() == ID_NUMBER
    assert cells[10] == 12.5


# Every staff list with a file: its URL (with the filter that shows all its rows) and the
# file's name. The demo county has rows in each.
LISTS = [
    ("/households/", "农户名单"),
    ("/claims/?status=all", "积分申报"),
    ("/activities/", "志愿活动"),
    ("/mutual-help/?status=all", "邻里互助"),
    ("/approvals/?status=all", "人工调整与冲正"),
    ("/stores/", "爱心超市"),
    ("/orders/?status=held", "订单"),
    ("/merchants/", "签约商家"),
    ("/village/announcements/", "村务信息"),
    ("/village/feedback/?status=all", "投诉建议"),
    ("/risk/?status=all", "风险提示"),
]


def test_every_staff_list_exports_all_its_rows_to_xlsx_and_csv(db):  # type: ignore[no-untyped-def]

    build_demo(households=40, password="demo-pass-1", history=20)
    client = logged_in(User.objects.get(username="county-admin"))
    for url, stem in LISTS:
        page = client.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert "export=xlsx" in text and "export=csv" in text, url
        shown = int(text.split("共 ", 1)[1].split(" 条", 1)[0]) if "共 " in text else None
        join = "&" if "?" in url else "?"
        xlsx = client.get(f"{url}{join}export=xlsx")
        assert xlsx.status_code == 200, url
        assert file_name(xlsx).startswith(f"{stem}-") and file_name(xlsx).endswith(".xlsx")
        rows = xlsx_rows(xlsx)
        lines = csv_rows(client.get(f"{url}{join}export=csv"))
        assert [str(h) for h in rows[0]] == lines[0], url
        assert len(rows) == len(lines) == int(xlsx["X-Rows"]) + 1, url
        if shown is not None:
            assert len(rows) - 1 == shown, url  # the file holds the list, not one page
        for row in rows[1:]:
            for cell in row:
                assert not (isinstance(cell, str) and cell[:1] in "=+-@"), (url, cell)
    exported = AuditEvent.objects.filter(action=AuditAction.TABLE_EXPORT)
    assert exported.count() == 2 * len(LISTS)

    # the activities' counts, annotated in the export's one query, are the page's
    lines = csv_rows(client.get("/activities/", {"export": "csv"}))
    enrolled, out = lines[0].index("报名"), lines[0].index("已签退")
    counts = [activity_counts(a) for a in Activity.objects.all()]
    assert sorted((int(r[enrolled]), int(r[out])) for r in lines[1:]) == sorted(
        (c.enrolled, c.checked_out) for c in counts
    )
    assert any(c.enrolled for c in counts)  # the demo county has enrolments to count

    # the small tables made in memory (a ranking, the star households) offer CSV too
    ranking = client.get("/rankings.xlsx", {"period": "year", "value": "2026", "format": "csv"})
    assert file_name(ranking).startswith("排行榜-") and file_name(ranking).endswith(".csv")
    assert ranking.content.startswith(b"\xef\xbb\xbf")
    assert ranking.content.decode("utf-8-sig").splitlines()[0] == "名次,户主,成员,村,获得积分"


def test_the_dashboard_figure_opens_the_households_of_its_region(households):
    w = households
    client = logged_in(make_staff("xian", Role.COUNTY_ADMIN, w.county, w.scheme))
    dashboard = client.get("/dashboard/", {"region": w.township_b.pk}).content.decode()
    assert f'href="/households/?region={w.township_b.pk}"' in dashboard
    page = client.get("/households/", {"region": w.township_b.pk})
    text = page.content.decode()
    assert "王秀英" in text and "李桂兰" not in text and "共 1 条" in text
    rows = csv_rows(client.get("/households/", {"region": w.township_b.pk, "export": "csv"}))
    assert [r[3] for r in rows[1:]] == ["王秀英"]
    event = AuditEvent.objects.get(action=AuditAction.TABLE_EXPORT)
    assert event.detail["region"] == w.township_b.code
    clerk = logged_in(make_staff("dian", Role.STORE_CLERK, w.village_a1, w.scheme))
    assert clerk.get("/households/", {"region": w.township_b.pk}).status_code == 404
