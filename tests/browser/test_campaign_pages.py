"""Certificates and the villagers' vote in headless Chromium: the A4 certificates print to a
PDF whose fonts carry the names' rare characters (曾𠮷, 𪨶), the public check page opened by
the QR, and a resident voting on the phone; Chinese glyphs, no serious axe violation."""

from __future__ import annotations

import contextlib
import re
import zlib

import pytest
from playwright.sync_api import expect

from civicpoints.demo.county import DEMO_PIN, build_demo
from civicpoints.honours.models import Certificate
from civicpoints.households.models import Household
from tests.browser.a11y import axe_violations, small_text
from tests.browser.conftest import SHOTS, assert_cjk_font, resident_sign_in, shot, staff_sign_in
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

RARE = ("曾𠮷", "王𪨶")


@pytest.fixture
def demo(db):
    made = build_demo(households=80, password=PASSWORD, history=40)
    for certificate, name in zip(Certificate.objects.order_by("pk"), RARE, strict=False):
        certificate.name = name
        certificate.save(update_fields=["name"])
    return made


def _pdf_fonts_and_text(pdf: bytes) -> tuple[set[str], str]:
    """The PDF's font names and every character its ToUnicode maps name (the glyphs drawn)."""
    fonts = set(re.findall(rb"/(?:BaseFont|FontName)\s*/([A-Za-z0-9+_-]+)", pdf))
    text = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            body = zlib.decompress(raw)
        except zlib.error:
            continue
        # Objects may sit in compressed object streams: their font names too.
        fonts |= set(re.findall(rb"/(?:BaseFont|FontName)\s*/([A-Za-z0-9+_-]+)", body))
        if b"beginbfchar" not in body and b"beginbfrange" not in body:
            continue
        for hexes in re.findall(rb"<([0-9A-Fa-f]{4,})>", body):
            if len(hexes) % 4 == 0:
                with contextlib.suppress(UnicodeDecodeError, ValueError):
                    text.append(bytes.fromhex(hexes.decode()).decode("utf-16-be"))
    return {f.decode() for f in fonts}, "".join(text)


def test_certificates_print_to_a4_with_the_rare_characters(page, demo):
    staff_sign_in(page, page.base_url, "county-admin")
    page.locator(".topbar nav > a", has_text="评比表彰").click()
    page.get_by_role("link", name="好媳妇").click()
    page.get_by_role("link", name="打印证书").click()
    certificates = page.locator("article.cert")
    certificates.first.wait_for()  # the certificates' page, not the one just left
    assert certificates.count() == Certificate.objects.count() >= 1
    assert certificates.first.locator(".name").inner_text() == "曾𠮷"
    assert page.evaluate("() => document.fonts.check('20px \"Noto Serif CJK SC\"', '曾𠮷𪨶')"), (
        "Noto Serif CJK SC is not available: install fonts-noto-cjk"
    )
    assert_cjk_font(page)
    assert axe_violations(page) == []
    shot(page, "honours-certificates")

    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", landscape=True, print_background=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "honours-certificates.pdf").write_bytes(pdf)
    fonts, drawn = _pdf_fonts_and_text(pdf)
    assert any("NotoSerifCJK" in f for f in fonts), fonts
    for name in RARE[: certificates.count()]:
        for char in name:
            assert char in drawn, (char, fonts)
    assert "荣誉证书" in drawn or set("荣誉证书") <= set(drawn)


def test_the_certificates_check_page(page, demo):
    certificate = Certificate.objects.order_by("pk").first()
    page.goto(page.base_url + f"/c/{certificate.code}/")
    assert page.get_by_text("这张证书是真的").is_visible()
    assert page.get_by_text(certificate.title).first.is_visible()
    assert "曾𠮷" not in page.content()  # the public page masks the name as the notice does
    assert_cjk_font(page)
    assert axe_violations(page) == []
    shot(page, "honours-certificate-check")


def test_a_resident_votes_on_the_phone(browser, live_server, demo):
    resident = (
        Household.objects.filter(scheme=demo.scheme, village__name="晓光村", pin_hash__gt="")
        .order_by("pk")
        .first()
    )
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    resident_sign_in(page, live_server.url, resident.card_code, DEMO_PIN)
    page.get_by_role("link", name="评比投票").click()
    expect(page.get_by_role("heading", name="最美家庭")).to_be_visible()
    assert axe_violations(page) == []
    assert small_text(page) == []
    shot(page, "honours-vote-phone")
    page.locator("input[name=member]").first.check()
    page.locator("input[name=nominee]").first.check()
    page.get_by_role("button", name="投票").click()
    expect(page.get_by_text("谢谢参与").first).to_be_visible()
    assert_cjk_font(page)
    shot(page, "honours-voted-phone")
