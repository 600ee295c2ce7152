"""English through Accept-Language: API errors, staff pages and the admin; Chinese stays the default.

The msgids are the Chinese texts, so Chinese output is the source text itself and English comes
from ``locale/en/LC_MESSAGES`` (the .po and its compiled .mo, both committed).
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from civicpoints.households import idcard
from civicpoints.households.importing.reading import FileProblem, ImportIssue, read_table
from civicpoints.schemes.models import Role, User
from tests.factories import PASSWORD, make_staff

TOKEN = "/api/v1/auth/token"
CATALOGUE = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES"


def login(password: str, **headers: str) -> dict:
    response = Client(**headers).post(
        TOKEN, {"username": "clerk", "password": password}, content_type="application/json"
    )
    assert response.status_code == 401, response.content
    return response.json()


@pytest.fixture(autouse=True)
def _default_language():
    # The test client leaves the last request's language active in this thread.
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def clerk(world) -> User:
    return make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)


# --- API errors ---------------------------------------------------------------------------


def test_a_wrong_password_is_told_in_english_when_asked(clerk):
    assert login("wrong", HTTP_ACCEPT_LANGUAGE="en") == {
        "error": {"code": "login_failed", "message": "Wrong username or password", "detail": {}}
    }
    assert login("wrong", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")["error"]["message"] == (
        "Wrong username or password"
    )


@pytest.mark.parametrize("headers", [{}, {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}])
def test_a_wrong_password_is_told_in_chinese_by_default(clerk, headers):
    assert login("wrong", **headers)["error"] == {
        "code": "login_failed",
        "message": "用户名或密码错误",
        "detail": {},
    }


@pytest.mark.parametrize(
    ("language", "message", "field_message"),
    [
        ("en", "Invalid input: password is required", "is required"),
        ("zh-CN", "输入有误：password 必填", "必填"),
    ],
)
def test_validation_errors_follow_the_request_language(db, language, message, field_message):
    response = Client(HTTP_ACCEPT_LANGUAGE=language).post(
        TOKEN, {"username": "clerk"}, content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_input",
        "message": message,
        "detail": {"errors": [{"field": "password", "message": field_message}]},
    }


def test_our_own_validator_messages_are_translated_too(world):
    # A message raised inside a validator (not one of pydantic's) is translated when raised.
    user = make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme)
    token = Client().post(
        TOKEN, {"username": user.username, "password": PASSWORD}, content_type="application/json"
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token.json()['token']}", HTTP_ACCEPT_LANGUAGE="en")

    response = client.post(
        "/api/v1/ledger/adjustments",
        {"household": 1, "points": "5", "reason": "test"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="i18n-1",
    )

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "Invalid input: points must be a JSON number, not a string"
    )


# --- pages ---------------------------------------------------------------------------------


def test_the_login_page_reads_in_english_when_asked(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/login/").content.decode()

    assert '<html lang="en">' in page
    assert "<title>Log in · Civic Points</title>" in page
    assert "<h1>Staff login</h1>" in page
    assert '<label for="username">Username</label>' in page
    assert '<label for="password">Password</label>' in page
    # The language switch names each language in itself ("中文"), as switches do.
    switch = '<button type="submit" name="language" value="zh-hans" lang="zh-Hans"'
    assert switch in page
    rest = re.sub(r'<form class="lang".*?</form>', "", page, flags=re.S)
    assert not re.search(r"[\u4e00-\u9fff]", rest), "Chinese left on the English login page"


def test_the_login_page_reads_in_chinese_for_chinese_browsers(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-CN").get("/login/").content.decode()

    assert '<html lang="zh-Hans">' in page
    assert "<title>登录 · 文明积分</title>" in page
    assert "<h1>工作人员登录</h1>" in page
    assert '<label for="username">用户名</label>' in page
    assert '<label for="password">密码</label>' in page


def test_a_wrong_password_on_the_login_page_is_told_in_english(clerk):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/login/", {"username": "clerk", "password": "wrong"}
    )

    assert "Wrong username or password" in response.content.decode()


def test_the_admin_names_our_apps_and_models_in_english(db):
    admin = User.objects.create_superuser(username="root", password=PASSWORD)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin)

    page = client.get("/admin/").content.decode()

    for name in ("Regions and points schemes", "Households", "Audit log", "Role grant", "Staff"):
        assert name in page
    for name in ("行政区划与积分方案", "农户", "审计日志", "角色授权"):
        assert name not in page


# --- import row messages ---------------------------------------------------------------------


def test_import_row_messages_stay_chinese_by_default_and_follow_english():
    valid = idcard.make("22082219900307123")
    wrong_check = valid[:17] + ("0" if valid[17] != "0" else "1")

    assert str(ImportIssue(idcard.problem(wrong_check) or "", 12)) == "第12行：身份证校验位错误"
    with pytest.raises(FileProblem) as refused:
        read_table(b"")
    assert str(refused.value.issue) == "文件是空的，请选择填好的农户表格"

    with translation.override("en"):
        assert str(ImportIssue(idcard.problem(wrong_check) or "", 12)) == (
            "Row 12: The ID number's check digit is wrong"
        )
        with pytest.raises(FileProblem) as refused:
            read_table(b"")
        assert str(refused.value.issue) == (
            "The file is empty; please choose a filled-in household sheet"
        )


# --- the catalogue itself (project rule) ---------------------------------------------------------


def _po_entries(text: str) -> list[dict]:
    """Entries of a .po file: flags, msgid, msgid_plural and msgstr / msgstr[n], unescaped."""
    entries: list[dict] = []
    entry: dict = {"flags": ""}
    key = ""
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if "msgid" in entry:
                entries.append(entry)
            entry, key = {"flags": ""}, ""
        elif line.startswith("#,"):
            entry["flags"] += line[2:]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += _unquote(line)
        else:
            key, _, value = line.partition(" ")
            entry[key] = _unquote(value)
    return entries


def _unquote(quoted: str) -> str:
    body = quoted.strip()[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), body)


def test_the_english_catalogue_is_complete_and_compiled():
    """Every msgid has English, nothing fuzzy, and the committed .mo says what the .po says."""
    po = CATALOGUE / "django.po"
    entries = _po_entries(po.read_text(encoding="utf-8"))
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "Language: en" in header["msgstr"]
    assert len(messages) > 100
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []
    untranslated = [
        e["msgid"]
        for e in messages
        if not all(v for k, v in e.items() if k.startswith("msgstr"))
        or ("msgid_plural" in e and not {"msgstr[0]", "msgstr[1]"} <= set(e))
    ]
    assert untranslated == []

    # The .mo is what the app reads: it must hold exactly the .po's translations.
    with (CATALOGUE / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for e in messages:
        if "msgid_plural" in e:
            expected.update({(e["msgid"], n): e[f"msgstr[{n}]"] for n in (0, 1)})
        else:
            expected[e["msgid"]] = e["msgstr"]
    assert {k: v for k, v in compiled.items() if k != ""} == expected, (
        "django.mo is stale: run civicpoints compilemessages (see docs/operations.md)"
    )

    if shutil.which("msgfmt"):
        # Placeholders (%(n)d, {max_length}) must match between msgid and msgstr.
        check = subprocess.run(
            ["msgfmt", "--check", "-o", "/dev/null", str(po)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
