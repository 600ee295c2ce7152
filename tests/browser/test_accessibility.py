"""Every resident page, the counter pages and each staff role's home, checked as a person with
a screen reader or weak eyes would meet them, on the demo county.

Residents' pages are found by following links from /m/ (so a new page is checked without
being listed here), photographed at 360x740 into test-artifacts/screenshots/resident-*.png, and
must have no serious or critical axe-core violation, no text under 18 px and no tap target
under 60x60 px (the header link included).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from civicpoints.demo.county import DEMO_PIN, STAFF, build_demo
from civicpoints.households.models import Household
from tests.browser.a11y import axe_violations, small_targets, small_text
from tests.browser.conftest import resident_sign_in, shot, staff_sign_in
from tests.factories import PASSWORD

# Once per scripts/test, in the SQLite pass: the PostgreSQL pass sets the run's time (docs/testing.md)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

PHONE = {"width": 360, "height": 740}
# Pages a crawl must not "visit" by GET: leaving the session, downloads.
SKIP = re.compile(r"/logout/|\.(xlsx|csv|pdf|png|jpg|svg)$")
MAX_PAGES = 60


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()).strip("-") or "home"


def _links(page, prefix: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.path.startswith(prefix) and not SKIP.search(parts.path):
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _shape(path: str) -> str:
    """/m/stores/1/products/7/order/ and /m/stores/2/products/9/order/ are one page."""
    return re.sub(r"\d+", "N", path)


def _crawl(page, base: str, start: str, prefix: str) -> list[str]:
    """Same-site pages under ``prefix`` reachable by links from ``start``, breadth first,
    one page of each shape."""
    seen: list[str] = []
    shapes: set[str] = set()
    queue = [start]
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if _shape(path) in shapes:
            continue
        shapes.add(_shape(path))
        seen.append(path)
        response = page.goto(urljoin(base, path))
        assert response is not None and response.status == 200, (path, response and response.status)
        queue.extend(p for p in _links(page, prefix) if p not in seen and p not in queue)
    return seen


@pytest.fixture
def demo(db):
    return build_demo(households=40, password=PASSWORD, history=40)


def test_every_resident_page_is_elder_friendly_and_passes_axe(browser, live_server, demo):
    resident = (
        Household.objects.filter(village__name="晓光村", pin_hash__gt="").order_by("pk").first()
    )
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    resident_sign_in(page, live_server.url, resident.card_code, DEMO_PIN)

    pages = _crawl(page, live_server.url, "/m/", "/m/")
    problems: dict[str, list[str]] = {}
    for path in pages:
        page.goto(live_server.url + path)
        shot(page, f"resident-{_slug(path)}")
        found = (
            axe_violations(page)
            + [f"small text {t}" for t in small_text(page)]
            + [f"small target {t}" for t in small_targets(page)]
        )
        if found:
            problems[path] = found
    context.close()
    assert len(pages) >= 8, pages  # home, history, notices, report, pay, stores, orders, ...
    assert problems == {}


def test_the_login_page_of_residents_is_elder_friendly(browser, live_server, demo):
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.goto(live_server.url + "/m/login/")
    shot(page, "resident-login")
    assert axe_violations(page) == []
    assert small_text(page) == []
    assert small_targets(page) == []
    context.close()


@pytest.mark.parametrize("username", [s[0] for s in STAFF])
def test_each_staff_home_passes_axe(browser, live_server, demo, username):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    staff_sign_in(page, live_server.url, username)
    assert urlsplit(page.url).path != "/login/", f"{username} could not log in"
    page.goto(live_server.url + "/")
    shot(page, f"staff-home-{username}")
    assert axe_violations(page) == []
    context.close()


@pytest.mark.parametrize("username", ["store-clerk", "merchant-clerk"])
def test_counter_pages_pass_axe(browser, live_server, demo, username):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    staff_sign_in(page, live_server.url, username)
    pages = _crawl(page, live_server.url, "/counter/", "/counter/")
    problems = {}
    for path in pages:
        page.goto(live_server.url + path)
        shot(page, f"counter-{username}-{_slug(path)}")
        found = axe_violations(page)
        if found:
            problems[path] = found
    context.close()
    assert len(pages) >= 2, pages
    assert problems == {}
