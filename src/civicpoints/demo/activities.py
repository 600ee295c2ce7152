"""The demo county's volunteer activities and mutual help, so every role has something to do:
activities open for sign-up (the village's and the township's), and mutual help waiting for
the demo resident's confirmation on the phone and for staff to confirm for a household.

Everything goes through the activities services, like real use.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from civicpoints.activities.services import (
    activity_create,
    activity_enrol,
    mutual_help_record_received,
    mutual_help_report,
)
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Region, Scheme, User
from civicpoints.schemes.scope import actor_for_user


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def build_activities(*, scheme: Scheme, township: Region, village: Region) -> int:
    """Two activities open for sign-up and three records of mutual help; returns how many
    records were made."""
    admin = actor_for_user(User.objects.get(username="village-admin"))
    township_admin = actor_for_user(User.objects.get(username="township-admin"))
    grid = actor_for_user(User.objects.get(username="grid-worker"))
    rule = Rule.objects.get(scheme=scheme, code="V01", effective_to__isnull=True)
    today = timezone.localdate()
    homes = list(
        Household.objects.filter(scheme=scheme, village=village)
        .exclude(status=HouseholdStatus.CLOSED)
        .order_by("pk")[:8]
    )
    cleanup = activity_create(
        actor=admin,
        scheme=scheme,
        region=village,
        title="清理村道垃圾",
        place=f"{village.name}村委会门前",
        description="清理村道两侧的垃圾和杂草，村里备好手套和工具。",
        starts_at=_at(today + dt.timedelta(days=2), 14),
        ends_at=_at(today + dt.timedelta(days=2), 17),
        rule_id=rule.pk,
        capacity=30,
        publish=True,
    )
    haircut = activity_create(
        actor=township_admin,
        scheme=scheme,
        region=township,
        title="敬老院义务理发",
        place=f"{township.name}敬老院",
        starts_at=_at(today + dt.timedelta(days=7), 9),
        ends_at=_at(today + dt.timedelta(days=7), 11, 30),
        rule_id=rule.pk,
        capacity=10,
        publish=True,
    )
    # The demo resident (the village's first household, printed by the command) has signed up
    # for the township's activity; a few neighbours for the village's.
    for household in homes[:1]:
        activity_enrol(activity=haircut, household=household, actor=grid)
    for household in homes[2:5]:
        activity_enrol(activity=cleanup, household=household, actor=grid)
    made = 0
    if len(homes) >= 2:
        # A neighbour says they helped the demo resident: it waits for the resident's phone.
        mutual_help_report(
            helper=homes[1],
            helped=homes[0],
            hours=3,
            occurred_on=today - dt.timedelta(days=1),
            note="帮忙把玉米拉回家",
        )
        made += 1
    if len(homes) >= 3:
        # The demo resident helped a neighbour, who recorded it: confirmed, claim in review.
        mutual_help_record_received(
            helped=homes[2],
            helper=homes[0],
            hours=1.5,
            occurred_on=today - dt.timedelta(days=3),
            note="送去卫生院看病",
        )
        made += 1
    if len(homes) >= 5:
        # A grid worker recorded help for a household without a phone: the village admin
        # (not the grid worker who reported it) confirms it on the staff page after checking.
        mutual_help_report(
            actor=grid,
            helper=homes[3],
            helped=homes[4],
            hours=2,
            occurred_on=today - dt.timedelta(days=2),
            note="帮独居老人修屋顶",
        )
        made += 1
    return made
