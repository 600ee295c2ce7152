"""Uploaded photos are decoded with a pixel limit and stored re-encoded, without EXIF or GPS.

``civicpoints.images`` is the one path for claim evidence, product photos, proof of delivery and
complaint photos; the API test goes through ``POST /claims/{id}/photos`` end to end.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from civicpoints.errors import ApplicationError
from civicpoints.images import MAX_PIXELS, image_clean
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error
from tests.factories import api_client, image_bytes, make_household, make_staff

BIG_PNG = image_bytes("PNG", (64, 64))
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def gps_jpeg() -> bytes:
    """A 40 x 20 JPEG from a phone: rotated by its EXIF orientation (6: turn 90° clockwise)
    and carrying where it was taken (Tongyu county)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (44.0, 48.0, 36.0), 3: "E", 4: (123.0, 5.0, 2.0)})
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 120, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid 1 x 1 PNG whose header claims ``width`` x ``height`` pixels (a few hundred bytes
    that would decode to tens of gigabytes)."""
    real = image_bytes("PNG", (1, 1))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[:8] + patched + real[8 + 25 :]


def test_a_jpeg_with_gps_is_stored_upright_without_any_exif():
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the phone's GPS

    clean = image_clean(original)

    assert clean.content_type == "image/jpeg"
    stored = Image.open(io.BytesIO(clean.data))
    assert stored.format == "JPEG"
    assert dict(stored.getexif()) == {}
    assert b"Exif" not in clean.data and b"PhoneMaker" not in clean.data
    assert stored.size == (20, 40)  # orientation applied to the pixels, then dropped


def test_png_and_webp_keep_their_format_and_lose_their_metadata():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    png_in = io.BytesIO()
    info = PngInfo()
    info.add_text("Comment", "household 1234 at 晓光村3组")
    Image.new("RGBA", (5, 4)).save(png_in, format="PNG", pnginfo=info, exif=exif)
    webp_in = image_bytes("WEBP", (6, 4), exif=exif)

    png, webp = image_clean(png_in.getvalue()), image_clean(webp_in)

    assert (png.content_type, Image.open(io.BytesIO(png.data)).format) == ("image/png", "PNG")
    assert b"PhoneMaker" not in png.data and b"household" not in png.data
    assert Image.open(io.BytesIO(png.data)).size == (5, 4)
    assert (webp.content_type, Image.open(io.BytesIO(webp.data)).format) == ("image/webp", "WEBP")
    assert b"PhoneMaker" not in webp.data and b"EXIF" not in webp.data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bomb_png(), "照片像素太多"),
        (bomb_png(8_000, 7_000), "照片像素太多"),  # 56 MP: just over the limit
        (gps_jpeg()[: len(gps_jpeg()) // 2], "照片文件已损坏或不完整"),
        (BIG_PNG[: len(BIG_PNG) // 2], "照片文件已损坏或不完整"),
        (b"\xff\xd8\xff\xe0" + bytes(64), "照片文件已损坏或不完整"),  # JPEG magic, no image
    ],
    ids=["bomb", "just-over", "truncated-jpeg", "truncated-png", "magic-only"],
)
def test_bombs_and_broken_files_are_refused_with_a_clear_message(data, message):
    assert MAX_PIXELS < 8_000 * 7_000
    with pytest.raises(ApplicationError) as refused:
        image_clean(data)
    assert refused.value.code == "invalid_input"
    assert message in str(refused.value.message)
    assert refused.value.detail == {"field": "photo"}


def test_through_the_api_the_stored_photo_has_no_gps_and_a_bomb_writes_nothing(
    world, settings, tmp_path
):
    settings.EVIDENCE_ROOT = tmp_path
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    client = api_client(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    household = make_household(world.scheme, world.village_a1, "曾国涛")
    claim = client.post(
        "/api/v1/claims",
        {"household": household.pk, "rule": rules["E02"].pk, "quantity": 1},
        content_type="application/json",
    ).json()["id"]

    def upload(data: bytes, name: str):
        photo = io.BytesIO(data)
        photo.name = name
        return client.post(f"/api/v1/claims/{claim}/photos", {"photo": photo})

    for bad in (bomb_png(), gps_jpeg()[:300]):
        error = assert_error(upload(bad, "x.png"), 422, "invalid_input")
        assert error["detail"] == {"field": "photo"}
    assert list(tmp_path.rglob("*.*")) == []

    created = upload(gps_jpeg(), "IMG_0001.jpg")
    assert created.status_code == 201, created.content
    served = client.get(f"/api/v1/photos/{created.json()['id']}")
    body = b"".join(served.streaming_content)
    assert served["Content-Type"] == "image/jpeg"
    stored = Image.open(io.BytesIO(body))
    assert dict(stored.getexif()) == {} and stored.size == (20, 40)
    assert created.json()["size"] == len(body)
    assert ImageOps.exif_transpose(stored).size == (20, 40)
