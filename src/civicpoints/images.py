"""Uploaded photos (claim evidence, product photos, proof of delivery): checked by content,
size-limited, written outside the web root under ``settings.EVIDENCE_ROOT`` and served only
by views that first check who may see them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode, invalid


def image_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


@dataclass(frozen=True)
class StoredImage:
    path: str  # relative to settings.EVIDENCE_ROOT
    content_type: str
    size: int
    sha256: str


def check_image(data: bytes, *, field: str = "photo") -> tuple[str, str]:
    if not data:
        raise invalid(_("照片是空的"), field=field)
    if len(data) > settings.EVIDENCE_MAX_BYTES:
        limit = settings.EVIDENCE_MAX_BYTES // (1024 * 1024)
        raise invalid(_("照片太大（最大 %(mb)s MB）") % {"mb": limit}, field=field)
    kind = image_type(data)
    if kind is None:
        raise invalid(_("只能上传 JPEG、PNG 或 WebP 格式的照片"), field=field)
    return kind


@contextmanager
def image_saved(data: bytes, *, scheme_id: int, field: str = "photo") -> Iterator[StoredImage]:
    """Write the photo, then run the caller's block; the file is removed if the block fails.

    The file is written under a temporary name and renamed: a crash never leaves half a photo.
    """
    content_type, ext = check_image(data, field=field)
    relative = (
        Path(str(scheme_id)) / f"{timezone.localdate():%Y%m}" / f"{secrets.token_hex(16)}.{ext}"
    )
    target = Path(settings.EVIDENCE_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_suffix(".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, target)
    try:
        yield StoredImage(
            path=str(relative),
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def image_file(relative: str) -> Path:
    """The stored file for a relative path; never a path outside the root."""
    root = Path(settings.EVIDENCE_ROOT).resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        raise ApplicationError(ErrorCode.NOT_FOUND)
    return path
