"""The benchmark floor page (``civicpoints bench pages``): hidden unless CIVICPOINTS_BENCH=1."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from civicpoints.schemes.models import Role
from tests.factories import World, make_staff

pytestmark = pytest.mark.django_db


def test_floor_is_not_found_without_the_bench_setting(world: World) -> None:
    # given a logged-in county admin on a server without CIVICPOINTS_BENCH
    client = Client()
    client.force_login(make_staff("county", Role.COUNTY_ADMIN, world.county, world.scheme))
    # when they ask for the floor page
    response = client.get("/bench/floor/")
    # then it does not exist
    assert response.status_code == 404


@override_settings(BENCH_FLOOR=True)
def test_floor_answers_a_logged_in_member_of_staff(world: World) -> None:
    client = Client()
    client.force_login(make_staff("village", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    response = client.get("/bench/floor/")
    assert response.status_code == 200
    assert response.content == b"ok"


@override_settings(BENCH_FLOOR=True)
def test_floor_sends_an_anonymous_visitor_to_the_login_page(world: World) -> None:
    response = Client().get("/bench/floor/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/bench/floor/"


@override_settings(BENCH_FLOOR=True)
def test_floor_with_layout_renders_the_staff_layout(world: World) -> None:
    client = Client()
    client.force_login(make_staff("village", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    response = client.get("/bench/floor/?layout=1")
    assert response.status_code == 200
    assert response.templates[0].name == "ops/bench_layout.html"
    assert "base.html" in [t.name for t in response.templates]
    assert "正常" in response.content.decode()
