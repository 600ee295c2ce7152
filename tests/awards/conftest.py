"""An earning world: the Tongyu test county with the demo rule catalogue and its reviewers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from civicpoints.rules.catalogue import load_catalogue
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, actor_for_user
from tests.factories import World, build_world, make_staff

# Fixed times in Asia/Shanghai so notice ends fall where the examples say.
TZ = dt.timezone(dt.timedelta(hours=8))
MONDAY = dt.datetime(2026, 11, 2, 9, 0, tzinfo=TZ)


@dataclass
class Earning:
    world: World
    rules: dict[str, Rule]
    village_admin: Actor
    village_admin_b: Actor
    township_admin: Actor
    county_admin: Actor
    grid_worker: Actor

    @property
    def scheme(self):
        return self.world.scheme


@pytest.fixture
def earning(db, settings) -> Earning:
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    staff = {
        "village_admin": make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme),
        "village_admin_b": make_staff("cun-b", Role.VILLAGE_ADMIN, world.village_b1, world.scheme),
        "township_admin": make_staff("zhen", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme),
        "county_admin": make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme),
        "grid_worker": make_staff("wangge", Role.GRID_WORKER, world.village_a1, world.scheme),
    }
    return Earning(world=world, rules=rules, **{k: actor_for_user(u) for k, u in staff.items()})


def day(value: dt.datetime) -> dt.date:
    return timezone.localtime(value).date()


def with_photo(claim):
    """Attach a stand-in photo row (the upload path itself is tested in test_evidence)."""
    claim.evidence.create(
        scheme_id=claim.scheme_id, path="x.jpg", content_type="image/jpeg", size=1, sha256="0"
    )
    return claim
