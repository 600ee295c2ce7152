"""Uploads kept between preview and confirm, under ``VAR_DIR/imports``, keyed by a random token.

``<token>.upload`` holds the bytes (plain ID numbers: mode 0600, deleted after commit and
swept after a day), ``<token>.json`` who uploaded it for which scheme and its SHA-256, and
``<token>.done.json`` the outcome, so a second confirm of the same token replays it. Claiming
an upload is an atomic rename to ``<token>.working``: of two concurrent confirms one wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from civicpoints.errors import NotFound

KEEP_SECONDS = 24 * 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def imports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Pending:
    """The files of one pending upload. An unknown or malformed token is NotFound."""

    def __init__(self, token: object) -> None:
        if not isinstance(token, str) or not TOKEN.match(token):
            raise NotFound("import")
        self.token = token
        base = imports_dir()
        self.upload = base / f"{token}.upload"
        self.working = base / f"{token}.working"
        self.meta_path = base / f"{token}.json"
        self.done_path = base / f"{token}.done.json"

    @classmethod
    def create(cls, data: bytes, meta: dict[str, Any]) -> Pending:
        sweep()
        pending = cls(secrets.token_urlsafe(24))
        write_private(pending.upload, data)
        write_private(pending.meta_path, _dump({**meta, "created_at": time.time()}))
        return pending

    def meta(self, *, user_id: int | None, scheme_id: int) -> dict[str, Any]:
        return self._owned(read_json(self.meta_path), user_id, scheme_id)

    def done(self, *, user_id: int | None, scheme_id: int | None = None) -> dict[str, Any] | None:
        data = read_json(self.done_path)
        return None if data is None else self._owned(data, user_id, scheme_id)

    def claim(self) -> bool:
        try:
            os.rename(self.upload, self.working)
        except FileNotFoundError:
            return False
        return True

    def unclaim(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.working, self.upload)

    def finish(self, result: dict[str, Any]) -> None:
        write_private(self.done_path, _dump(result))
        self.discard()

    def discard(self) -> None:
        for path in (self.upload, self.working, self.meta_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @staticmethod
    def _owned(data: dict[str, Any] | None, user_id: int | None, scheme_id: int | None) -> Any:
        # Someone else's token looks exactly like no token at all.
        if (
            data is None
            or data.get("user_id") != user_id
            or (scheme_id is not None and data.get("scheme_id") != scheme_id)
        ):
            raise NotFound("import")
        return data


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def sweep() -> None:
    """Forget uploads and outcomes older than a day (uploads hold plain ID numbers)."""
    cutoff = time.time() - KEEP_SECONDS
    for path in imports_dir().iterdir():
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def pending_uploads(*, user_id: int | None, kind: str | None = None) -> list[dict[str, Any]]:
    """This person's checked uploads that still wait for their confirm, newest first.

    ``kind`` is "households" or "claims" (None: both). Each dict is the upload's meta plus its
    ``token``; an upload older than a day is swept and no longer listed.
    """
    if user_id is None:
        return []
    found = []
    cutoff = time.time() - KEEP_SECONDS
    for path in imports_dir().glob("*.json"):
        token = path.name.removesuffix(".json")
        if not TOKEN.match(token) or not (path.parent / f"{token}.upload").exists():
            continue  # an outcome (.done.json), or an upload already confirmed
        meta = read_json(path)
        if meta is None or meta.get("user_id") != user_id:
            continue
        if meta.get("created_at", 0) < cutoff:
            continue
        meta_kind = meta.get("kind", "households")
        if kind is None or meta_kind == kind:
            found.append({**meta, "kind": meta_kind, "token": token})
    return sorted(found, key=lambda m: m.get("created_at", 0), reverse=True)
