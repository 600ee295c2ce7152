"""星级文明户: one to five stars a year from thresholds each scheme sets (points earned in the
year, optional categories that must have earned points, no 一票否决 in the year).

Computed for a year that has ended, from that year's closed totals (``rankings.period_close``),
so a rating never moves because of a later posting; running it again changes only what the
thresholds or the bans changed, and every change of a household's stars is an audit row.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.audit.services import audit_record
from civicpoints.errors import PermissionDenied, invalid
from civicpoints.honours.models import ClosedStanding, StarLevel, StarRating, StarRun
from civicpoints.honours.rankings import period_close
from civicpoints.households.models import Household
from civicpoints.households.standing import Disqualification
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.reports.models import HouseholdDay, PeriodKind
from civicpoints.reports.periods import Period
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import Actor
from civicpoints.schemes.selectors import schemes_governed

STAR_SETTERS = (Role.COUNTY_ADMIN,)
STAR_READERS = (Role.COUNTY_ADMIN, Role.AUDITOR)


@dataclass(frozen=True)
class Level:
    stars: int
    points: int  # hundredths earned in the year, at least
    categories: tuple[str, ...] = ()


def stars_for(levels: Sequence[Level], *, points: int, categories: set[str], banned: bool) -> int:
    """The most stars whose conditions hold (0: none)."""
    if banned:
        return 0
    return max(
        (
            level.stars
            for level in levels
            if points >= level.points and set(level.categories) <= categories
        ),
        default=0,
    )


def star_levels(*, scheme_id: int) -> list[Level]:
    return [
        Level(row.stars, row.points, tuple(row.categories))
        for row in StarLevel.objects.filter(scheme_id=scheme_id).order_by("stars")
    ]


def star_levels_set(*, actor: Actor, scheme: Scheme, levels: Iterable[Level]) -> list[Level]:
    """Replace the scheme's thresholds (county admins). Stars from 1 to 5, each at most once;
    more stars need more points; categories are the scheme's rule categories."""
    if scheme.pk not in {s.pk for s in schemes_governed(actor, roles=STAR_SETTERS)}:
        raise PermissionDenied("honours.star_levels")
    wanted = sorted(levels, key=lambda level: level.stars)
    known = set(Rule.objects.filter(scheme=scheme).values_list("category", flat=True))
    seen: set[int] = set()
    for level in wanted:
        if not 1 <= level.stars <= 5 or level.stars in seen:
            raise invalid(_("星级只能是 1 到 5 星，每个星级设一次"), field="stars")
        seen.add(level.stars)
        if not 0 < level.points <= MAX_HUNDREDTHS:
            raise invalid(_("每个星级的积分要大于 0"), field="points")
        unknown = sorted(set(level.categories) - known)
        if unknown:
            raise invalid(
                _("没有这个类别：%(names)s") % {"names": _("、").join(unknown)}, field="categories"
            )
    for lower, higher in pairwise(wanted):
        if higher.points <= lower.points:
            raise invalid(_("星级越高，要求的积分要越多"), field="points")
    with transaction.atomic():
        StarLevel.objects.filter(scheme=scheme).delete()
        StarLevel.objects.bulk_create(
            [
                StarLevel(
                    scheme=scheme, stars=lv.stars, points=lv.points, categories=list(lv.categories)
                )
                for lv in wanted
            ]
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.STAR_LEVELS,
            obj=scheme,
            detail={
                "levels": [
                    {"stars": lv.stars, "points": lv.points, "categories": list(lv.categories)}
                    for lv in wanted
                ]
            },
        )
    return wanted


@dataclass(frozen=True)
class StarsRun:
    year: int
    by_stars: dict[int, int]  # stars -> households (1..5; none are not counted)
    changed: int


