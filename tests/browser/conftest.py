"""Headless Debian Chromium through Playwright (never a downloaded browser).

Screenshots go to test-artifacts/screenshots/ so a person can look at what was rendered.
Without /usr/bin/chromium these tests skip, except in CI where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Error as PlaywrightError

from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Debian chromium at /usr/bin/chromium (.ci/run installs it)")
        pytest.skip("Debian chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by
    # the test itself (not the live server) are still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            instance = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield instance
            instance.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(autouse=True)
def _pages_once(request: pytest.FixtureRequest) -> None:
    """What these test is pages (glyphs, axe, sizes, journeys), the same on both databases: once
    per ``scripts/test``, in its PostgreSQL pass (as ``one_database``; docs/testing.md); a module
    marked ``sqlite_pass`` in its SQLite pass instead, to even the two passes out."""
    wanted = os.environ.get("CIVICPOINTS_ONE_DB_PASS", "")
    if wanted and request.node.get_closest_marker("sqlite_pass"):
        wanted = "sqlite"
    if wanted and connection.vendor != wanted:
        pytest.skip(f"runs once per scripts/test, in the {wanted} pass (see docs/testing.md)")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base_url = live_server.url  # type: ignore[attr-defined]
    yield page
    # Let a request still in flight finish before the database is flushed: a live-server
    # transaction racing the flush's TRUNCATE deadlocks on PostgreSQL.
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=5000)
    context.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    # Written aside, then moved into place: scripts/test runs the SQLite and the PostgreSQL
    # pass at the same time, and both take the same screenshots.
    partial = SHOTS / f".{name}.{os.getpid()}.png"
    try:
        page.screenshot(path=str(partial), full_page=True)
    except PlaywrightError as exc:
        # Chromium under load now and then fails to capture a long page at once
        # ("Unable to capture screenshot"): the picture is a record, not the test; once more.
        if "Unable to capture screenshot" not in str(exc):
            raise
        page.wait_for_timeout(500)
        page.screenshot(path=str(partial), full_page=True)
    partial.replace(path)
    return path


def assert_cjk_font(page) -> None:
    """The page's Chinese text has a real CJK font (not boxes)."""
    ok = page.evaluate(
        "() => document.fonts.check('18px \"Noto Sans CJK SC\"', '文明积分') "
        "&& getComputedStyle(document.body).fontFamily.includes('Noto Sans CJK SC')"
    )
    assert ok, "Noto Sans CJK SC is not available: install fonts-noto-cjk"


def staff_sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    """Sign a staff member in and wait until the login page has been left: a ``goto`` or a
    click made sooner can cut the login's POST off, and the next page is then the login's."""
    page.goto(base + "/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def resident_sign_in(page, base: str, card: str, pin: str) -> None:
    """Sign a household in with its card number and PIN and wait for its home page."""
    page.goto(base + "/m/login/")
    page.get_by_label("积分卡号").fill(card)
    page.get_by_label("6位密码").fill(pin)
    page.get_by_role("button", name="登录").click()
    page.get_by_text("可用积分").wait_for()
