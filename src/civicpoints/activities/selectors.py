"""Reads of activities, attendance and mutual help, always through the actor's scope.

Staff see the activities of their own region and of the regions above it (a village's grid
worker sees the township's activities, which are open to that village's households), never
those of a sibling village. Anything outside that is a 404, like every scoped object.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from civicpoints.activities.models import (
    Activity,
    Attendance,
    Enrolment,
    EnrolmentStatus,
    MutualHelp,
)
from civicpoints.errors import NotFound
from civicpoints.households.models import Household
from civicpoints.rules.models import Rule, Sign, Unit
from civicpoints.rules.selectors import rules_in_force
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import STAFF_ROLES, Actor, parse_id, scope_q

# Counter staff have nothing to do with activities.
ACTIVITY_READERS = STAFF_ROLES - {Role.STORE_CLERK, Role.MERCHANT_CLERK}
# Who runs the door of an activity: scans cards, closes a forgotten check-out.
CHECKERS = frozenset({Role.COUNTY_ADMIN, Role.TOWNSHIP_ADMIN, Role.VILLAGE_ADMIN, Role.GRID_WORKER})
MUTUAL_HELP_CATEGORY = "互助"


def _ancestors(path: str) -> list[str]:
    """ "a/b/c/" -> ["a/", "a/b/", "a/b/c/"]: the region and every region above it."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def activity_scope_q(actor: Actor, roles: frozenset[str] = ACTIVITY_READERS) -> Q:
    q = Q(pk__in=[])
    for g in actor.grants_for(roles):
        q |= Q(scheme_id=g.scheme_id) & (
            Q(region__path__startswith=g.region_path)
            | Q(region__path__in=_ancestors(g.region_path))
        )
    return q


def works_at(actor: Actor, activity: Activity) -> bool:
    """A grid worker or admin whose region lies under the activity's region or above it."""
    path = activity.region.path
    return any(
        g.scheme_id == activity.scheme_id
        and (path.startswith(g.region_path) or g.region_path.startswith(path))
        for g in actor.grants_for(CHECKERS)
    )


def activities_visible(actor: Actor) -> QuerySet[Activity]:
    return (
        Activity.objects.filter(activity_scope_q(actor))
        .select_related("region", "rule")
        .order_by("-starts_at", "-pk")
    )


def activity_for(actor: Actor, activity_id: object) -> Activity:
    pk = parse_id(activity_id)
    found = (
        activities_visible(actor).select_related("scheme").filter(pk=pk).first()
        if pk is not None
        else None
    )
    if found is None:
        raise NotFound("activity")
    return found


@dataclass(frozen=True)
class ActivityCounts:
    enrolled: int
    checked_in: int  # still there (no check-out yet)
    checked_out: int


def activity_counts(activity: Activity) -> ActivityCounts:
    enrolled = Enrolment.objects.filter(
        activity_id=activity.pk, status=EnrolmentStatus.ENROLLED
    ).count()
    rows = Attendance.objects.filter(activity_id=activity.pk).aggregate(
        total=Count("pk"), out=Count("pk", filter=Q(checked_out_at__isnull=False))
    )
    return ActivityCounts(
        enrolled=enrolled, checked_in=rows["total"] - rows["out"], checked_out=rows["out"]
    )


def attendances_of(activity: Activity) -> QuerySet[Attendance]:
    return (
        Attendance.objects.filter(activity_id=activity.pk)
        .select_related("household", "member")
        .order_by("checked_in_at", "pk")
    )


def attendance_for(activity: Activity, attendance_id: object) -> Attendance:
    pk = parse_id(attendance_id)
    found = attendances_of(activity).filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise NotFound("attendance")
    return found


def normalize_code(raw: str) -> str:
    """What a USB scanner or a camera read off a card: trimmed, spaces dropped, upper case."""
    return "".join((raw or "").split()).upper()


def household_by_code(activity: Activity, raw: str) -> Household | None:
    """The household whose card code was scanned, if it may take part in ``activity``."""
    code = normalize_code(raw)
    if not code or len(code) > 32:
        return None
    return (
        Household.objects.filter(
            scheme_id=activity.scheme_id,
            card_code=code,
            village__path__startswith=activity.region.path,
        )
        .select_related("village")
        .first()
    )


def mutual_helps_visible(actor: Actor) -> QuerySet[MutualHelp]:
    """Staff covering either household see the record."""
    readers = ACTIVITY_READERS
    q = scope_q(actor, region_path_field="helper__village__path", roles=readers) | scope_q(
        actor, region_path_field="helped__village__path", roles=readers
    )
    return (
        MutualHelp.objects.filter(q)
        .select_related("helper__village", "helped__village", "rule", "claim")
        .order_by("-pk")
    )


def mutual_help_for(actor: Actor, help_id: object) -> MutualHelp:
    pk = parse_id(help_id)
    found = mutual_helps_visible(actor).filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise NotFound("mutual_help")
    return found


def mutual_help_rule(*, scheme_id: int, at: dt.datetime | None = None) -> Rule | None:
    """The scheme's rule for mutual help: category 互助, paid per hour (H01 in the demo)."""
    return (
        rules_in_force(scheme_id=scheme_id, at=at or timezone.now())
        .filter(category=MUTUAL_HELP_CATEGORY, unit=Unit.HOUR, sign=Sign.AWARD)
        .order_by("code")
        .first()
    )
