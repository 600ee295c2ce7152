"""星级文明户: thresholds at their exact boundaries, required categories, 一票否决, a year that
has not ended, reruns that change nothing, and an audit row for every change of stars."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.honours.models import StarRating
from civicpoints.honours.stars import Level, star_levels_set, stars_compute, stars_of
from civicpoints.households.standing import Disqualification
from civicpoints.ledger.chain import chain_follow
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff
from tests.reports.test_rollups import BEIJING, _claim_category, _earn, at

TODAY = dt.date(2026, 12, 4)
IN_2025 = dt.datetime(2025, 6, 1, 10, 0, tzinfo=BEIJING)


@pytest.fixture
def rated(world):
    """Thresholds 1★ 100, 2★ 200 with 环境卫生, 3★ 300; seven households around them."""
    admin = actor_for_user(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    h = {
        name: make_household(world.scheme, world.village_a1, name)
        for name in (
            "差一分",
            "正好一星",
            "差一分两星",
            "两星没卫生",
            "正好两星",
            "三星",
            "三星但否决",
        )
    }
    clean = {name: _claim_category(world, h[name], "环境卫生") for name in h}
    _claim_category(world, h["差一分"], "孝老爱亲")  # makes the category known
    star_levels_set(
        actor=admin,
        scheme=world.scheme,
        levels=[Level(1, 10000), Level(2, 20000, ("环境卫生",)), Level(3, 30000, ("环境卫生",))],
    )
    with at(IN_2025):
        _earn(world, h["差一分"], 9999)
        _earn(world, h["正好一星"], 10000)
        _earn(world, h["差一分两星"], 19999, claim=clean["差一分两星"])
        _earn(world, h["两星没卫生"], 20000)
        _earn(world, h["正好两星"], 20000, claim=clean["正好两星"])
        _earn(world, h["三星"], 30000, claim=clean["三星"])
        _earn(world, h["三星但否决"], 30000, claim=clean["三星但否决"])
    Disqualification.objects.create(
        scheme=world.scheme,
        household=h["三星但否决"],
        starts_on=dt.date(2025, 11, 1),
        ends_on=dt.date(2026, 1, 31),
        reason="酒驾",
    )
    chain_follow(scheme_id=world.scheme.pk)
    world.admin, world.h = admin, h
    return world


def test_stars_at_their_exact_boundaries(rated):
    w = rated
    run = stars_compute(actor_id=w.admin.user_id, scheme_id=w.scheme.pk, year=2025, today=TODAY)

    stars = dict(StarRating.objects.filter(year=2025).values_list("household__head_name", "stars"))
    assert stars == {"正好一星": 1, "差一分两星": 1, "两星没卫生": 1, "正好两星": 2, "三星": 3}
    assert run.by_stars == {1: 3, 2: 1, 3: 1}
    assert run.changed == 5
    assert stars_of(household_id=w.h["三星"].pk).stars == 3
    assert stars_of(household_id=w.h["差一分"].pk) is None
    rows = AuditEvent.objects.filter(action=AuditAction.STARS_CHANGE)
    assert sorted(r.detail["to"] for r in rows) == [1, 1, 1, 2, 3]


def test_a_rerun_changes_nothing_and_a_later_posting_cannot_reach_a_closed_year(rated):
    w = rated
    stars_compute(actor_id=None, scheme_id=w.scheme.pk, year=2025, today=TODAY)
    with at(dt.datetime(2026, 1, 5, 9, 0, tzinfo=BEIJING)):
        _earn(w, w.h["差一分"], 5000)  # 2026's points, not 2025's
    chain_follow(scheme_id=w.scheme.pk)

    again = stars_compute(actor_id=None, scheme_id=w.scheme.pk, year=2025, today=TODAY)

    assert again.changed == 0
    assert AuditEvent.objects.filter(action=AuditAction.STARS_CHANGE).count() == 5


def test_lifting_a_ban_and_raising_a_threshold_are_each_one_audited_change(rated):
    w = rated
    stars_compute(actor_id=None, scheme_id=w.scheme.pk, year=2025, today=TODAY)
    Disqualification.objects.filter(household=w.h["三星但否决"]).update(
        lifted_at=dt.datetime(2026, 2, 1, tzinfo=BEIJING)
    )
    star_levels_set(
        actor=w.admin,
        scheme=w.scheme,
        levels=[Level(1, 10001), Level(2, 20000, ("环境卫生",)), Level(3, 30000, ("环境卫生",))],
    )

    run = stars_compute(actor_id=None, scheme_id=w.scheme.pk, year=2025, today=TODAY)

    changes = {
        r.object_id: (r.detail["from"], r.detail["to"])
        for r in AuditEvent.objects.filter(action=AuditAction.STARS_CHANGE).order_by("pk")[5:]
    }
    assert changes == {str(w.h["三星但否决"].pk): (0, 3), str(w.h["正好一星"].pk): (1, 0)}
    assert run.changed == 2


@pytest.mark.parametrize(
    ("levels", "field"),
    [
        ([Level(0, 100)], "stars"),
        ([Level(6, 100)], "stars"),
        ([Level(1, 100), Level(1, 200)], "stars"),
        ([Level(1, 0)], "points"),
        ([Level(1, 200), Level(2, 200)], "points"),
        ([Level(1, 100, ("不存在的类别",))], "categories"),
    ],
)
def test_bad_thresholds_are_refused_and_nothing_changes(rated, levels, field):
    w = rated
    with pytest.raises(ApplicationError) as err:
        star_levels_set(actor=w.admin, scheme=w.scheme, levels=levels)
    assert (err.value.code, err.value.detail["field"]) == (ErrorCode.INVALID_INPUT, field)
    assert w.scheme.starlevel_set.count() == 3


def test_a_village_admin_cannot_set_thresholds_and_a_running_year_cannot_be_rated(rated):
    w = rated
    cun = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, w.village_a1, w.scheme))
    with pytest.raises(ApplicationError) as err:
        star_levels_set(actor=cun, scheme=w.scheme, levels=[Level(1, 100)])
    assert err.value.code == ErrorCode.PERMISSION_DENIED
    with pytest.raises(ApplicationError) as err:
        stars_compute(actor_id=None, scheme_id=w.scheme.pk, year=2026, today=TODAY)
    assert "年底之后" in str(err.value.message)


def test_the_year_end_job_rates_last_year_once_and_the_command_says_what_it_did(rated):
    from io import StringIO

    from django.core.management import call_command

    from civicpoints.honours.models import StarRun
    from civicpoints.honours.stars import stars_year_end

    w = rated
    assert stars_year_end(today=dt.date(2026, 1, 1)) == 1
    assert stars_year_end(today=dt.date(2026, 1, 1)) == 0
    assert StarRun.objects.get(scheme=w.scheme, year=2025).by_stars == {"1": 3, "2": 1, "3": 1}

    out = StringIO()
    call_command("stars", "--year", "2025", stdout=out)
    assert "1星 3 户，2星 1 户，3星 1 户；变化 0 户" in out.getvalue()


def test_the_stars_show_on_the_household_page_and_the_phone(rated):
    from django.test import Client

    from civicpoints.households.services import household_set_pin
    from civicpoints.schemes.models import User

    w = rated
    stars_compute(actor_id=None, scheme_id=w.scheme.pk, year=2025, today=TODAY)
    three = w.h["三星"]
    staff = Client()
    staff.force_login(User.objects.get(username="xian"))
    page = staff.get(f"/households/{three.pk}/").content.decode()
    assert "2025年星级文明户" in page and "★★★<" in page

    household_set_pin(actor_id=None, household=three, pin="258369")
    three.refresh_from_db()
    phone = Client()
    home = phone.post("/m/login/", {"card": three.card_code, "pin": "258369"}, follow=True)
    assert "2025年3星级文明户" in home.content.decode()
