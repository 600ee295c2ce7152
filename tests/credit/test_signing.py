"""Signed statements: the envelope round-trips, and every changed byte is refused.

``credit/signing.py`` is pure Python: these tests need no database. The key, the payload and
the changes are made here; what a lender runs (the command, the Node lines) is tested in
``test_keys.py``.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpoints.credit.signing import (
    BAD_SIGNATURE,
    COMPROMISED_KEY,
    MALFORMED,
    TYPE,
    UNKNOWN_KEY,
    PublicKey,
    StatementInvalid,
    b64url,
    canonical,
    envelope,
    keys_from_jwks,
    kid_of,
    public_raw,
    statement_verify,
    unb64url,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RAW = public_raw(KEY)
KID = kid_of(RAW)
KEYS = {KID: PublicKey(KID, RAW)}


def payload(**extra: object) -> dict:
    return {
        "type": TYPE,
        "v": 1,
        "code": "ABCD1234EFGH5678JKMN",
        "issued_at": "2026-12-05T02:00:00Z",
        "issuer": {"scheme": 1, "name": "通榆县文明积分", "kid": KID},
        "household": {"head_name": "张三", "village": {"code": "220822100201", "name": "晓光村"}},
        "years": [{"year": 2026, "net_total": "127.50", "net_by_category": {"环境卫生": "127.50"}}],
        **extra,
    }


FILE = envelope(payload(), kid=KID, sign=KEY.sign)


def reason(data: bytes, keys: dict = KEYS) -> str:
    with pytest.raises(StatementInvalid) as refused:
        statement_verify(data, keys)
    return refused.value.reason


def test_a_statement_verifies_and_gives_back_its_payload():
    assert statement_verify(FILE, KEYS) == payload()
    assert FILE.endswith(b"}\n") and FILE.count(b"\n") == 1
    assert sorted(json.loads(FILE)) == ["alg", "kid", "payload", "sig", "type"]


def test_every_byte_changed_fails():
    """XOR 0x01 at each position of the file, one at a time: none of them verifies."""
    accepted = []
    for i in range(len(FILE)):
        changed = bytearray(FILE)
        changed[i] ^= 0x01
        try:
            statement_verify(bytes(changed), KEYS)
        except StatementInvalid:
            continue
        accepted.append(i)
    assert accepted == []


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_change_of_one_byte_fails(data):
    i = data.draw(st.integers(0, len(FILE) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != FILE[i]))
    changed = bytearray(FILE)
    changed[i] = value
    assert reason(bytes(changed)) in {MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE}


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f[:-1],  # no newline
        lambda f: f + b"\n",  # two
        lambda f: f.replace(b'","', b'", "', 1),  # an added space
        lambda f: b" " + f,
        lambda f: f.replace(b"\n", b"\r\n"),
        lambda f: json.dumps(json.loads(f), sort_keys=True, indent=1).encode() + b"\n",
        lambda f: f.replace(b'"alg":"Ed25519"', b'"alg":"ed25519"'),
    ],
)
def test_a_reformatted_file_is_malformed(change):
    assert reason(change(FILE)) == MALFORMED


def test_base64_must_be_canonical():
    wrapper = json.loads(FILE)
    sig = wrapper["sig"]
    # 64 bytes are 86 characters; the last one carries 2 spare bits. Setting one decodes
    # to the same signature, and must still be refused.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]
    assert unb64url(sig) == pytest.importorskip("base64").urlsafe_b64decode(twin + "==")
    forged = canonical({**wrapper, "sig": twin}) + b"\n"
    assert reason(forged) == MALFORMED
    assert reason(canonical({**wrapper, "sig": sig + "=="}) + b"\n") == MALFORMED


def test_an_unknown_or_compromised_key_fails():
    assert reason(FILE, {}) == UNKNOWN_KEY
    assert reason(FILE, {KID: PublicKey(KID, RAW, compromised=True)}) == COMPROMISED_KEY


def test_another_key_under_the_same_kid_fails():
    other = public_raw(Ed25519PrivateKey.generate())
    assert reason(FILE, {KID: PublicKey(KID, other)}) == BAD_SIGNATURE


def test_a_payload_must_name_its_own_key_and_type():
    wrapper = json.loads(FILE)
    for body in (
        payload(issuer={"scheme": 1, "name": "x", "kid": "0" * 16}),
        {**payload(), "type": "something-else"},
        {**payload(), "v": 2},
    ):
        raw = canonical(body)
        forged = canonical({**wrapper, "payload": b64url(raw), "sig": b64url(KEY.sign(raw))})
        assert reason(forged + b"\n") == MALFORMED
    # signed, but not canonical inside
    raw = json.dumps(payload(), ensure_ascii=True).encode()
    forged = canonical({**wrapper, "payload": b64url(raw), "sig": b64url(KEY.sign(raw))})
    assert reason(forged + b"\n") == MALFORMED


def test_the_signer_refuses_a_payload_for_another_key():
    with pytest.raises(ValueError):
        envelope(payload(issuer={"kid": "0" * 16}), kid=KID, sign=KEY.sign)


def test_keys_from_a_jwk_set_check_their_kid():
    x = b64url(RAW)
    found = keys_from_jwks({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": KID, "x": x}]})
    assert found == {KID: PublicKey(KID, RAW)}
    with pytest.raises(ValueError):
        keys_from_jwks({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "0" * 16, "x": x}]})
    marked = {"kty": "OKP", "crv": "Ed25519", "kid": KID, "x": x, "compromised_at": "2026"}
    assert keys_from_jwks({"keys": [marked]})[KID].compromised
