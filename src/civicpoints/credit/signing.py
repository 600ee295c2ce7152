"""Signed credit statements: the envelope's exact bytes, signing and strict verification.

Pure Python and ``cryptography`` only, no Django: the same rules a lender applies offline
(docs/credit.md). A statement file is canonical JSON plus one newline,
``{"alg","kid","payload","sig","type"}``, with a detached Ed25519 signature over the raw
payload bytes. Verification refuses anything but those exact bytes, so every one-byte
change fails. Never holds a private key longer than a call, never logs one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG = "Ed25519"
TYPE = "civicpoints/credit-statement"
VERSION = 1
ENVELOPE_KEYS = ("alg", "kid", "payload", "sig", "type")

# A signer: payload bytes in, 64 signature bytes out (a PEM on disk today, a KMS later).
Signer = Callable[[bytes], bytes]


class StatementInvalid(Exception):
    """Why a statement file does not verify: ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, why: str = "") -> None:
        self.reason = reason
        self.why = why
        super().__init__(f"{reason}: {why}" if why else reason)


MALFORMED = "malformed"  # 格式不规范
UNKNOWN_KEY = "unknown_key"  # 未知密钥
BAD_SIGNATURE = "bad_signature"  # 签名不符
COMPROMISED_KEY = "compromised_key"  # 密钥已泄露
REASONS = (MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, COMPROMISED_KEY)


@dataclass(frozen=True)
class PublicKey:
    kid: str
    raw: bytes  # the 32 bytes of the Ed25519 public key
    compromised: bool = False


def canonical(obj: Any) -> bytes:
    """The house's canonical JSON (as ``ledger.chain.canonical``): sorted keys, no spaces,
    UTF-8 as is. No floats may be in ``obj``: amounts are decimal strings."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict: only the alphabet, no padding, and the text must be what encoding gives back
    (a last character with spare bits set would decode to the same bytes)."""
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise StatementInvalid(MALFORMED, "base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise StatementInvalid(MALFORMED, "base64url") from None
    if b64url(data) != text:
        raise StatementInvalid(MALFORMED, "base64url")
    return data


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def kid_of(raw_public: bytes) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its 32 public bytes."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def fingerprint(raw_public: bytes) -> str:
    """The whole SHA-256 of the public key, in groups of four, for reading aloud or on paper."""
    digest = hashlib.sha256(raw_public).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def envelope(payload: Mapping[str, Any], *, kid: str, sign: Signer) -> bytes:
    """The statement file: the payload (which must name ``kid`` as its issuer's key) signed."""
    if payload.get("type") != TYPE or payload.get("issuer", {}).get("kid") != kid:
        raise ValueError("the payload must carry the statement type and the signing kid")
    body = canonical(payload)
    signature = sign(body)
    if len(signature) != 64:
        raise ValueError("an Ed25519 signature has 64 bytes")
    wrapper = {"alg": ALG, "kid": kid, "payload": b64url(body), "sig": b64url(signature)}
    return canonical({**wrapper, "type": TYPE}) + b"\n"


def statement_verify(data: bytes, keys: Mapping[str, PublicKey]) -> dict[str, Any]:
    """The payload of a genuine statement; ``StatementInvalid`` naming the first problem.

    Checks, in order: the bytes are exactly the canonical envelope and a newline; ``alg`` and
    ``type`` are ours; the key is known and not compromised; the signature verifies (the
    library refuses a non-canonical S); the payload is canonical JSON of our type, issued
    under the same kid."""
    wrapper = _strict_json(data[:-1] if data.endswith(b"\n") else b"")
    if data != canonical(wrapper) + b"\n" or not isinstance(wrapper, dict):
        raise StatementInvalid(MALFORMED, "envelope")
    if sorted(wrapper) != list(ENVELOPE_KEYS) or not all(
        isinstance(wrapper[k], str) for k in ENVELOPE_KEYS
    ):
        raise StatementInvalid(MALFORMED, "fields")
    if wrapper["alg"] != ALG or wrapper["type"] != TYPE:
        raise StatementInvalid(MALFORMED, "alg/type")
    payload_bytes = unb64url(wrapper["payload"])
    signature = unb64url(wrapper["sig"])
    key = keys.get(wrapper["kid"])
    if key is None:
        raise StatementInvalid(UNKNOWN_KEY, wrapper["kid"])
    if key.compromised:
        raise StatementInvalid(COMPROMISED_KEY, wrapper["kid"])
    try:
        Ed25519PublicKey.from_public_bytes(key.raw).verify(signature, payload_bytes)
    except (InvalidSignature, ValueError):
        raise StatementInvalid(BAD_SIGNATURE, wrapper["kid"]) from None
    payload = _strict_json(payload_bytes)
    if (
        not isinstance(payload, dict)
        or canonical(payload) != payload_bytes
        or payload.get("type") != TYPE
        or payload.get("v") != VERSION
        or not isinstance(payload.get("issuer"), dict)
        or payload["issuer"].get("kid") != wrapper["kid"]
    ):
        raise StatementInvalid(MALFORMED, "payload")
    return payload


def _strict_json(data: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise StatementInvalid(MALFORMED, name)

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            raise StatementInvalid(MALFORMED, "duplicate key")
        return found

    try:
        return json.loads(
            data.decode("utf-8"),
            parse_constant=no_constants,
            parse_float=lambda text: no_constants("float"),
            object_pairs_hook=unique,
        )
    except (UnicodeDecodeError, ValueError):
        raise StatementInvalid(MALFORMED, "json") from None


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, PublicKey]:
    """The keys of ``/open/keys.json`` (RFC 8037 OKP keys), by kid; ``ValueError`` if the
    document is not one. A key's own ``x`` must give its ``kid``."""
    found: dict[str, PublicKey] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("no keys")
    for entry in entries:
        if not isinstance(entry, dict) or (entry.get("kty"), entry.get("crv")) != ("OKP", ALG):
            continue
        try:
            raw = unb64url(str(entry.get("x", "")))
        except StatementInvalid:
            raise ValueError(f"key {entry.get('kid')!r}: x is not base64url") from None
        if len(raw) != 32 or kid_of(raw) != entry.get("kid"):
            raise ValueError(f"key {entry.get('kid')!r}: x does not match its kid")
        found[kid_of(raw)] = PublicKey(kid_of(raw), raw, bool(entry.get("compromised_at")))
    return found


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed[:32])
