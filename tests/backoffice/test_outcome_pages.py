"""村月度治理指标 on the staff pages: a township admin enters two villages' month on the form,
a bad value is told and nothing written, a sheet is imported, others cannot open the page."""

from __future__ import annotations

import io

import openpyxl
from django.test import Client

from civicpoints.reports.models import Outcome
from civicpoints.schemes.models import Role
from tests.factories import make_staff


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_month_on_the_form_and_from_a_sheet(world):
    admin = _client(make_staff("zhen", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme))
    page = admin.get("/outcomes/", {"month": "2026-11"}).content.decode()
    assert "晓光村" in page and "新华村" in page and "兴盛村" not in page
    a1, a2 = world.village_a1.pk, world.village_a2.pk
    bad = admin.post(
        "/outcomes/",
        {"month": "2026-11", f"disputes-{a1}": "3", f"sanitation_score-{a2}": "120"},
    )
    assert bad.status_code == 422 and "卫生检查得分要填 0 到 100" in bad.content.decode()
    assert not Outcome.objects.exists()
    done = admin.post(
        "/outcomes/",
        {"month": "2026-11", f"disputes-{a1}": "3", f"sanitation_score-{a2}": "88.5"},
        follow=True,
    )
    assert "已保存 2 个村月的指标" in done.content.decode()
    assert sorted(Outcome.objects.values_list("village__name", "disputes")) == [
        ("新华村", 0),
        ("晓光村", 3),
    ]
    book = openpyxl.Workbook()
    book.active.append(["村", "月份", "信访"])
    book.active.append(["晓光村", "2026-10", 2])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    out.name = "指标.xlsx"
    imported = admin.post("/outcomes/", {"month": "2026-10", "file": out}, follow=True)
    assert "已保存 1 个村月的指标" in imported.content.decode()
    assert Outcome.objects.get(month__month=10).petitions == 2


def test_only_admins_see_it(world):
    grid = _client(make_staff("wang", Role.GRID_WORKER, world.village_a1, world.scheme))
    assert grid.get("/outcomes/").status_code == 403
    assert "治理指标" not in grid.get("/").content.decode()
    village = _client(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    assert "治理指标" in village.get("/").content.decode()
