"""The schemes' statement-signing keys: making, rotating and retiring them, loading the private
half for one signature, and publishing the public halves (``/open/keys.json``).

The private key never enters the database. In production it is a PKCS8 PEM, ``<kid>.pem`` in
``STATEMENT_KEY_DIR`` (mode 0600, kept out of backups); in development and tests it is derived
from SECRET_KEY (``households.crypto.derived_key``), so nothing needs to be on disk.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.credit.models import SigningKey
from civicpoints.credit.signing import (
    ALG,
    PublicKey,
    Signer,
    b64url,
    fingerprint,
    kid_of,
    private_key_from_seed,
    public_raw,
)
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.households.crypto import derived_key
from civicpoints.schemes.models import Scheme

# How many derived keys of one scheme are tried when loading one (a scheme rotates yearly).
MAX_DERIVED = 64


def _derived(scheme_id: int, n: int) -> Ed25519PrivateKey:
    return private_key_from_seed(derived_key(f"statement-signing:{scheme_id}:{n}"))


def _pem_path(kid: str) -> Path:
    return Path(settings.STATEMENT_KEY_DIR) / f"{kid}.pem"


def _write_pem(key: Ed25519PrivateKey, kid: str) -> None:
    """Written before the row commits: a row whose commit fails leaves an unused file, never a
    row without its key."""
    folder = Path(settings.STATEMENT_KEY_DIR)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(_pem_path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def private_key_for(key: SigningKey) -> Ed25519PrivateKey | None:
    """The private half of ``key``, or None when this server does not hold it."""
    path = _pem_path(key.kid)
    if path.exists():
        loaded = load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(loaded, Ed25519PrivateKey) and kid_of(public_raw(loaded)) == key.kid:
            return loaded
        return None
    if settings.STATEMENT_KEYS_DERIVED:
        for n in range(1, MAX_DERIVED + 1):
            candidate = _derived(key.scheme_id, n)
            if kid_of(public_raw(candidate)) == key.kid:
                return candidate
    return None


def _new_private(scheme_id: int) -> Ed25519PrivateKey:
    if not settings.STATEMENT_KEYS_DERIVED:
        return Ed25519PrivateKey.generate()
    used = {k for k in SigningKey.objects.filter(scheme_id=scheme_id).values_list("kid", flat=True)}
    for n in range(1, MAX_DERIVED + 1):
        candidate = _derived(scheme_id, n)
        if kid_of(public_raw(candidate)) not in used:
            return candidate
    raise invalid("no derived key left: use key files (CIVICPOINTS_STATEMENT_KEYS=files)")


def _create(*, scheme: Scheme, actor_id: int | None, event: str, now: dt.datetime) -> SigningKey:
    private = _new_private(scheme.pk)
    raw = public_raw(private)
    key = SigningKey.objects.create(scheme=scheme, kid=kid_of(raw), public_key=raw, created_at=now)
    if not settings.STATEMENT_KEYS_DERIVED:
        _write_pem(private, key.kid)
    audit_record(
        actor_id=actor_id,
        scheme_id=scheme.pk,
        action=AuditAction.CREDIT_SIGNING_KEY,
        obj=key,
        detail={"kid": key.kid, "event": event},
        region_id=scheme.operator_region_id,
    )
    return key


def signing_key_create(*, scheme: Scheme, actor_id: int | None = None) -> SigningKey:
    """The scheme's first key (``statement keygen``); refused while it has an active one."""
    with transaction.atomic(durable=True):
        if SigningKey.objects.filter(scheme=scheme, retired_at__isnull=True).exists():
            raise invalid("the scheme already has an active key: use rotate")
        return _create(scheme=scheme, actor_id=actor_id, event="keygen", now=timezone.now())


def signing_key_rotate(*, scheme: Scheme, actor_id: int | None = None) -> SigningKey:
    """A new key; the old one is retired (still published, so its statements still verify)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        old = list(SigningKey.objects.select_for_update().filter(scheme=scheme, retired_at=None))
        for key in old:
            key.retired_at = now
            key.save(update_fields=["retired_at"])
        return _create(scheme=scheme, actor_id=actor_id, event="rotate", now=now)


def signing_key_compromised(*, kid: str, actor_id: int | None = None) -> SigningKey:
    """Mark a key compromised: verifiers refuse every statement it signed from now on, and it
    signs nothing more. The scheme then needs ``rotate`` (or ``keygen``) for a new one."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        key = SigningKey.objects.select_for_update().filter(kid=kid).first()
        if key is None:
            raise NotFound("signing_key")
        if key.compromised_at is None:
            key.compromised_at = now
            key.retired_at = key.retired_at or now
            key.save(update_fields=["compromised_at", "retired_at"])
            audit_record(
                actor_id=actor_id,
                scheme_id=key.scheme_id,
                action=AuditAction.CREDIT_SIGNING_KEY,
                obj=key,
                detail={"kid": key.kid, "event": "compromised"},
                region_id=Scheme.objects.values_list("operator_region_id", flat=True).get(
                    pk=key.scheme_id
                ),
            )
        return key


def active_key(*, scheme_id: int) -> SigningKey | None:
    return SigningKey.objects.filter(scheme_id=scheme_id, retired_at__isnull=True).first()


def active_signer(*, scheme_id: int) -> tuple[SigningKey, Signer]:
    """The scheme's active key and a signer for it; ``signing_unavailable`` (503) when the
    scheme has no key or this server does not hold its private half."""
    key = active_key(scheme_id=scheme_id)
    private = private_key_for(key) if key is not None else None
    if key is None or private is None:
        raise ApplicationError(ErrorCode.SIGNING_UNAVAILABLE)
    return key, private.sign


def signing_available(*, scheme_id: int) -> bool:
    key = active_key(scheme_id=scheme_id)
    return key is not None and private_key_for(key) is not None


def schemes_signable(scheme_ids: set[int]) -> set[int]:
    """Which of these schemes this server can sign for: their active keys in one query, each
    with its private half here (``signing_available`` for many schemes at once)."""
    keys = SigningKey.objects.filter(scheme_id__in=scheme_ids, retired_at__isnull=True)
    return {key.scheme_id for key in keys if private_key_for(key) is not None}


def known_keys() -> dict[str, PublicKey]:
    """Every published key by kid, as ``signing.statement_verify`` takes them."""
    return {
        k.kid: PublicKey(k.kid, bytes(k.public_key), k.compromised_at is not None)
        for k in SigningKey.objects.all()
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def public_pem(raw: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(raw)
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def jwks() -> dict[str, Any]:
    """``/open/keys.json``: every scheme's keys as an RFC 8037 JWK set, with their PEM."""
    keys = SigningKey.objects.select_related("scheme").order_by("scheme_id", "created_at", "pk")
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": ALG,
                "alg": "EdDSA",
                "use": "sig",
                "kid": k.kid,
                "x": b64url(bytes(k.public_key)),
                "scheme": k.scheme_id,
                "scheme_name": k.scheme.name,
                "created_at": _iso(k.created_at),
                "retired_at": _iso(k.retired_at),
                "compromised_at": _iso(k.compromised_at),
                "fingerprint": fingerprint(bytes(k.public_key)),
                "pem": public_pem(bytes(k.public_key)),
            }
            for k in keys
        ]
    }


def scheme_keys(*, scheme_id: int) -> list[SigningKey]:
    """A scheme's keys, newest first (the transparency page's box)."""
    return list(SigningKey.objects.filter(scheme_id=scheme_id).order_by("-created_at", "-pk"))
