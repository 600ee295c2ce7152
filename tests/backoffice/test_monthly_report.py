"""The monthly report (月报) of the county and a township: the month beside the month before
and a year earlier, each figure as the ledger has it; printable on A4."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.test import Client

from civicpoints.ledger.amounts import to_points
from civicpoints.schemes.models import Role
from tests.factories import make_staff
from tests.reports.test_stats import _county, _from_ledger


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _line(report, label: str):  # type: ignore[no-untyped-def]
    return next(line for line in report.lines if str(line.label) == label)


def test_the_county_report_of_december_beside_november_and_a_year_earlier(world):
    _county(world)
    client = logged_in(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    page = client.get("/reports/monthly/", {"month": "2026-12"})
    assert page.status_code == 200
    report = page.context["r"]
    assert report.month.label == "2026年12月"

    months = {
        "this": (dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
        "previous": (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        "year_ago": (dt.date(2025, 12, 1), dt.date(2025, 12, 31)),
    }
    for label, flow in (
        ("奖励积分", "awarded"),
        ("爱心超市兑换", "redeemed"),
        ("到期清零", "expired"),
    ):
        line = _line(report, label)
        for which, (first, last) in months.items():
            flows, _part, _bal = _from_ledger(world, world.county, first, last)
            assert getattr(line, which) == to_points(flows.get(flow, 0)), (label, which)
    taking_part = _line(report, "参与农户（户）")
    _flows, part, _bal = _from_ledger(world, world.county, *months["previous"])
    assert taking_part.previous == len(part["active"]) and taking_part.this == 0
    assert _line(report, "奖励积分").change == -_line(report, "奖励积分").previous

    text = page.content.decode()
    assert "城关镇" in text or world.township_a.name in text  # the townships below
    assert "一、主要指标" in text and "六、60天没有积分变动的村" in text
    assert "awarded" not in text and "on_notice" not in text  # words, never codes
    assert "@page" not in text  # the A4 rules are in the stylesheet
    assert _line(report, "参与率").this == Decimal("0.0")


def test_a_township_admin_prints_their_township_and_not_the_county(world):
    _county(world)
    client = logged_in(make_staff("zhen", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme))
    page = client.get("/reports/monthly/", {"month": "2026-11"})
    assert page.status_code == 200
    assert page.context["r"].region == world.township_a
    flows, _part, _bal = _from_ledger(
        world, world.township_a, dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    )
    assert _line(page.context["r"], "奖励积分").this == to_points(flows["awarded"])
    assert client.get("/reports/monthly/", {"region": world.county.pk}).status_code == 404
    bad = client.get("/reports/monthly/", {"month": "11/2026"})
    assert bad.status_code in (200, 422) and "期间写法不对" in bad.content.decode()


def test_a_cashier_has_no_monthly_report(world):
    client = logged_in(make_staff("shou", Role.MERCHANT_CLERK, world.village_a1, world.scheme))
    assert client.get("/reports/monthly/").status_code == 403
