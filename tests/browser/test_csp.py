"""The Content-Security-Policy holds in a real browser: no page of the demo county makes
Chromium refuse anything (no inline script, handler or style left), and the pages still work
under it (htmx swaps, the counter's basket, the payment code's countdown, the check-in screen).

Violations are caught twice: the ``securitypolicyviolation`` event (recorded by a script the
browser injects, which the policy does not govern) and Chromium's "Refused to ..." console lines.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import expect

from civicpoints.activities.models import Activity, ActivityStatus
from civicpoints.demo.county import DEMO_PIN, build_demo
from civicpoints.households.models import Household

# Once per scripts/test, in the SQLite pass: the PostgreSQL pass sets the run's time (docs/testing.md)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

PASSWORD = "demo-pass-123"
SKIP = re.compile(r"/logout/|/admin/|/api/|\.(xlsx|csv|pdf|png|jpg|svg)$|/print/|/proof/")
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watched:
    """A browser context whose pages report every CSP violation."""

    def __init__(self, browser, base: str, viewport: dict[str, int]) -> None:
        self.base = base
        self.context = browser.new_context(locale="zh-CN", viewport=viewport)
        self.context.add_init_script(RECORD)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.refused: list[str] = []
        self.page.on("console", self._console)
        self.visited: list[str] = []

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            self.refused.append(f"{urlsplit(self.page.url).path}: {message.text[:300]}")

    def goto(self, path: str) -> None:
        response = self.page.goto(urljoin(self.base, path))
        assert response is not None and response.status == 200, (path, response.status)
        header = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in header and "unsafe" not in header, (path, header)
        self.visited.append(path)
        self.collect()

    def collect(self) -> None:
        found = self.page.evaluate("() => (window.__csp || []).splice(0)")
        self.refused += [f"{urlsplit(self.page.url).path}: {v}" for v in found]

    def crawl(self, start: str, prefix: str, limit: int) -> None:
        """Pages under ``prefix`` reachable by links, one page of each shape."""
        shapes: set[str] = set()
        queue = [start]
        while queue and len(self.visited) < limit:
            path = queue.pop(0)
            shape = re.sub(r"\d+", "N", urlsplit(path).path)
            if shape in shapes:
                continue
            shapes.add(shape)
            self.goto(path)
            hrefs = self.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            for href in hrefs:
                parts = urlsplit(href)
                if parts.path.startswith(prefix) and not SKIP.search(parts.path):
                    queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))

    def staff_login(self, username: str) -> None:
        self.goto("/login/")
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(PASSWORD)
        self.page.get_by_role("button", name="登录").click()
        # Until the page has left /login/: load_state would answer for the login page itself.
        self.page.wait_for_url(lambda url: urlsplit(url).path != "/login/")

    def close(self) -> None:
        self.collect()
        self.context.close()


@pytest.fixture
def demo(db):
    return build_demo(households=40, password=PASSWORD, history=40)


@pytest.fixture
def watched(browser, live_server):
    made: list[Watched] = []

    def make(viewport: dict[str, int] | None = None) -> Watched:
        made.append(Watched(browser, live_server.url, viewport or {"width": 1280, "height": 900}))
        return made[-1]

    yield make
    for w in made:
        w.context.close()


def test_staff_pages_and_the_check_in_screen_work_without_a_violation(demo, watched):
    admin = watched()
    admin.staff_login("county-admin")
    admin.crawl("/", "/", limit=40)
    # htmx under the policy: the household search updates the list as one types.
    admin.goto("/households/")
    admin.page.locator("input[name=q]").first.fill("曾")
    expect(admin.page.locator("#results")).to_contain_text("曾")

    village = watched()
    village.staff_login("village-admin")
    activity = Activity.objects.filter(status=ActivityStatus.PUBLISHED).order_by("pk").first()
    village.goto(f"/activities/{activity.pk}/checkin/")
    card = Household.objects.filter(village__name="晓光村").order_by("pk").first().card_code
    village.page.locator("#code").fill(card)
    village.page.keyboard.press("Enter")
    expect(village.page.locator("#scan-result")).not_to_be_empty()
    expect(village.page.locator("#code")).to_have_value("")  # activity-checkin.js ran
    village.page.click("#camera-button")  # no camera here: the note says so, no violation
    expect(village.page.locator("#camera-note")).to_contain_text("摄像头")

    for w in (admin, village):
        w.collect()
    assert len(admin.visited) >= 25, admin.visited
    assert admin.refused + village.refused == []


def test_the_counters_work_without_a_violation(demo, watched):
    clerk = watched()
    clerk.staff_login("store-clerk")
    clerk.crawl("/counter/", "/counter/", limit=10)
    store = next(p for p in clerk.visited if re.fullmatch(r"/counter/store/\d+/", p))
    clerk.goto(store)
    card = Household.objects.filter(village__name="晓光村").order_by("pk").first().card_code
    clerk.page.locator("#q").fill(card)
    clerk.page.keyboard.press("Enter")
    expect(clerk.page.locator("#sale-form")).to_be_visible()
    clerk.page.locator(".ptile .plus").first.click()  # counter-store.js adds up the basket
    expect(clerk.page.locator("#total")).not_to_have_text("0")

    cashier = watched()
    cashier.staff_login("merchant-clerk")
    cashier.crawl("/counter/", "/counter/", limit=10)
    till = next(p for p in cashier.visited if re.fullmatch(r"/counter/merchant/\d+/", p))
    cashier.goto(till)
    cashier.page.locator("input[name=mode][value=card] + span").click()
    expect(cashier.page.locator("#card")).to_be_visible()  # counter-merchant.js switched

    for w in (clerk, cashier):
        w.collect()
    assert clerk.refused + cashier.refused == []


def test_resident_pages_in_elder_mode_work_without_a_violation(demo, watched):
    resident = watched({"width": 360, "height": 740})
    home = Household.objects.filter(village__name="晓光村", pin_hash__gt="").order_by("pk")[0]
    resident.goto("/m/login/")
    resident.page.get_by_label("积分卡号").fill(home.card_code)
    resident.page.get_by_label("6位密码").fill(DEMO_PIN)
    resident.page.get_by_role("button", name="登录").click()
    resident.page.get_by_text("可用积分").wait_for()
    resident.crawl("/m/", "/m/", limit=40)
    # The payment code counts down (pay-code.js) and refreshes through htmx.
    resident.goto("/m/pay/")
    first = resident.page.locator("#pay-left").inner_text()
    expect(resident.page.locator("#pay-left")).not_to_have_text(first, timeout=5000)
    resident.page.click("#pay-refresh")
    expect(resident.page.locator("#pay-code .digits")).to_be_visible()
    resident.goto("/m/activities/scan/")
    resident.collect()
    assert len(resident.visited) >= 12, resident.visited
    assert resident.refused == []
