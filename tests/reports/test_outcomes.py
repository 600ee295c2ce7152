"""Outcome indicators: a village-month entered and replaced, refusals that write nothing, a
sheet (xlsx written by openpyxl, and CSV) with a bad row refused whole, and the year-on-year
view with exact numbers."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.reports.models import Outcome
from civicpoints.reports.outcomes import outcome_clean, outcomes_parse, outcomes_set, outcomes_year
from civicpoints.schemes.models import Region, RegionLevel, Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_staff

TODAY = dt.date(2026, 12, 4)


def _actor(world, role=Role.TOWNSHIP_ADMIN, region=None):
    return actor_for_user(make_staff(f"u{role}", role, region or world.township_a, world.scheme))


def test_a_month_entered_then_replaced_and_the_year_on_year_view(world):
    actor = _actor(world)
    for village, month, values in (
        (
            world.village_a1,
            "2026-11",
            {"disputes": "3", "petitions": "1", "sanitation_score": "92.5"},
        ),
        (
            world.village_a2,
            "2026-11",
            {"disputes": 2, "criminal_cases": "1", "sanitation_score": "87"},
        ),
        (world.village_a1, "2025-11", {"disputes": "6", "petitions": "2"}),
    ):
        row = outcome_clean(village=village, values={"month": month, **values}, today=TODAY)
        outcomes_set(actor=actor, scheme=world.scheme, rows=[row])
    again = outcome_clean(
        village=world.village_a1, values={"month": "2026年11月", "disputes": "4"}, today=TODAY
    )
    outcomes_set(actor=actor, scheme=world.scheme, rows=[again])  # replaces: score gone
    assert Outcome.objects.count() == 3
    year = outcomes_year(scheme=world.scheme, region=world.township_a, year=2026)
    november = year[10]
    assert november.this_year == {
        "disputes": 6,
        "petitions": 0,
        "criminal_cases": 1,
        "sanitation_score": 87.0,
        "taking_part": 0,
    }
    assert november.last_year["disputes"] == 6 and november.last_year["petitions"] == 2
    assert year[0].this_year["disputes"] is None  # nothing entered in January
    assert AuditEvent.objects.filter(action=AuditAction.OUTCOMES).count() == 4


def test_bad_values_and_other_villages_are_refused(world):
    for values, field in (
        ({"month": "2027-01"}, "month"),
        ({"month": "十一月"}, "month"),
        ({"month": "2026-11", "disputes": "-1"}, "disputes"),
        ({"month": "2026-11", "petitions": "1.5"}, "petitions"),
        ({"month": "2026-11", "sanitation_score": "101"}, "sanitation_score"),
        ({"month": "2026-11", "sanitation_score": "90.25"}, "sanitation_score"),
    ):
        with pytest.raises(ApplicationError) as refused:
            outcome_clean(village=world.village_a1, values=values, today=TODAY)
        assert refused.value.detail["field"] == field, values
    row = outcome_clean(village=world.village_b1, values={"month": "2026-11"}, today=TODAY)
    with pytest.raises(ApplicationError) as other:
        outcomes_set(actor=_actor(world), scheme=world.scheme, rows=[row])
    assert other.value.code == ErrorCode.PERMISSION_DENIED
    grid = _actor(world, Role.GRID_WORKER, world.village_a1)
    mine = outcome_clean(village=world.village_a1, values={"month": "2026-11"}, today=TODAY)
    with pytest.raises(ApplicationError):
        outcomes_set(actor=grid, scheme=world.scheme, rows=[mine])
    assert not Outcome.objects.exists()


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_sheet_with_a_bad_row_writes_nothing_and_names_it(world):
    villages = Region.objects.filter(
        path__startswith=world.township_a.path, level=RegionLevel.VILLAGE
    )
    data = _xlsx(
        [
            ["村", "月份", "调解纠纷", "信访", "刑事案件", "卫生检查得分"],
            ["晓光村", "2026-10", 2, 0, 0, 95],
            [world.village_a2.code, "2026-10", 1, 1, 0, None],
            ["兴盛村", "2026-10", 1, 0, 0, 90],  # another township's
            ["晓光村", "2026-10", 5, 0, 0, 80],  # twice
        ]
    )
    rows, problems = outcomes_parse(villages=villages, data=data, today=TODAY)
    assert [r.village.name for r in rows] == ["晓光村", "新华村"]
    assert problems == [
        "第 4 行：没有这个村，或不归您管（兴盛村）",
        "第 5 行：同一个村同一个月填了两次",
    ]
    csv = "村,月份,调解纠纷\n晓光村,2026-09,3\n".encode("utf-8-sig")
    rows, problems = outcomes_parse(villages=villages, data=csv, today=TODAY)
    assert problems == [] and rows[0].disputes == 3 and rows[0].month == dt.date(2026, 9, 1)
    assert rows[0].sanitation_score is None and rows[0].petitions == 0
    assert Decimal("0") == Decimal(rows[0].criminal_cases)
