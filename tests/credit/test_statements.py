"""Signed statements: issued under a live consent with an Idempotency-Key, downloaded as the exact
file ``civicpoints statement verify`` reads (exit 0; one changed byte, exit 1), printed on A4
with only the consented personal data, checked in public at ``/s/<code>/``; every use in the
household's history; after a revoke, 404 and nothing written; no signing key, 503."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from civicpoints.audit.describe import describe
from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.credit.consents import consent_revoke
from civicpoints.credit.keys import known_keys
from civicpoints.credit.lenders import lender_key_issue
from civicpoints.credit.models import ConsentChannel, ConsentUse, ConsentUseKind, Statement
from civicpoints.credit.signing import statement_verify
from civicpoints.households import crypto, idcard
from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.chain import chain_follow
from civicpoints.schemes.scope import actor_for_user
from tests.api.conftest import assert_error
from tests.credit.conftest import PIN, Credit, grant, make_lender
from tests.factories import fund, make_household

ROOT = Path(__file__).resolve().parents[2]
ID_NUMBER = idcard.make("22082219800101123")
_keys = iter(range(10**6))


@pytest.fixture
def home(credit: Credit) -> Household:
    household = make_household(
        credit.world.scheme,
        credit.world.village_a1,
        "张三明",
        phone="13912345678",
        address="晓光村三组12号",
        id_number=ID_NUMBER,
    )
    household_set_pin(actor_id=None, household=household, pin=PIN)
    household.refresh_from_db()
    return household


@pytest.fixture
def signed(credit: Credit) -> Credit:
    call_command("statement", "keygen", "--scheme", str(credit.world.scheme.pk))
    return credit


def issue(credit: Credit, ref: str, *, key: str | None = None, body: str = "{}", client=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key != "" else {}
    if key is None:
        headers = {"HTTP_IDEMPOTENCY_KEY": f"stmt-{next(_keys)}"}
    return (client or credit.lender_client()).post(
        f"/api/v1/lender/consents/{ref}/statements",
        body,
        content_type="application/json",
        **headers,
    )


def state() -> dict:
    return {
        "statements": list(Statement.objects.order_by("pk").values_list("pk", flat=True)),
        "uses": ConsentUse.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def verify_cli(path: Path, keys: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVICPOINTS_TESTING": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "civicpoints.cli", "statement", "verify", str(path)]
    return subprocess.run(
        [*command, "--keys", str(keys)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def test_an_issued_statement_verifies_and_one_changed_byte_fails(signed, home, tmp_path):
    fund(home, 12750)
    chain_follow(scheme_id=signed.world.scheme.pk, sweep=True)
    consent = grant(signed, home)

    made = issue(signed, consent.ref)

    assert made.status_code == 201, made.content
    answer = made.json()
    code = answer["code"]
    download = signed.lender_client().get(f"/api/v1/lender/statements/{code}")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/json"
    data = download.content
    assert data == (answer["file"] + "\n").encode() and data.endswith(b"}\n")
    good = tmp_path / "statement.json"
    good.write_bytes(data)
    keys = tmp_path / "keys.json"
    keys.write_bytes(Client().get("/open/keys.json").content)

    ok = verify_cli(good, keys)
    assert ok.returncode == 0, ok.stderr
    assert "签名有效" in ok.stdout and code in ok.stdout

    changed = bytearray(data)
    changed[len(changed) // 3] ^= 0x01
    bad = tmp_path / "changed.json"
    bad.write_bytes(bytes(changed))
    refused = verify_cli(bad, keys)
    assert refused.returncode == 1

    payload = statement_verify(data, known_keys())
    assert payload["code"] == code and payload["lender"]["name"] == "通榆农商银行"
    assert payload["issuer"]["keys_url"].endswith("/open/keys.json")
    assert payload["years"][-1]["net_total"] == "127.50"
    stored = Statement.objects.get(code=code)
    assert crypto.decrypt(stored.payload_encrypted).encode() == data
    assert stored.payload_sha256 == answer["payload_sha256"] and stored.kid == answer["kid"]
    assert ID_NUMBER not in stored.payload_encrypted


def test_a_replay_gives_the_same_statement_and_a_key_is_required(signed, home):
    consent = grant(signed, home)
    first = issue(signed, consent.ref, key="loan-2026-001")
    before = state()

    again = issue(signed, consent.ref, key="loan-2026-001")

    assert again.status_code == 201 and again["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert state() == before
    assert_error(issue(signed, consent.ref, key=""), 400, "idempotency_key_missing")
    assert_error(issue(signed, consent.ref, body='{"fields": ["id_number"]}'), 422)
    assert_error(issue(signed, consent.ref, body="[]"), 422)
    assert_error(issue(signed, consent.ref, body="{"), 400)
    neighbour = make_household(signed.world.scheme, signed.world.village_a1, "李四")
    household_set_pin(actor_id=None, household=neighbour, pin=PIN)
    neighbour.refresh_from_db()
    other = grant(signed, neighbour)
    before = state()
    assert_error(issue(signed, other.ref, key="loan-2026-001"), 422, "idempotency_key_reused")
    assert state() == before


def test_a_revoke_stops_download_print_and_issue_and_writes_nothing(signed, home):
    consent = grant(signed, home)
    code = issue(signed, consent.ref).json()["code"]
    client = signed.lender_client()
    assert client.get(f"/api/v1/lender/statements/{code}").status_code == 200
    consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)
    before = state()

    answers = [
        client.get(f"/api/v1/lender/statements/{code}"),
        client.get(f"/api/v1/lender/statements/{code}/print"),
        issue(signed, consent.ref),
    ]

    for answer in answers:
        assert_error(answer, 404, "not_found")
    assert len({a.content for a in answers}) == 1
    assert state() == before


def test_every_other_failure_is_the_same_404(signed, home):
    consent = grant(signed, home)
    code = issue(signed, consent.ref).json()["code"]
    other = make_lender(signed.world, signed.admin, name="吉林银行", code="91350100M000100Y43")
    raw, _ = lender_key_issue(actor=actor_for_user(signed.admin), lender=other)
    stranger = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    before = state()

    answers = [
        stranger.get(f"/api/v1/lender/statements/{code}"),
        stranger.get(f"/api/v1/lender/statements/{code}/print"),
        issue(signed, consent.ref, client=stranger),
        signed.lender_client().get("/api/v1/lender/statements/" + "0" * 20),
        signed.lender_client().get("/api/v1/lender/statements/not-a-code"),
        signed.lender_client().get("/api/v1/lender/statements/" + "x" * 300 + "/print"),
        issue(signed, "0" * 16),
    ]

    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1
    assert state() == before
    assert Client().get(f"/api/v1/lender/statements/{code}").status_code == 401


def test_no_signing_key_is_503_and_writes_nothing(credit, home):
    consent = grant(credit, home)
    before = state()

    refused = issue(credit, consent.ref)

    assert_error(refused, 503, "signing_unavailable")
    assert state() == before


def test_the_sixth_statement_in_a_day_is_429(signed, home):
    consent = grant(signed, home)
    for _ in range(5):
        assert issue(signed, consent.ref).status_code == 201
    before = state()

    refused = issue(signed, consent.ref)

    assert_error(refused, 429, "rate_limited")
    assert refused["Retry-After"]
    assert state() == before


@pytest.mark.parametrize("fields", [[], ["phone"], ["id_number", "address"]])
def test_the_print_page_holds_only_the_consented_personal_data(signed, home, fields):
    consent = grant(signed, home, fields=fields)
    code = issue(signed, consent.ref).json()["code"]

    page = signed.lender_client().get(f"/api/v1/lender/statements/{code}/print")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert "张三明" in html and "<svg" in html and f"/s/{code}/" in html
    assert "statement-print.css" in html
    assert "<style" not in html and " style=" not in html and "<script>" not in html
    assert "onclick" not in html
    assert (ID_NUMBER in html) == ("id_number" in fields)
    assert ("13912345678" in html) == ("phone" in fields)
    assert ("三组12号" in html) == ("address" in fields)
    assert "default-src" in page.get("Content-Security-Policy", "default-src")


def test_the_check_page_says_genuine_and_shrinks_after_a_revoke(signed, home):
    fund(home, 12750)
    chain_follow(scheme_id=signed.world.scheme.pk, sweep=True)
    consent = grant(signed, home, fields=["phone"])
    code = issue(signed, consent.ref).json()["code"]

    live = Client(REMOTE_ADDR="10.0.0.1").get(f"/s/{code}/")
    assert live.status_code == 200 and live["Cache-Control"] == "no-store"
    html = live.content.decode()
    assert "签名有效" in html and "授权仍然有效" in html and "127.50" in html
    assert "张三明" not in html and "13912345678" not in html
    assert Statement.objects.get(code=code).payload_sha256 in html

    consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)
    after = Client(REMOTE_ADDR="10.0.0.2").get(f"/s/{code.lower()}/").content.decode()
    assert "签名有效" in after and "已撤销" in after and "127.50" not in after

    missing = Client().get("/s/" + "0" * 20 + "/")
    assert missing.status_code == 404 and "没有这份报告" in missing.content.decode()
    checks = ConsentUse.objects.filter(kind=ConsentUseKind.QR_CHECK)
    assert checks.count() == 2
    Client(REMOTE_ADDR="10.0.0.2").get(f"/s/{code}/")  # the same viewer again: throttled
    assert checks.count() == 2


def test_the_household_sees_every_use_and_the_audit_names_no_values(signed, home):
    consent = grant(signed, home, fields=["id_number"])
    code = issue(signed, consent.ref).json()["code"]
    client = signed.lender_client()
    client.get(f"/api/v1/lender/statements/{code}")
    client.get(f"/api/v1/lender/statements/{code}/print")
    Client(REMOTE_ADDR="10.9.9.9").get(f"/s/{code}/")

    kinds = list(
        ConsentUse.objects.filter(statement__code=code)
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["statement_issue", "statement_download", "statement_print", "qr_check"]
    events = AuditEvent.objects.filter(
        action__in=[
            AuditAction.CREDIT_STATEMENT_ISSUE,
            AuditAction.CREDIT_STATEMENT_DOWNLOAD,
            AuditAction.CREDIT_STATEMENT_CHECK,
        ]
    )
    assert events.count() == 4 and ID_NUMBER not in str(list(events.values_list("detail")))
    lines = describe(list(events.order_by("pk")))
    assert [line.what for line in lines] == [
        "出具签名积分报告",
        "下载或打印签名积分报告",
        "下载或打印签名积分报告",
        "扫码核验签名积分报告",
    ]
    assert ("方式", "打印页") in lines[2].detail

    phone = Client()
    phone.post("/m/login/", {"card": home.card_code, "pin": PIN})
    page = phone.get("/m/credit/").content.decode()
    for words in ("出具了签名报告", "下载了签名报告", "打印了签名报告", "扫码核验了报告"):
        assert f"通榆农商银行 {words}" in page, words
    assert ID_NUMBER not in page


def test_the_docs_python_snippet_verifies_a_real_statement(signed, home, tmp_path):
    from tests.credit.test_keys import _block

    consent = grant(signed, home, fields=["address"])
    code = issue(signed, consent.ref).json()["code"]
    statement = tmp_path / "statement.json"
    statement.write_bytes(signed.lender_client().get(f"/api/v1/lender/statements/{code}").content)
    keys = tmp_path / "keys.json"
    keys.write_bytes(Client().get("/open/keys.json").content)
    script = tmp_path / "verify_statement.py"
    script.write_text(_block("verify_statement.py", "python"), encoding="utf-8")

    ran = subprocess.run(
        [sys.executable, str(script), str(statement), str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 0, ran.stderr
    assert "签名有效" in ran.stdout and "晓光村三组12号" in ran.stdout


def test_the_household_keeps_its_own_copy_and_no_one_else_sees_it(signed, home):
    consent = grant(signed, home, fields=["phone"])
    code = issue(signed, consent.ref).json()["code"]
    phone = Client()
    phone.post("/m/login/", {"card": home.card_code, "pin": PIN})
    listed = phone.get("/m/credit/").content.decode()
    assert "对方取得的签名报告" in listed and f"/m/credit/statements/{code}/" in listed
    before = state()

    copy = phone.get(f"/m/credit/statements/{code}/")

    assert copy.status_code == 200 and copy["Cache-Control"] == "no-store"
    assert "13912345678" in copy.content.decode() and f"/s/{code}/" in copy.content.decode()
    assert state() == before  # the household reading its own copy is no lender's use
    neighbour = make_household(signed.world.scheme, signed.world.village_a1, "李四")
    household_set_pin(actor_id=None, household=neighbour, pin=PIN)
    other = Client()
    other.post("/m/login/", {"card": neighbour.card_code, "pin": PIN})
    assert other.get(f"/m/credit/statements/{code}/").status_code == 404
    assert "对方取得的签名报告" not in other.get("/m/credit/").content.decode()
