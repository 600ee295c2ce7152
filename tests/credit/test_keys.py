"""Signing keys: keygen, rotate and compromise (audited), their publication at /open/keys.json
and on the village page, and what a lender runs: ``civicpoints statement verify`` and the
Python and Node lines of docs/credit.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from civicpoints.audit.describe import describe
from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.credit import keys as signing_keys
from civicpoints.credit.models import SigningKey
from civicpoints.credit.signing import TYPE, envelope, fingerprint
from civicpoints.errors import ApplicationError, ErrorCode
from tests.factories import World

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "credit.md").read_text(encoding="utf-8")


def statement_file(world: World) -> bytes:
    key, sign = signing_keys.active_signer(scheme_id=world.scheme.pk)
    body = {
        "type": TYPE,
        "v": 1,
        "code": "TESTCODE",
        "issuer": {"scheme": world.scheme.pk, "name": world.scheme.name, "kid": key.kid},
        "years": [{"year": 2026, "net_total": "12.00"}],
    }
    return envelope(body, kid=key.kid, sign=sign)


@pytest.fixture
def keyed(world: World) -> World:
    call_command("statement", "keygen", "--scheme", str(world.scheme.pk))
    return world


def test_keygen_makes_one_audited_key_and_no_private_material_is_stored(keyed):
    key = SigningKey.objects.get(scheme=keyed.scheme)
    assert len(bytes(key.public_key)) == 32 and key.retired_at is None
    event = AuditEvent.objects.get(action=AuditAction.CREDIT_SIGNING_KEY)
    assert event.detail == {"kid": key.kid, "event": "keygen"}
    assert event.region_id == keyed.county.pk
    [line] = describe([event])
    assert line.what == "报告签名密钥变更" and ("变更", "生成密钥") in line.detail
    with pytest.raises(CommandError):  # a second keygen: rotate instead
        call_command("statement", "keygen", "--scheme", str(keyed.scheme.pk))
    assert SigningKey.objects.count() == 1


def test_no_key_means_signing_is_unavailable(world):
    with pytest.raises(ApplicationError) as refused:
        signing_keys.active_signer(scheme_id=world.scheme.pk)
    assert refused.value.code == ErrorCode.SIGNING_UNAVAILABLE
    assert refused.value.status == 503


def test_a_retired_key_still_verifies_and_a_compromised_one_does_not(keyed, tmp_path):
    old = statement_file(keyed)
    call_command("statement", "rotate", "--scheme", str(keyed.scheme.pk))
    first, second = SigningKey.objects.order_by("pk")
    assert first.retired_at is not None and second.retired_at is None
    assert first.kid != second.kid
    new = statement_file(keyed)
    assert json.loads(new)["kid"] == second.kid

    path = tmp_path / "old.json"
    path.write_bytes(old)
    call_command("statement", "verify", str(path))  # retired: still genuine

    call_command("statement", "compromised", first.kid)
    with pytest.raises(CommandError) as refused:
        call_command("statement", "verify", str(path))
    assert refused.value.returncode == 1 and "密钥已泄露" in str(refused.value)
    events = AuditEvent.objects.filter(action=AuditAction.CREDIT_SIGNING_KEY).order_by("pk")
    assert [e.detail["event"] for e in events] == ["keygen", "rotate", "compromised"]


def test_a_file_key_is_written_0600_and_loaded_back(world, tmp_path, settings):
    settings.STATEMENT_KEYS_DERIVED = False
    settings.STATEMENT_KEY_DIR = tmp_path / "keys"
    key = signing_keys.signing_key_create(scheme=world.scheme)
    pem = tmp_path / "keys" / f"{key.kid}.pem"
    assert pem.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in pem.read_bytes()
    assert signing_keys.active_signer(scheme_id=world.scheme.pk)[0] == key
    pem.unlink()  # the key directory lost: no signing, never a made-up key
    with pytest.raises(ApplicationError):
        signing_keys.active_signer(scheme_id=world.scheme.pk)


def test_keys_json_publishes_public_keys_only(keyed):
    response = Client().get("/open/keys.json")

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    [entry] = response.json()["keys"]
    key = SigningKey.objects.get()
    assert set(entry) == {
        *("kty", "crv", "alg", "use", "kid", "x", "scheme", "scheme_name"),
        *("created_at", "retired_at", "compromised_at", "fingerprint", "pem"),
    }
    assert (entry["kty"], entry["crv"], entry["kid"]) == ("OKP", "Ed25519", key.kid)
    assert entry["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in response.content.decode() and '"d"' not in response.content.decode()
    private = signing_keys.private_key_for(key)
    assert private is not None
    from civicpoints.credit.signing import b64url

    seed = private.private_bytes_raw()
    assert b64url(seed) not in response.content.decode()
    assert seed.hex() not in response.content.decode()


def test_the_village_page_shows_the_key_box(keyed):
    key = SigningKey.objects.get()

    page = Client().get(f"/open/{keyed.village_a1.code}/").content.decode()

    assert "报告签名公钥" in page
    assert key.kid in page and fingerprint(bytes(key.public_key)) in page
    assert "/open/keys.json" in page


def test_the_village_page_says_when_there_is_no_key(world):
    page = Client().get(f"/open/{world.village_a1.code}/").content.decode()
    assert "本县还没有启用报告签名密钥" in page


# --- what a lender runs ----------------------------------------------------------------------


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVICPOINTS_TESTING": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


@pytest.fixture
def files(keyed, tmp_path) -> tuple[Path, Path, Path]:
    good = tmp_path / "statement.json"
    good.write_bytes(statement_file(keyed))
    bad = tmp_path / "changed.json"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    keys = tmp_path / "keys.json"
    keys.write_bytes(Client().get("/open/keys.json").content)
    return good, bad, keys


def test_the_verify_command_exits_0_for_a_genuine_file_and_1_for_a_changed_byte(files):
    good, bad, keys = files
    command = [sys.executable, "-m", "civicpoints.cli", "statement", "verify"]

    ok = _run([*command, str(good), "--keys", str(keys)])
    assert ok.returncode == 0, ok.stderr
    assert "签名有效" in ok.stdout and "TESTCODE" in ok.stdout

    changed = _run([*command, str(bad), "--keys", str(keys)])
    assert changed.returncode == 1
    assert "签名无效" in changed.stderr

    as_json = _run([*command, str(good), "--keys", str(keys), "--json"])
    assert json.loads(as_json.stdout)["statement"]["code"] == "TESTCODE"


def _block(marker: str, language: str) -> str:
    found = re.search(rf"<!-- {re.escape(marker)}.*?-->\n```{language}\n(.*?)```", DOC, re.S)
    assert found, marker
    return found[1]


def test_the_docs_python_lines_verify(files, tmp_path):
    good, bad, keys = files
    script = tmp_path / "verify_statement.py"
    script.write_text(_block("verify_statement.py", "python"), encoding="utf-8")

    ok = _run([sys.executable, str(script), str(good), str(keys)])
    assert ok.returncode == 0, ok.stderr
    assert "签名有效" in ok.stdout
    assert _run([sys.executable, str(script), str(bad), str(keys)]).returncode != 0


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")
def test_the_docs_node_lines_verify(files, tmp_path):
    good, bad, keys = files
    script = tmp_path / "verify_statement.js"
    script.write_text(_block("verify_statement.js", "js"), encoding="utf-8")

    ok = _run(["node", str(script), str(good), str(keys)])
    assert ok.returncode == 0, ok.stderr
    assert "签名有效" in ok.stdout
    assert _run(["node", str(script), str(bad), str(keys)]).returncode != 0
