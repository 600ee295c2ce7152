"""An activities world: the Tongyu test county, the demo rule catalogue, staff per role, and
an afternoon activity (14:00-17:00, rule H01 at 15 points an hour) in 晓光村."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from civicpoints.activities.models import Activity
from civicpoints.activities.services import activity_create
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Region, Role, User
from civicpoints.schemes.scope import Actor, actor_for_user
from tests.factories import World, build_world, make_staff

TZ = dt.timezone(dt.timedelta(hours=8))
# Created the Monday before; held on Saturday afternoon.
CREATED = dt.datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
START = dt.datetime(2026, 11, 7, 14, 0, tzinfo=TZ)
END = dt.datetime(2026, 11, 7, 17, 0, tzinfo=TZ)
RULES_FROM = dt.datetime(2026, 1, 1, tzinfo=TZ)


def at(hh: int, mm: int = 0, *, day: int = 7) -> dt.datetime:
    return dt.datetime(2026, 11, day, hh, mm, tzinfo=TZ)


@dataclass
class Acts:
    world: World
    rules: dict[str, Rule]
    users: dict[str, User]
    village_admin: Actor
    village_admin_b: Actor
    township_admin: Actor
    county_admin: Actor
    grid_worker: Actor
    grid_worker_a2: Actor
    grid_worker_b1: Actor
    store_clerk: Actor

    @property
    def scheme(self):
        return self.world.scheme

    def activity(
        self,
        *,
        region: Region | None = None,
        capacity: int | None = 30,
        rule: str = "H01",
        publish: bool = True,
        **kw: object,
    ) -> Activity:
        return activity_create(
            actor=self.village_admin if region is None else self.county_admin,
            scheme=self.scheme,
            region=region or self.world.village_a1,
            title=kw.pop("title", "清理村道垃圾"),  # type: ignore[arg-type]
            place="晓光村村委会门前",
            starts_at=kw.pop("starts_at", START),  # type: ignore[arg-type]
            ends_at=kw.pop("ends_at", END),  # type: ignore[arg-type]
            rule_id=self.rules[rule].pk,
            capacity=capacity,
            publish=publish,
            at=kw.pop("at", CREATED),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )


STAFF = {
    "village_admin": (Role.VILLAGE_ADMIN, "village_a1"),
    "village_admin_b": (Role.VILLAGE_ADMIN, "village_b1"),
    "township_admin": (Role.TOWNSHIP_ADMIN, "township_a"),
    "county_admin": (Role.COUNTY_ADMIN, "county"),
    "grid_worker": (Role.GRID_WORKER, "village_a1"),
    "grid_worker_a2": (Role.GRID_WORKER, "village_a2"),
    "grid_worker_b1": (Role.GRID_WORKER, "village_b1"),
    "store_clerk": (Role.STORE_CLERK, "village_a1"),
}


def build_acts() -> Acts:
    world = build_world()
    load_catalogue(scheme=world.scheme)
    # The catalogue takes effect when loaded (today); these examples happen in November 2026.
    Rule.objects.filter(scheme=world.scheme).update(effective_from=RULES_FROM)
    rules = {r.code: r for r in Rule.objects.filter(scheme=world.scheme)}
    users = {
        name: make_staff(name.replace("_", "-"), role, getattr(world, region), world.scheme)
        for name, (role, region) in STAFF.items()
    }
    users["grid_worker"].display_name = "网格员李明"
    users["grid_worker"].save(update_fields=["display_name"])
    return Acts(
        world=world,
        rules=rules,
        users=users,
        **{name: actor_for_user(user) for name, user in users.items()},  # type: ignore[arg-type]
    )


@pytest.fixture
def acts(db, settings) -> Acts:
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    return build_acts()