def stars_compute(
    *, actor_id: int | None, scheme_id: int, year: int, today: dt.date | None = None
) -> StarsRun:
    """Rate every household of the scheme for ``year`` (which must have ended)."""
    today = today or timezone.localdate()
    if not 2000 <= year <= 2100:
        raise invalid(_("年度写法不对，如 2025"), field="year")
    period = Period(PeriodKind.YEAR, dt.date(year, 1, 1))
    if not period.ended(today):
        raise invalid(_("这一年还没有结束，年底之后才能评星"), field="year")
    levels = star_levels(scheme_id=scheme_id)
    if not levels:
        raise invalid(_("还没有设置星级标准"), field="levels")
    closing = period_close(scheme_id=scheme_id, period=period, today=today)
    assert closing is not None
    earned = dict(
        ClosedStanding.objects.filter(period=closing, member_id=0).values_list(
            "household_id", "points"
        )
    )
    first, last = period.start, dt.date(year, 12, 31)
    categories: dict[int, set[str]] = defaultdict(set)
    for household, category, points in (
        HouseholdDay.objects.filter(scheme_id=scheme_id, day__gte=first, day__lte=last)
        .values_list("household_id", "category")
        .annotate(total=Sum("points"))
        .values_list("household_id", "category", "total")
    ):
        if points > 0:
            categories[household].add(category)
    banned = set(
        Disqualification.objects.filter(
            household__scheme_id=scheme_id,
            lifted_at__isnull=True,
            starts_on__lte=last,
            ends_on__gte=first,
        ).values_list("household_id", flat=True)
    )
    before = {r.household_id: r for r in StarRating.objects.filter(scheme_id=scheme_id, year=year)}
    now = timezone.now()
    new, changed, events = [], [], []
    for household in set(earned) | set(before):
        points = earned.get(household, 0)
        stars = stars_for(
            levels,
            points=points,
            categories=categories.get(household, set()),
            banned=household in banned,
        )
        old = before.get(household)
        was = old.stars if old is not None else 0
        if old is None:
            if stars:
                new.append(
                    StarRating(
                        scheme_id=scheme_id,
                        household_id=household,
                        year=year,
                        stars=stars,
                        points=points,
                        computed_at=now,
                    )
                )
        elif (old.stars, old.points) != (stars, points):
            old.stars, old.points, old.computed_at = stars, points, now
            changed.append(old)
        if was != stars:
            events.append((household, was, stars))
    villages = dict(
        Household.objects.filter(pk__in=[e[0] for e in events]).values_list("pk", "village_id")
    )
    with transaction.atomic():
        StarRating.objects.bulk_create(new, batch_size=2000)
        StarRating.objects.bulk_update(changed, ["stars", "points", "computed_at"], batch_size=2000)
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    scheme_id=scheme_id,
                    actor_id=actor_id,
                    action=AuditAction.STARS_CHANGE,
                    object_type="Household",
                    object_id=str(household),
                    region_id=villages.get(household),
                    detail={"year": year, "from": old_stars, "to": stars},
                    created_at=now,
                )
                for household, old_stars, stars in sorted(events)
            ],
            batch_size=2000,
        )
        counts = Counter(
            StarRating.objects.filter(scheme_id=scheme_id, year=year, stars__gt=0).values_list(
                "stars", flat=True
            )
        )
        by_stars = dict(sorted(counts.items()))
        StarRun.objects.create(
            scheme_id=scheme_id,
            year=year,
            actor_id=actor_id,
            by_stars={str(k): v for k, v in by_stars.items()},
            changed=len(events),
            ran_at=now,
        )
    return StarsRun(year, by_stars, len(events))


def stars_year_end(today: dt.date | None = None) -> int:
    """The scheduler's job: rate last year once, for every scheme that has thresholds; returns
    how many schemes were rated now."""
    today = today or timezone.localdate()
    last = today.year - 1
    done = 0
    for scheme_id in StarLevel.objects.values_list("scheme_id", flat=True).distinct():
        if not StarRun.objects.filter(scheme_id=scheme_id, year=last).exists():
            stars_compute(actor_id=None, scheme_id=scheme_id, year=last, today=today)
            done += 1
    return done


def stars_in_region(*, scheme_id: int, region_path: str, year: int) -> QuerySet[StarRating]:
    """A region's star households of a year, most stars first (then by household id)."""
    return (
        StarRating.objects.filter(
            scheme_id=scheme_id,
            year=year,
            stars__gt=0,
            household__village__path__startswith=region_path,
        )
        .select_related("household__village")
        .order_by("-stars", "household_id")
    )


def stars_of_many(household_ids: Iterable[int]) -> dict[int, StarRating]:
    """Each household's latest rating with a star (for a sheet of cards), in one query."""
    latest: dict[int, StarRating] = {}
    for rating in StarRating.objects.filter(
        household_id__in=list(household_ids), stars__gt=0
    ).order_by("household_id", "-year"):
        latest.setdefault(rating.household_id, rating)
    return latest


def stars_of(*, household_id: int) -> StarRating | None:
    """The household's latest rating with a star (for its pages), or None."""
    return (
        StarRating.objects.filter(household_id=household_id, stars__gt=0).order_by("-year").first()
    )
