"""``GET /api/v1/stats``: the dashboard's figures for a region and a period, for its admins
and auditors; the same numbers ``reports.stats`` gives; refusals in the error format."""

from __future__ import annotations

from django.utils import timezone

from civicpoints.reports.periods import period_parse
from civicpoints.reports.stats import stats
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error
from tests.factories import api_client, make_staff
from tests.reports.test_stats import _county


def test_the_county_admin_reads_the_county_year(world):
    _county(world)
    client = api_client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    response = client.get(
        "/api/v1/stats", {"region": world.county.pk, "period": "year", "value": "2026"}
    )
    assert response.status_code == 200, response.content
    out = response.json()
    expected = stats(
        scheme=world.scheme,
        region=world.county,
        period=period_parse("year", "2026", timezone.localdate()),
    )
    assert out["flows"]["awarded"] == expected.flows["awarded"] / 100
    assert out["households"]["active_taking_part"] == 2
    assert out["label"] == "2026年"
    assert [c["region_name"] for c in out["children"]] == ["开通镇", "兴隆山镇"]
    assert len(out["trend"]) == 12 and out["trend"][-1]["month"] == "2026-12"


def test_who_may_read_and_bad_periods(world):
    township = api_client(make_staff("zhen", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme))
    ok = township.get("/api/v1/stats", {"region": world.township_a.pk, "period": "month"})
    assert ok.status_code == 200, ok.content
    assert_error(township.get("/api/v1/stats", {"region": world.township_b.pk}), 404)
    auditor = api_client(make_staff("shen", Role.AUDITOR, world.county, world.scheme))
    assert auditor.get("/api/v1/stats", {"region": world.county.pk}).status_code == 200
    clerk = api_client(make_staff("dian", Role.STORE_CLERK, world.village_a1, world.scheme))
    assert_error(clerk.get("/api/v1/stats", {"region": world.village_a1.pk}), 403)
    other = api_client(make_staff("ta", Role.COUNTY_ADMIN, world.other_county, world.other_scheme))
    assert_error(other.get("/api/v1/stats", {"region": world.county.pk}), 404)
    county = api_client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    for params in ({"period": "decade"}, {"period": "month", "value": "2026-13"}):
        assert_error(county.get("/api/v1/stats", {"region": world.county.pk, **params}), 422)


def test_inclusion_over_the_api(world):
    _county(world)
    client = api_client(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    response = client.get(
        "/api/v1/stats/inclusion", {"region": world.county.pk, "period": "year", "value": "2026"}
    )
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["region"]["households"] == 5 and out["region"]["earned"] == 3
    assert out["region"]["away_earned"] == 1 and out["region"]["unable_earned"] == 0
    assert 0 < out["region"]["gini"] < 1
    villages = {v["region_name"]: v for v in out["villages"]}
    assert villages["兴盛村"]["households"] == 2
    clerk = api_client(make_staff("dian", Role.STORE_CLERK, world.village_a1, world.scheme))
    assert_error(clerk.get("/api/v1/stats/inclusion", {"region": world.village_a1.pk}), 403)


def test_the_outcome_indicators_by_month_beside_a_year_earlier(world):
    import datetime as dt

    from civicpoints.reports.outcomes import outcome_clean, outcomes_set
    from civicpoints.schemes.scope import actor_for_user

    admin = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
    today = dt.date(2026, 12, 4)
    rows = [
        outcome_clean(
            village=world.village_a1,
            values={"month": "2026-11", "disputes": "3", "sanitation_score": "92.5"},
            today=today,
        ),
        outcome_clean(
            village=world.village_b1,
            values={"month": "2025-11", "disputes": "5", "petitions": "1"},
            today=today,
        ),
    ]
    outcomes_set(actor=actor_for_user(admin), scheme=world.scheme, rows=rows)
    client = api_client(admin)
    out = client.get("/api/v1/stats/outcomes", {"region": world.county.pk, "year": 2026}).json()
    assert out["year"] == 2026 and len(out["months"]) == 12
    november = out["months"][10]
    assert november["month"] == 11
    assert november["this_year"]["disputes"] == 3
    assert november["this_year"]["sanitation_score"] == 92.5
    assert november["last_year"]["disputes"] == 5 and november["last_year"]["petitions"] == 1
    assert out["months"][0]["this_year"]["disputes"] is None  # nobody entered January

    township = api_client(make_staff("zhen", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme))
    assert_error(township.get("/api/v1/stats/outcomes", {"region": world.township_b.pk}), 404)
    clerk = api_client(make_staff("dian", Role.STORE_CLERK, world.village_a1, world.scheme))
    assert_error(clerk.get("/api/v1/stats/outcomes", {"region": world.village_a1.pk}), 403)
    assert_error(client.get("/api/v1/stats/outcomes", {"region": world.county.pk, "year": 1}), 422)
