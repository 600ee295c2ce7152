"""The county's honours pages: star thresholds set and a year rated (after confirming), the
star list and its xlsx, the ranking's xlsx, the expiry preview and run, stars on the card
sheet; auditors read and change nothing; village staff see neither page."""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.honours.models import StarLevel, StarRating
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import Posting, PostingKind
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role, YearEndPolicy
from tests.factories import make_household, make_staff
from tests.reports.test_rollups import BEIJING, _earn, at

LAST_YEAR = timezone.localdate().year - 1


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def county(world):
    world.admin = _client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    world.auditor = _client(make_staff("shen", Role.AUDITOR, world.county, world.scheme))
    world.village_staff = _client(
        make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    )
    world.homes = [make_household(world.scheme, world.village_a1, n) for n in ("三星户", "一星户")]
    with at(dt.datetime(LAST_YEAR, 6, 1, 10, 0, tzinfo=BEIJING)):
        _earn(world, world.homes[0], 30000)
        _earn(world, world.homes[1], 10000)
    chain_follow(scheme_id=world.scheme.pk)
    return world


def _sheet(response) -> list[tuple]:
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "filename*=utf-8''" in response["Content-Disposition"]  # a Chinese file name
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return list(book.active.iter_rows(values_only=True))


def test_star_thresholds_rating_list_and_export(county):
    w = county
    bad = w.admin.post("/stars/", {"points-1": "一百"}, follow=True)
    assert "1星的积分要填数字" in bad.content.decode()
    assert not StarLevel.objects.exists()
    w.admin.post("/stars/", {"points-1": "100", "points-3": "300"})
    assert list(StarLevel.objects.values_list("stars", "points")) == [(1, 10000), (3, 30000)]

    asked = w.admin.post("/stars/", {"action": "rate", "year": LAST_YEAR})
    assert "确认评定" in asked.content.decode() and not StarRating.objects.exists()
    w.admin.post("/stars/", {"action": "rate", "year": LAST_YEAR, "confirmed": "1"})
    assert dict(StarRating.objects.values_list("household__head_name", "stars")) == {
        "三星户": 3,
        "一星户": 1,
    }
    page = w.auditor.get("/stars/", {"year": LAST_YEAR}).content.decode()
    assert "三星户" in page and "保存标准" not in page
    rows = _sheet(w.auditor.get("/stars.xlsx", {"year": LAST_YEAR}))
    assert rows[1:] == [("三星户", "晓光村", 3, 300), ("一星户", "晓光村", 1, 100)]
    # Auditors change nothing.
    assert w.auditor.post("/stars/", {"points-1": "1"}).status_code == 403
    assert StarLevel.objects.count() == 2
    assert w.village_staff.get("/stars/").status_code == 403
    assert "星级文明户" not in w.village_staff.get("/").content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.STARS_CHANGE).count() == 2


def test_the_card_sheet_shows_the_stars(county):
    w = county
    StarRating.objects.create(
        scheme=w.scheme, household=w.homes[0], year=LAST_YEAR, stars=3, points=30000
    )
    url = f"/households/letters/{w.village_a1.pk}/"
    form = w.admin.get(url).content.decode()
    batch = re.search(r'name="batch" value="([^"]+)"', form).group(1)
    response = w.admin.post(
        url,
        {"households": [h.pk for h in w.homes], "cards": "1", "confirmed": "1", "batch": batch},
    )
    sheet = response.content.decode()
    assert response.status_code == 200 and "文明积分卡" in sheet
    assert sheet.count("★★★") == 1  # 三星户 only


def test_the_ranking_export(county):
    rows = _sheet(county.admin.get("/rankings.xlsx", {"period": "year", "value": str(LAST_YEAR)}))
    assert rows[0][:2] == ("名次", "户主")
    assert [r[1] for r in rows[1:]] == ["三星户", "一星户"]
    assert rows[1][4] == 300


def test_the_expiry_preview_and_run(county):
    w = county
    w.scheme.year_end_policy = YearEndPolicy.YEAR_END
    w.scheme.save()
    page = w.auditor.get("/expiry/").content.decode()
    assert "三星户" in page and "立即执行到期" not in page
    asked = w.admin.post("/expiry/")
    assert "2 户共 400 分积分将转入到期账户" in asked.content.decode()
    assert not Posting.objects.filter(kind=PostingKind.EXPIRY).exists()
    w.admin.post("/expiry/", {"confirmed": "1"})
    assert household_balance(household_id=w.homes[0].pk).balance == 0
    assert Posting.objects.filter(kind=PostingKind.EXPIRY).count() == 2
    assert w.auditor.post("/expiry/", {"confirmed": "1"}).status_code == 403
    assert w.village_staff.get("/expiry/").status_code == 403
