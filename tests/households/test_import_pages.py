"""The staff import pages: upload -> preview -> confirm -> result, and every bad upload a message."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from civicpoints.backoffice import import_views
from civicpoints.households.models import Household
from civicpoints.schemes.models import Role
from tests.factories import World, make_household, make_staff
from tests.households.test_import import FIXTURES, Tongyu, build_tongyu, counts

URL = "/households/import/"


def upload(client: Client, name: str, data: bytes | None = None, **extra):
    body = data if data is not None else (FIXTURES / name).read_bytes()
    return client.post(URL, {"file": SimpleUploadedFile(name, body), **extra})


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def tongyu(world: World) -> Tongyu:
    return build_tongyu(world)


@pytest.fixture
def staff(tongyu: Tongyu) -> Client:
    client = Client()
    client.force_login(tongyu.admin)
    return client


@pytest.mark.django_db
def test_login_required(tongyu):
    response = Client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_form_is_shown_with_the_columns_and_a_sample(staff):
    page = staff.get(URL)

    assert page.status_code == 200
    text = page.content.decode()
    assert 'enctype="multipart/form-data"' in text
    assert "csrfmiddlewaretoken" in text
    assert "乡镇、村、户主姓名、身份证号、手机号、家庭住址、家庭人口、户状态" in text
    sample = staff.get("/households/import/sample.xlsx")
    assert sample.status_code == 200
    assert b"".join(sample.streaming_content).startswith(b"PK\x03\x04")


@pytest.mark.django_db
def test_upload_preview_confirm_result(staff, tongyu):
    before = counts()

    page = upload(staff, "households-valid.xlsx")

    assert page.status_code == 200
    text = page.content.decode()
    assert "检查通过，共 <strong>200</strong> 户可以导入" in text
    assert "曾𠮷" in text
    assert "220822********4614" in text
    assert "220822195508254614" not in text  # ID numbers are shown masked
    assert counts() == before
    token = re.search(r'name="token" value="([^"]+)"', text).group(1)
    scheme = str(tongyu.world.scheme.pk)

    done = staff.post("/households/import/confirm/", {"token": token, "scheme": scheme})

    assert done.status_code == 302
    assert done["Location"] == f"/households/import/done/{token}/"
    assert Household.objects.count() == before[0] + 200
    again = staff.post("/households/import/confirm/", {"token": token, "scheme": scheme})
    assert again["Location"] == done["Location"]  # a double submit imports once
    assert Household.objects.count() == before[0] + 200
    result = staff.get(done["Location"])
    assert result.status_code == 200
    assert "导入 <strong>200</strong> 户" in result.content.decode()
    assert 'href="/households/"' in result.content.decode()


@pytest.mark.django_db
def test_errors_are_all_listed_and_there_is_nothing_to_confirm(staff):
    before = counts()

    page = upload(staff, "households-errors.xlsx")

    assert page.status_code == 422
    text = page.content.decode()
    for line in [
        "第12行：身份证校验位错误",
        "第30行：户主姓名不能为空",
        "第43行：身份证号与第42行重复",
        "第56行：开通镇下没有不存在村",
        "第78行：手机号应为11位，这里是10位",
        "第92行：家庭人口应为1到99的整数，这里是“三”",
    ]:
        assert f"<li>{line}</li>" in text
    assert "未导入任何数据" in text
    assert 'name="token"' not in text
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.xlsx", b"", "文件是空的"),
        ("photo.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(100), "无法识别这个文件"),
        ("broken.xlsx", b"PK\x03\x04broken", "无法读取这个文件"),
        ("numbers.xlsx", None, "这一列被保存成了数字格式"),
    ],
)
def test_bad_uploads_are_a_message_never_a_500(staff, name, data, message):
    if data is None:
        data = (FIXTURES / "households-numeric-ids.xlsx").read_bytes()

    page = upload(staff, name, data)

    assert page.status_code == 422
    assert message in page.content.decode()


@pytest.mark.django_db
def test_no_file_chosen(staff):
    page = staff.post(URL, {})

    assert page.status_code == 400
    assert "请选择要上传的文件" in page.content.decode()


@pytest.mark.django_db
def test_staff_who_are_not_admins_are_refused(tongyu):
    clerk = make_staff("clerk", Role.STORE_CLERK, tongyu.world.county, tongyu.world.scheme)
    client = Client()
    client.force_login(clerk)

    assert client.get(URL).status_code == 403
    page = upload(client, "households-valid.xlsx")
    assert page.status_code == 403
    assert "只有县、乡镇、村级管理员可以导入农户" in page.content.decode()
    assert Household.objects.count() == 0


@pytest.mark.django_db
def test_stale_or_foreign_token_is_a_message(staff, tongyu):
    page = staff.post(
        "/households/import/confirm/",
        {"token": "x" * 32, "scheme": str(tongyu.world.scheme.pk)},
        follow=True,
    )

    assert "这次上传已失效" in page.content.decode()
    assert staff.get("/households/import/done/nope/").status_code == 404


@pytest.mark.django_db
def test_csrf_is_enforced(tongyu):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tongyu.admin)

    page = client.post(URL, {"file": SimpleUploadedFile("a.csv", io.BytesIO(b"x").read())})

    assert page.status_code == 403


@pytest.mark.django_db
def test_confirm_checks_again_and_lists_what_changed(staff, tongyu):
    page = upload(staff, "households-valid.csv")
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    make_household(tongyu.world.scheme, tongyu.villages["东风村"], id_number="220822195508254614")
    before = counts()

    refused = staff.post(
        "/households/import/confirm/", {"token": token, "scheme": str(tongyu.world.scheme.pk)}
    )

    assert refused.status_code == 422
    assert "<li>第2行：身份证号已在系统中登记，不能重复导入</li>" in refused.content.decode()
    assert counts() == before


@pytest.mark.django_db
def test_too_big_upload_is_a_message(staff, monkeypatch):
    monkeypatch.setattr(import_views, "MAX_BYTES", 1024 * 1024)

    page = upload(staff, "big.xlsx", b"x" * (1024 * 1024 + 1))

    assert page.status_code == 400
    assert "文件超过1 MB" in page.content.decode()
