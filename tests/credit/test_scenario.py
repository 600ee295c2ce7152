"""The whole 文明积分贷 story, as the issue tells it, through the pages and the API a household
and a lender use: the household earns points; consents on its phone (PIN, phone number ticked);
the lender lists and fetches the record, has a statement signed, downloads and prints it; the
file verifies offline with ``civicpoints statement verify`` and one changed byte does not; the
household revokes; the lender's next fetch, download, print and issue are 404 and write nothing;
the household's history lists every use, newest first."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command
from django.test import Client

from civicpoints.credit.consents import ref_display
from civicpoints.credit.models import Consent, ConsentUse, Statement
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.verify import verify_head
from tests.api.conftest import assert_error
from tests.credit.conftest import PIN
from tests.factories import fund

ROOT = Path(__file__).resolve().parents[2]


def verify(path: Path, keys: Path) -> subprocess.CompletedProcess[str]:
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


def test_earn_consent_fetch_sign_verify_tamper_revoke_and_see_it_all(credit, home, tmp_path):
    scheme = credit.world.scheme
    call_command("statement", "keygen", "--scheme", str(scheme.pk))
    # 1. The household earns points (and the chain follows them).
    fund(home, 8000)
    fund(home, 4550)
    chain_follow(scheme_id=scheme.pk, sweep=True)

    # 2. It consents on its phone: the lender, 6 months, the phone number line, the PIN.
    phone = Client()
    assert phone.post("/m/login/", {"card": home.card_code, "pin": PIN}).status_code == 302
    choice = {"lender": credit.lender.pk, "months": "6", "fields": ["phone"]}
    confirm = html.unescape(
        phone.post("/m/credit/new/", {"step": "confirm", **choice}).content.decode()
    )
    assert "同时提供：手机号。" in confirm and "不提供：户主身份证号。" in confirm
    key = re.search(r'name="key" value="([^"]+)"', confirm)[1]
    done = phone.post("/m/credit/new/", {"step": "grant", "key": key, "pin": PIN, **choice})
    assert done.status_code == 302
    consent = Consent.objects.get()
    assert ref_display(consent.ref) in phone.get(done["Location"]).content.decode()
    assert consent.fields == ["phone"]

    # 3. The lender, with its own key, lists its consents and reads the record.
    lender = credit.lender_client()
    listed = lender.get("/api/v1/lender/consents").json()["items"]
    assert [c["ref"] for c in listed] == [consent.ref]
    record = lender.get(f"/api/v1/lender/consents/{consent.ref}").json()
    assert record["years"][-1]["net_total"] == "125.50"
    assert record["household"]["phone"] == home.phone and "id_number" not in record["household"]
    assert verify_head(seq=record["ledger"]["seq"], hash=record["ledger"]["hash"]).ok

    # 4. It has a statement signed, downloads and prints it.
    made = lender.post(
        f"/api/v1/lender/consents/{consent.ref}/statements",
        "{}",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="loan-application-77",
    )
    assert made.status_code == 201, made.content
    code = made.json()["code"]
    data = lender.get(f"/api/v1/lender/statements/{code}").content
    printed = lender.get(f"/api/v1/lender/statements/{code}/print").content.decode()
    assert "125.50" in printed and home.phone in printed and f"/s/{code}/" in printed

    # 5. Offline: the file verifies; one changed byte does not.
    good, bad, keys = tmp_path / "s.json", tmp_path / "t.json", tmp_path / "keys.json"
    good.write_bytes(data)
    tampered = bytearray(data)
    tampered[-10] ^= 0x01
    bad.write_bytes(bytes(tampered))
    keys.write_bytes(Client().get("/open/keys.json").content)
    ok = verify(good, keys)
    assert ok.returncode == 0 and "签名有效" in ok.stdout, ok.stderr
    assert verify(bad, keys).returncode == 1

    # 6. Someone scans the printed QR.
    check = Client(REMOTE_ADDR="192.0.2.7").get(f"/s/{code}/").content.decode()
    assert "签名有效" in check and "授权仍然有效" in check

    # 7. The household revokes on its phone; the lender's next calls are 404 and write nothing.
    assert phone.post(f"/m/credit/{consent.ref}/revoke/").status_code == 302
    before = (ConsentUse.objects.count(), Statement.objects.count())
    refused = [
        lender.get(f"/api/v1/lender/consents/{consent.ref}"),
        lender.get(f"/api/v1/lender/statements/{code}"),
        lender.get(f"/api/v1/lender/statements/{code}/print"),
        lender.post(
            f"/api/v1/lender/consents/{consent.ref}/statements",
            "{}",
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="loan-application-78",
        ),
    ]
    for answer in refused:
        assert_error(answer, 404, "not_found")
    assert len({a.content for a in refused}) == 1
    assert lender.get("/api/v1/lender/consents").json()["items"] == []
    assert (ConsentUse.objects.count(), Statement.objects.count()) == before

    # 8. The household's history lists every use, newest first.
    history = html.unescape(phone.get("/m/credit/").content.decode())
    name = credit.lender.name
    expected = [
        f"{name} 撤销授权",
        f"{name} 扫码核验了报告",
        f"{name} 打印了签名报告（含手机号）",
        f"{name} 下载了签名报告（含手机号）",
        f"{name} 出具了签名报告（含手机号）",
        f"{name} 查看了积分记录（含手机号）",
        f"{name} 授权（含手机号）",
    ]
    positions = [history.find(line) for line in expected]
    assert -1 not in positions, [
        line for line, at in zip(expected, positions, strict=True) if at == -1
    ]
    assert positions == sorted(positions)
    assert "目前没有授权任何机构" in history
