"""Encryption of ID card numbers at rest (Fernet) and a keyed digest for equality lookups.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (newest first, so old rows still decrypt
after a rotation); in development they are derived from SECRET_KEY. Never log a plain number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher


def _derive(label: str) -> bytes:
    return hashlib.sha256(f"{label}:{settings.SECRET_KEY}".encode()).digest()


def derived_key(label: str) -> bytes:
    """A key for one purpose (e.g. signing payment codes), derived from SECRET_KEY."""
    return _derive(f"civicpoints-{label}")


@cache
def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS or [
        base64.urlsafe_b64encode(_derive("civicpoints-field-key")).decode()
    ]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


@cache
def _digest_key() -> bytes:
    primary = (settings.FIELD_ENCRYPTION_KEYS or [""])[0]
    return _derive(f"civicpoints-digest:{primary}")


@cache
def _pin_key() -> bytes:
    primary = (settings.FIELD_ENCRYPTION_KEYS or [""])[0]
    return _derive(f"civicpoints-pin:{primary}")


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def digest(plain: str) -> str:
    return hmac.new(_digest_key(), plain.upper().encode(), hashlib.sha256).hexdigest()


def mask_id_number(plain: str) -> str:
    return f"{plain[:6]}********{plain[-4:]}" if len(plain) == 18 else "*" * len(plain)


class PinHasher(BasePasswordHasher):
    """Residents' 6-digit PINs: HMAC-SHA256 under a key derived from SECRET_KEY, salted.

    A PIN has 20 bits: no slow hash keeps it safe from an offline search once the table leaks,
    and PBKDF2's ~0.2 s per check would cost every counter redemption that much CPU. What
    protects a PIN is the lockout (5 wrong in a row) online and, offline, the key, which is
    not in the database: derived like the ID-number digests from SECRET_KEY together with the
    first FIELD_ENCRYPTION_KEYS entry, so changing either makes every PIN fail (both must travel
    with a backup: docs/operations.md).
    Registered in PASSWORD_HASHERS after the staff default; older PBKDF2 PIN hashes still
    verify and are replaced on the next correct PIN.
    """

    algorithm = "pin_hmac_sha256"

    def encode(self, password: str, salt: str) -> str:
        if password is None or not salt or "$" in salt:
            raise ValueError("a PIN and a salt without '$' are needed")
        mac = hmac.new(_pin_key(), f"{salt}${password}".encode(), hashlib.sha256)
        return f"{self.algorithm}${salt}${mac.hexdigest()}"

    def decode(self, encoded: str) -> dict[str, str]:
        algorithm, salt, mac = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "hash": mac, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        return hmac.compare_digest(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": decoded["salt"][:4] + "…"}

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None


PIN_HASHER = "pin_hmac_sha256"


def offline_pin_key(pin_hash: str) -> bytes:
    """The key the offline counter checks a PIN with (docs/offline-counter.md): one per PIN
    hash, so a new PIN (a new salt) is a new key; it is sent to the store's devices."""
    return hmac.new(derived_key("offline-pin"), pin_hash.encode(), hashlib.sha256).digest()[:16]


def offline_pin_tag(pin_hash: str, pin: str) -> int:
    """8 bits of HMAC(key, PIN): a device tells most wrong PINs (255 in 256) without learning
    the PIN; a stolen snapshot leaves ~3,900 candidates per household, not one."""
    mac = hmac.new(offline_pin_key(pin_hash), f"cp-offline-pin:{pin}".encode(), hashlib.sha256)
    return mac.digest()[0]


# --- the sealed PIN of an offline sale (docs/offline-counter.md, "The sealed PIN") -------------
# The device encrypts the PIN the household typed, bound to the sale's key, to the server's
# public key: ECDH on P-256 with a fresh key of the device's, HKDF-SHA256, AES-256-GCM with the
# sale's key as associated data. Only the server opens it, at the sync, and checks the PIN
# against the household's hash: a clerk who fakes a sale offline cannot make one that opens to
# the right PIN, nor move a genuine one to another sale.
SEAL_VERSION = "v1"
_SEAL_INFO = b"civicpoints offline pin seal v1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@cache
def _seal_private(secret: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(_derive(f"civicpoints-offline-pin-seal:{secret}"), "big")
    return ec.derive_private_key(scalar % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def _seal_key(shared: bytes) -> AESGCM:
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(shared)
    return AESGCM(derived)


def pin_seal_public_key() -> str:
    """The server's public key for sealing (an uncompressed P-256 point, base64url): in every
    device's snapshot."""
    point = _seal_private(settings.SECRET_KEY).public_key()
    return _b64(point.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def pin_seal(pin: str, sale_key: str, public_key: str) -> str:
    """What the device does in the browser (static/js/counter-offline.js), for a Python client
    and the tests: ``v1.<device's public point>.<nonce>.<ciphertext>``."""
    server = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(public_key))
    mine = ec.generate_private_key(ec.SECP256R1())
    nonce = os.urandom(12)
    sealed = _seal_key(mine.exchange(ec.ECDH(), server)).encrypt(
        nonce, pin.encode(), sale_key.encode()
    )
    point = mine.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return ".".join([SEAL_VERSION, _b64(point), _b64(nonce), _b64(sealed)])


def pin_unseal(seal: str, sale_key: str) -> str | None:
    """The PIN sealed for this sale, or None: no seal, not ours, damaged, or made for another
    sale (its key is the associated data)."""
    parts = (seal or "").split(".")
    if len(parts) != 4 or parts[0] != SEAL_VERSION or len(seal) > 400:
        return None
    try:
        point, nonce, sealed = (_unb64(p) for p in parts[1:])
        device = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        shared = _seal_private(settings.SECRET_KEY).exchange(ec.ECDH(), device)
        pin = _seal_key(shared).decrypt(nonce, sealed, sale_key.encode())
        return pin.decode("ascii")
    except (ValueError, TypeError, InvalidTag, UnicodeDecodeError):
        return None
