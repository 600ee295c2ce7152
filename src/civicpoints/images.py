"""Uploaded photos (claim evidence, product photos, proof of delivery, complaints): checked by
content, size-limited, decoded with a pixel limit and re-encoded without metadata (EXIF, GPS,
text chunks), written outside the web root under ``settings.EVIDENCE_ROOT`` and served only
by views that first check who may see them. The bytes a client sent are never stored as sent.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

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


# A 48-megapixel phone photo decodes to about 150 MB; anything larger is refused before its
# pixels are decoded (a small PNG can claim 100 000 x 100 000 pixels: a decompression bomb).
MAX_PIXELS = 50_000_000
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    ext: str


@dataclass(frozen=True)
class StoredImage:
    path: str  # relative to settings.EVIDENCE_ROOT
    content_type: str
    size: int
    sha256: str


def check_image(data: bytes, *, field: str = "photo") -> tuple[str, str]:
    """(content type, extension) of an acceptable photo; a clear error for anything else."""
    clean = image_clean(data, field=field)
    return clean.content_type, clean.ext


def _sniff(data: bytes, *, field: str) -> tuple[str, str]:
    if not data:
        raise invalid(_("照片是空的"), field=field)
    if len(data) > settings.EVIDENCE_MAX_BYTES:
        limit = settings.EVIDENCE_MAX_BYTES // (1024 * 1024)
        raise invalid(_("照片太大（最大 %(mb)s MB）") % {"mb": limit}, field=field)
    kind = image_type(data)
    if kind is None:
        raise invalid(_("只能上传 JPEG、PNG 或 WebP 格式的照片"), field=field)
    return kind


def image_clean(data: bytes, *, field: str = "photo") -> CleanImage:
    """Decode the photo (pixel count checked from its header first) and encode it again in the
    same format, turned upright by its EXIF orientation and without any metadata."""
    content_type, ext = _sniff(data, field=field)
    broken = _("照片文件已损坏或不完整，请重新拍摄后上传")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_FORMATS[content_type]])
            if image.width * image.height > MAX_PIXELS:
                raise Image.DecompressionBombError
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid(
            _("照片像素太多（最多 %(mp)s 百万像素），请缩小后再上传")
            % {"mp": MAX_PIXELS // 1_000_000},
            field=field,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise invalid(broken, field=field) from None
    out = io.BytesIO()
    options: dict = {}
    if content_type == "image/jpeg":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        options = {"quality": 90, "icc_profile": image.info.get("icc_profile")}
    elif content_type == "image/webp":
        options = {"quality": 90, "icc_profile": image.info.get("icc_profile")}
    try:
        # No exif=, no pnginfo=: Pillow writes none of the original's metadata.
        upright.save(out, format=_FORMATS[content_type], **options)
    except (OSError, ValueError):
        raise invalid(broken, field=field) from None
    return CleanImage(data=out.getvalue(), content_type=content_type, ext=ext)


@contextmanager
def image_saved(data: bytes, *, scheme_id: int, field: str = "photo") -> Iterator[StoredImage]:
    """Write the photo, then run the caller's block; the file is removed if the block fails.

    The file is written under a temporary name and renamed: a crash never leaves half a photo.
    """
    clean = image_clean(data, field=field)
    content_type, ext, data = clean.content_type, clean.ext, clean.data
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
