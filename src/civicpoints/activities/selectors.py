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
from django.utils.translation import gettext as _

from civicpoints.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    Enrolment,
    EnrolmentStatus,
    MutualHelp,
    MutualHelpStatus,
)
from civicpoints.errors import NotFound, invalid
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.rules.models import Rule, Sign, Unit
from civicpoints.rules.selectors import rules_in_force
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import (
    STAFF_ROLES,
    Actor,
    ancestor_paths,
    parse_id,
    reach_q,
    scope_q,
)

# Counter staff have nothing to do with activities.
ACTIVITY_READERS = STAFF_ROLES - {Role.STORE_CLERK, Role.MERCHANT_CLERK}
# Who runs the door of an activity: scans cards, closes a forgotten check-out.
CHECKERS = frozenset({Role.COUNTY_ADMIN, Role.TOWNSHIP_ADMIN, Role.VILLAGE_ADMIN, Role.GRID_WORKER})
MUTUAL_HELP_CATEGORY = "互助"


def activity_scope_q(actor: Actor, roles: frozenset[str] = ACTIVITY_READERS) -> Q:
    return reach_q(actor, roles=roles)


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


def with_counts(activities: QuerySet[Activity]) -> QuerySet[Activity]:
    """``activities`` with ``enrolled_count`` and ``checked_out_count``, as
    ``activity_counts`` gives them, in the one query (a list's export)."""
    return activities.annotate(
        enrolled_count=Count(
            "enrolments",
            filter=Q(enrolments__status=EnrolmentStatus.ENROLLED),
            distinct=True,
        ),
        checked_out_count=Count(
            "attendances", filter=Q(attendances__checked_out_at__isnull=False), distinct=True
        ),
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


def mutual_helps_to_decide(actor: Actor) -> QuerySet[MutualHelp]:
    """Pending help the actor may confirm or reject for the helped household: a grid worker
    or admin covering it, who did not report it."""
    q = scope_q(actor, region_path_field="helped__village__path", roles=CHECKERS)
    return (
        mutual_helps_visible(actor)
        .filter(q, status=MutualHelpStatus.PENDING)
        .exclude(reported_by_id=actor.user_id or 0)
    )


def may_decide_mutual_help(actor: Actor, help_row: MutualHelp) -> bool:
    return (
        help_row.status == MutualHelpStatus.PENDING
        and actor.covers(
            roles=CHECKERS, scheme_id=help_row.scheme_id, region_path=help_row.helped.village.path
        )
        and (help_row.reported_by_id is None or help_row.reported_by_id != actor.user_id)
    )


def mutual_help_rule(*, scheme_id: int, at: dt.datetime | None = None) -> Rule | None:
    """The scheme's rule for mutual help: category 互助, paid per hour (H01 in the demo)."""
    return (
        rules_in_force(scheme_id=scheme_id, at=at or timezone.now())
        .filter(category=MUTUAL_HELP_CATEGORY, unit=Unit.HOUR, sign=Sign.AWARD)
        .order_by("code")
        .first()
    )


# --- the resident side: a household sees its own activities and mutual help --------------------


def activities_open_to(household: Household) -> QuerySet[Activity]:
    """Published activities a household may take part in: those of its village, its township
    (or any region above the village) in its scheme, soonest first."""
    return (
        Activity.objects.filter(
            scheme_id=household.scheme_id,
            region__path__in=ancestor_paths(household.village.path),
            status=ActivityStatus.PUBLISHED,
        )
        .select_related("region", "rule")
        .order_by("starts_at", "pk")
    )


def activities_upcoming(household: Household, *, at: dt.datetime | None = None) -> list[Activity]:
    """Open activities that have not ended, each with ``enrolment`` (the household's, or
    None), ``attendance`` (or None) and ``places_left`` (None: no limit)."""
    now = at or timezone.now()
    rows = list(activities_open_to(household).filter(ends_at__gt=now)[:100])
    ids = [a.pk for a in rows]
    mine = {
        e.activity_id: e
        for e in Enrolment.objects.filter(
            activity_id__in=ids, household_id=household.pk, status=EnrolmentStatus.ENROLLED
        )
    }
    came = {
        a.activity_id: a
        for a in Attendance.objects.filter(activity_id__in=ids, household_id=household.pk)
    }
    taken = dict(
        Enrolment.objects.filter(activity_id__in=ids, status=EnrolmentStatus.ENROLLED)
        .values("activity_id")
        .annotate(n=Count("pk"))
        .values_list("activity_id", "n")
    )
    for a in rows:
        a.enrolment = mine.get(a.pk)  # type: ignore[attr-defined]
        a.attendance = came.get(a.pk)  # type: ignore[attr-defined]
        a.places_left = (  # type: ignore[attr-defined]
            None if a.capacity is None else max(a.capacity - taken.get(a.pk, 0), 0)
        )
    return rows


def activity_for_household(household: Household, activity_id: object) -> Activity:
    """One activity the household may see (open to it, any status); else a 404."""
    pk = parse_id(activity_id)
    found = (
        Activity.objects.filter(
            pk=pk,
            scheme_id=household.scheme_id,
            region__path__in=ancestor_paths(household.village.path),
        )
        .select_related("region", "rule")
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise NotFound("activity")
    return found


def activity_by_code(household: Household, raw: str) -> Activity | None:
    """The activity whose code the resident scanned or typed, if it is open to the household.

    The QR code at the door holds a link to the scan page with ``?code=``; a hand-typed code
    may carry spaces or lower case. Either way only the code itself is looked up.
    """
    code = normalize_code(raw)
    if not code or len(code) > 16:
        return None
    return (
        Activity.objects.filter(
            code=code,
            scheme_id=household.scheme_id,
            region__path__in=ancestor_paths(household.village.path),
        )
        .select_related("region", "rule")
        .first()
    )


def enrolment_of(household: Household, activity: Activity) -> Enrolment | None:
    return Enrolment.objects.filter(
        activity_id=activity.pk, household_id=household.pk, status=EnrolmentStatus.ENROLLED
    ).first()


def attendance_of(household: Household, activity: Activity) -> Attendance | None:
    return Attendance.objects.filter(activity_id=activity.pk, household_id=household.pk).first()


def hours_of(household: Household) -> QuerySet[Attendance]:
    """The household's attendance, newest first, with the claim each one became."""
    return (
        Attendance.objects.filter(household_id=household.pk, scheme_id=household.scheme_id)
        .select_related("activity__rule", "claim")
        .order_by("-checked_in_at", "-pk")
    )


def mutual_helps_of(household: Household) -> QuerySet[MutualHelp]:
    """Mutual help the household gave or received, newest first."""
    return (
        MutualHelp.objects.filter(
            Q(helper_id=household.pk) | Q(helped_id=household.pk), scheme_id=household.scheme_id
        )
        .select_related("helper", "helped", "rule", "claim")
        .order_by("-created_at", "-pk")
    )


def mutual_help_waiting(household: Household) -> QuerySet[MutualHelp]:
    """Help others say they gave this household, waiting for its confirmation."""
    return mutual_helps_of(household).filter(
        helped_id=household.pk, status=MutualHelpStatus.PENDING
    )


def mutual_help_of_household(household: Household, help_id: object) -> MutualHelp:
    """A record the household is part of (as helper or helped); anything else is a 404."""
    pk = parse_id(help_id)
    found = mutual_helps_of(household).filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise NotFound("mutual_help")
    return found


def neighbours_of(household: Household) -> QuerySet[Household]:
    """The other open households of the same village: whom mutual help may be recorded with,
    in pinyin order (the search keys start with the name's initials: the same on every
    database, unlike the collation of Chinese text)."""
    return (
        Household.objects.filter(scheme_id=household.scheme_id, village_id=household.village_id)
        .exclude(pk=household.pk)
        .exclude(status=HouseholdStatus.CLOSED)
        .order_by("search_keys", "head_name", "pk")
    )


def neighbour_for(
    household: Household, *, household_id: object = None, card_code: str = ""
) -> Household:
    """The other household picked from the village's list (``household_id``) or by its card
    code. Only households of the same village (any status, so the service can say why a
    closed one is refused); anything else is a field error."""
    village = Household.objects.filter(
        scheme_id=household.scheme_id, village_id=household.village_id
    ).select_related("village")
    code = normalize_code(card_code)
    if code:
        found = village.filter(card_code=code).first() if len(code) <= 16 else None
        if found is None:
            raise invalid(_("没有找到这个卡号，或对方不是本村农户"), field="card")
        return found
    pk = parse_id(household_id)
    if pk is None:
        raise invalid(_("请选择对方户主，或输入对方的积分卡号"), field="other")
    found = village.filter(pk=pk).first()
    if found is None:
        raise invalid(_("请从本村农户中选择"), field="other")
    return found
