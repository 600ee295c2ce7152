"""数据大屏 in headless Chromium at 1920x1080: every chart drawn (a canvas with its series), no
JavaScript error and no CSP refusal, drill-down to a township, axe clean, screenshots saved."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from civicpoints.demo.county import build_demo
from civicpoints.ledger.chain import chain_follow
from tests.browser.a11y import axe_violations
from tests.browser.conftest import assert_cjk_font, shot, staff_sign_in
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]

CHARTS = ["chart-trend", "chart-categories", "chart-children", "chart-households"]


@pytest.fixture
def demo(db):
    made = build_demo(households=80, password=PASSWORD, history=40)
    chain_follow(scheme_id=made.scheme.pk)
    return made


def _drawn(page) -> None:
    """Each chart's canvas is there (the page's CSP forbids wait_for_function's eval)."""
    for chart in CHARTS:
        expect(page.locator(f"#{chart} canvas")).to_have_count(1)
    assert page.evaluate("() => window.__dashboardCharts") == 4


def test_the_county_dashboard_at_1920_by_1080(browser, live_server, demo):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    staff_sign_in(page, live_server.url, "county-admin")
    page.locator(".topbar nav > a", has_text="数据大屏").click()
    _drawn(page)

    for chart in CHARTS:
        drawn = page.evaluate(
            """(id) => {
                const chart = window.echarts.getInstanceByDom(document.getElementById(id));
                const canvas = document.querySelector('#' + id + ' canvas');
                return Boolean(chart && canvas && canvas.width > 0
                    && chart.getOption().series.length > 0);
            }""",
            chart,
        )
        assert drawn, chart
    assert page.locator(".kpi").count() == 7
    assert errors == []
    assert_cjk_font(page)
    assert axe_violations(page) == []
    shot(page, "dashboard-county-1920")

    county_url = page.url
    township = page.locator(".drill a").first.inner_text().split()[0]
    page.locator(".drill a").first.click()
    page.wait_for_url(lambda url: url != county_url)  # the township's page, not the county's
    _drawn(page)
    expect(page.locator("h1")).to_contain_text(township)
    assert errors == []
    shot(page, "dashboard-township-1920")

    # the township's monthly report, from the dashboard: on A4 in two pages at most
    page.get_by_role("link", name="打印月报").click()
    page.wait_for_load_state("load")
    expect(page.locator("h1")).to_contain_text("文明积分工作月报")
    assert errors == []
    assert_cjk_font(page)
    assert axe_violations(page) == []
    shot(page, "monthly-report-township")
    pdf = page.pdf(format="A4", print_background=True)
    sizes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert sizes and all(abs(float(w) - 595.9) < 1 and abs(float(h) - 842.9) < 1 for w, h in sizes)
    assert 1 <= len(sizes) <= 2, len(sizes)  # A4 (210 x 297 mm in points), one or two pages
    assert b".noprint" not in pdf
