"""Reads of announcements and complaints/suggestions, always inside a scope.

Staff read a village's items when a grant of theirs covers the village (village, township and
county admins, auditors); a resident reads their own village's announcements and their own
household's complaints. Anything else is a 404, never a 403, like every scoped object.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.db.models import Q, QuerySet
from django.utils import timezone

from civicpoints.community.models import (
    OPEN_STATUSES,
    Announcement,
    AnnouncementStatus,
    Feedback,
)
from civicpoints.errors import NotFound
from civicpoints.households.models import Household
from civicpoints.images import image_file
from civicpoints.schemes.models import Region, RegionLevel, Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, one_or_404, scoped

# Who posts announcements, replies to complaints and changes their status.
COMMUNITY_WRITERS = ADMIN_ROLES
# Who reads them in the back office (auditors read everything, act on nothing).
COMMUNITY_READERS = ADMIN_ROLES | {Role.AUDITOR}


def community_staff(actor: Actor) -> bool:
    """Whether the back office offers this person the village-life pages at all."""
    return bool(actor.grants_for(COMMUNITY_READERS))


def may_write(actor: Actor, *, scheme_id: int, village: Region) -> bool:
    return actor.covers(roles=COMMUNITY_WRITERS, scheme_id=scheme_id, region_path=village.path)


def villages_for(actor: Actor, roles: frozenset[str] = COMMUNITY_WRITERS) -> list[Region]:
    """The villages under this person's grants for ``roles``, by code (a county has ~200)."""
    q = Q(pk__in=[])
    for g in actor.grants_for(roles):
        q |= Q(path__startswith=g.region_path)
    return list(Region.objects.filter(q, level=RegionLevel.VILLAGE).order_by("code")[:5000])


# --- announcements -------------------------------------------------------------------------


def announcements_visible(actor: Actor) -> QuerySet[Announcement]:
    return scoped(
        actor,
        Announcement.objects.select_related("village", "created_by", "updated_by"),
        region_path_field="village__path",
        roles=COMMUNITY_READERS,
    ).order_by("-pinned", "-published_at", "-pk")


def announcement_for(actor: Actor, announcement_id: object) -> Announcement:
    return one_or_404(announcements_visible(actor), announcement_id, "announcement")


def announcements_for_household(
    household: Household, *, now: dt.datetime | None = None
) -> QuerySet[Announcement]:
    """What the household's phone lists: published in its village, pinned first, newest first."""
    return Announcement.objects.filter(
        scheme_id=household.scheme_id,
        village_id=household.village_id,
        status=AnnouncementStatus.PUBLISHED,
        published_at__lte=now or timezone.now(),
    ).order_by("-pinned", "-published_at", "-pk")


def announcement_of_household(household: Household, announcement_id: object) -> Announcement:
    return one_or_404(announcements_for_household(household), announcement_id, "announcement")


# --- complaints and suggestions ------------------------------------------------------------


def feedback_visible(actor: Actor) -> QuerySet[Feedback]:
    return scoped(
        actor,
        Feedback.objects.select_related("village", "household"),
        region_path_field="village__path",
        roles=COMMUNITY_READERS,
    ).order_by("-created_at", "-pk")


def feedback_for(actor: Actor, feedback_id: object) -> Feedback:
    return one_or_404(feedback_visible(actor), feedback_id, "feedback")


def feedback_open_count(actor: Actor) -> int:
    """Items still waiting for the village (待处理 and 处理中), for the staff menu."""
    if not community_staff(actor):
        return 0
    return feedback_visible(actor).filter(status__in=OPEN_STATUSES).count()


def feedback_of_household(household: Household) -> QuerySet[Feedback]:
    return (
        Feedback.objects.filter(scheme_id=household.scheme_id, household_id=household.pk)
        .prefetch_related("replies")
        .order_by("-created_at", "-pk")
    )


def feedback_item_of_household(household: Household, feedback_id: object) -> Feedback:
    return one_or_404(feedback_of_household(household), feedback_id, "feedback")


def feedback_photo(feedback: Feedback) -> Path:
    """The stored photo of an item the caller already found in scope (NotFound if none)."""
    if not feedback.photo_path:
        raise NotFound("photo")
    return image_file(feedback.photo_path)
