"""Encryption of ID card numbers at rest (Fernet) and a keyed digest for equality lookups.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (newest first, so old rows still decrypt
after a rotation); in development they are derived from SECRET_KEY. Never log a plain number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


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


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def digest(plain: str) -> str:
    return hmac.new(_digest_key(), plain.upper().encode(), hashlib.sha256).hexdigest()


def mask_id_number(plain: str) -> str:
    return f"{plain[:6]}********{plain[-4:]}" if len(plain) == 18 else "*" * len(plain)
