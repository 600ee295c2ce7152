"""English through Accept-Language: API errors, staff pages and the admin; Chinese stays the default.

The msgids are the Chinese texts, so Chinese output is the source text itself and English comes
from ``locale/en/LC_MESSAGES`` (the .po and its compiled .mo, both committed).
"""

from __future__ import annotations

import ast
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
        # gettext keys a message with a context as "context\x04msgid"
        key = f"{e['msgctxt']}\x04{e['msgid']}" if "msgctxt" in e else e["msgid"]
        if "msgid_plural" in e:
            expected.update({(key, n): e[f"msgstr[{n}]"] for n in (0, 1)})
        else:
            expected[key] = e["msgstr"]
    assert {k: v for k, v in compiled.items() if k != ""} == expected, (
        "django.mo is stale: run civicpoints compilemessages (see docs/operations.md)"
    )

    if shutil.which("msgfmt"):
        # Placeholders (%(n)d, {max_length}) must match between msgid and msgstr.
        check = subprocess.run(
            ["msgfmt", "--check", "-o", "/dev/null", str(po)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr


# --- no bare Chinese in the code (project rule) ----------------------------------------------
# Every message goes through gettext, so English can follow. A Chinese string literal outside
# _() / gettext_lazy / ngettext / pgettext is a message nobody can translate, unless it is data
# (named below, with the reason) or documentation (docstrings, --help, the OpenAPI schema).

SRC = Path(__file__).resolve().parents[1] / "src" / "civicpoints"
CJK = re.compile(r"[\u3001-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
GETTEXT = frozenset(
    {
        *("_", "gettext", "gettext_lazy", "gettext_noop"),
        *("ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"),
    }
)
# Keyword arguments (and class attributes) that document, not speak: a command's --help and
# the OpenAPI schema's descriptions, written once in Chinese like the docstrings.
DOCUMENTATION = frozenset({"help", "description", "summary"})
# Regular expressions (re.compile(...), re.sub(...)) match what people type.
PATTERNS = frozenset({"compile", "search", "match", "fullmatch", "sub", "subn", "split"})
# Text the code writes into the database (posting memos, claim notes, event reasons) stays
# Chinese whatever the request's language, like the names it quotes: it is data, read later by
# anyone, and the ledger's memos are hashed into the chain. Its templates sit in a module's
# STORED_TEXT.
STORED = "STORED_TEXT"
# Chinese that is data, not a message. A whole file, or one named constant in a file.
NOT_MESSAGES: dict[str | tuple[str, str], str] = {
    "demo/county.py": "the demo county's places, people, deeds and texts (seed data)",
    "demo/spending.py": "the demo stores' goods and the demo merchant (seed data)",
    "demo/activities.py": "the demo activities (seed data)",
    "demo/credit.py": "the demo lender (seed data)",
    "demo/community.py": "the demo announcements and feedback (seed data)",
    "demo/honours.py": "the demo campaigns, reasons and ceremony (seed data)",
    "rules/catalogue.py": "the demo points standard: rule names and categories (seed data)",
    "households/pinyin.py": "surnames with more than one reading (search data)",
    ("activities/selectors.py", "MUTUAL_HELP_CATEGORY"): "a rule category as the standard names it",
    ("stores/models.py", "DEFAULT_UNIT"): "a product's unit is data the store types; the default",
    ("api/schemas.py", "_COMMON_ERRORS"): "the OpenAPI schema's common answers (documentation)",
    **{
        ("awards/importing/sheet.py", name): "the evaluation sheet's columns and sheets: a file "
        "format (the county's Chinese forms), the same in every language so exports import again"
        for name in ("COLUMNS", "EXPORT_HEADERS", "WIDTHS", "SHEETS")
    },
    **{
        ("households/importing/reading.py", name): "the household sheet's columns and how "
        "its cells are written: a file format, read the same in every language"
        for name in ("COLUMNS", "HEADER_SPELLING", "CELL_YES_NO")
    },
    ("households/importing/checking.py", "STATUS_BY_LABEL"): "statuses as the sheet writes them",
    "households/importing/sample.py": "the blank household sheet: headers and a sample row",
    ("community/transparency.py", "COMPOUND_SURNAMES"): "two-character surnames (name data)",
    ("stores/ceremony_list.py", "LIST_COLUMNS"): "the uploaded list's headers (file format)",
    ("reports/outcomes.py", "OUTCOME_COLUMNS"): "the outcome sheet's headers (file format)",
    ("reports/outcomes.py", "MONTH_SPELLING"): "how people write a month (input)",
    **{
        (
            "merchants/settlement/payout_files.py",
            name,
        ): "the bank's batch payment file (the bank's format)"
        for name in ("PAYOUT_HEADERS", "PAYOUT_FILE")
    },
    ("notifications/events.py", "SIGN"): "the SMS signature as registered with the carrier",
    ("notifications/inbound.py", "COMMANDS"): "the words residents text in (input)",
    ("risk/rules.py", "NON_REASONS"): "stocktake reasons that say nothing, as clerks type them",
}


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def bare_chinese(source: str, allowed: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """(line, text) of each Chinese string constant that is no gettext argument, docstring,
    documentation or pattern; ``allowed`` names module or class constants that hold data."""
    tree = ast.parse(source)
    exempt: set[int] = set()

    def exempt_all(node: ast.AST) -> None:
        exempt.update(id(n) for n in ast.walk(node) if not isinstance(n, ast.JoinedStr))

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                exempt.add(id(first.value))
        if isinstance(node, ast.Module | ast.ClassDef):
            for statement in node.body:
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [statement.target]
                    if isinstance(statement, ast.AnnAssign)
                    else []
                )
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                documents = isinstance(node, ast.ClassDef) and names & DOCUMENTATION
                if names & (allowed | {STORED}) or documents:
                    exempt_all(statement)
        if isinstance(node, ast.Dict):  # {"description": ...} in a JSON schema
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in DOCUMENTATION:
                    exempt_all(value)
        if isinstance(node, ast.Call):
            if _name(node.func) in GETTEXT:
                exempt.update(id(a) for a in node.args if isinstance(a, ast.Constant))
            for keyword in node.keywords:
                if keyword.arg in DOCUMENTATION:
                    exempt_all(keyword.value)
            func = node.func
            regex = isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "re"
            if regex and _name(func) in PATTERNS and node.args:
                exempt_all(node.args[0])
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and CJK.search(node.value)
        and id(node) not in exempt
    )


PLANTED_CHINESE = '''
"""模块说明（文档字符串，不算）。"""
from django.utils.translation import gettext as _, gettext_lazy, pgettext

LABELS = {"day": "每日"}
COLUMNS = ("乡镇", "村")
STORED_TEXT = {"note": "志愿活动「%(title)s」"}


def refuse(n, name):
    """函数说明。"""
    _("数量必须大于0")
    gettext_lazy("每月")
    pgettext("月份", "一月")
    raise invalid("数量太大", field="quantity")
    raise invalid(f"最多{n}张照片")
    raise invalid(_(f"最多{n}张照片"))
    parser.add_argument("--at", help="按这个时间运行")
    schema = {"type": "number", "description": "积分", "title": "分数"}
    words = re.compile(r"[年月日]")
    return "、".join(name)


class Command:
    help = "导入考评表"
    label = "考评表"
'''


def test_the_rule_finds_bare_chinese_in_a_planted_module():
    found = bare_chinese(PLANTED_CHINESE, allowed=frozenset({"COLUMNS"}))

    assert found == [
        (5, "每日"),  # a constant not named as data
        (15, "数量太大"),  # a message passed bare
        (16, "张照片"),  # an f-string's pieces
        (16, "最多"),
        (17, "张照片"),  # an f-string inside _() cannot be looked up either
        (17, "最多"),
        (19, "分数"),  # only descriptions document
        (21, "、"),  # punctuation is language too
        (26, "考评表"),  # a class attribute that is not documentation
    ]


def test_every_chinese_string_in_the_code_goes_through_gettext():
    assert all(reason for reason in NOT_MESSAGES.values())
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if "migrations" in rel.split("/") or rel in NOT_MESSAGES:
            continue
        allowed = frozenset(k[1] for k in NOT_MESSAGES if isinstance(k, tuple) and k[0] == rel)
        found += [
            f"{rel}:{line}: {text!r}" for line, text in bare_chinese(path.read_text(), allowed)
        ]
    assert found == []
