"""A village-life world: the Tongyu test county with admins at each level, an auditor, a grid
worker, households in two villages, and a refusal helper that proves nothing was written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.community.models import Announcement, Feedback, FeedbackReply
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import Actor, actor_for_user
from tests.factories import World, build_world, make_household, make_staff


@dataclass
class Village:
    world: World
    users: dict[str, User]
    actors: dict[str, Actor]
    me: Household  # 晓光村 (village_a1)
    neighbour: Household  # 晓光村 too
    other: Household  # 新华村 (village_a2), same township


@pytest.fixture
def v(db, settings, tmp_path) -> Village:
    settings.EVIDENCE_ROOT = tmp_path
    world = build_world()
    grants = {
        "village_admin": (Role.VILLAGE_ADMIN, world.village_a1),
        "village_admin_a2": (Role.VILLAGE_ADMIN, world.village_a2),
        "township_admin": (Role.TOWNSHIP_ADMIN, world.township_a),
        "township_admin_b": (Role.TOWNSHIP_ADMIN, world.township_b),
        "county_admin": (Role.COUNTY_ADMIN, world.county),
        "auditor": (Role.AUDITOR, world.county),
        "grid_worker": (Role.GRID_WORKER, world.village_a1),
        "store_clerk": (Role.STORE_CLERK, world.village_a1),
    }
    users = {
        name: make_staff(name.replace("_", "-"), role, region, world.scheme)
        for name, (role, region) in grants.items()
    }
    users["other_county"] = make_staff(
        "other-county", Role.COUNTY_ADMIN, world.other_county, world.other_scheme
    )
    actors = {name: actor_for_user(user) for name, user in users.items()}
    return Village(
        world=world,
        users=users,
        actors=actors,
        me=make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678"),
        neighbour=make_household(world.scheme, world.village_a1, "张三明"),
        other=make_household(world.scheme, world.village_a2, "李四"),
    )


def snapshot() -> dict[str, Any]:
    """Everything a refused village-life call must leave as it was."""
    return {
        "announcements": sorted(
            Announcement.objects.values_list(
                "pk", "title", "body", "pinned", "published_at", "status", "withdraw_reason"
            )
        ),
        "feedback": sorted(Feedback.objects.values_list("pk", "status", "text", "photo_path")),
        "replies": FeedbackReply.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def refused(code: ErrorCode, call: Callable[[], Any]) -> ApplicationError:
    before = snapshot()
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.code == code, caught.value.as_json()
    assert snapshot() == before
    return caught.value
