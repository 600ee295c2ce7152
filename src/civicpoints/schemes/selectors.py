"""Reads of regions and schemes within the actor's scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from civicpoints.errors import NotFound
from civicpoints.schemes.models import Region, Scheme
from civicpoints.schemes.scope import STAFF_ROLES, Actor


def regions_visible(actor: Actor) -> QuerySet[Region]:
    """Regions under any granted region (regions are shared geography, not scheme rows)."""
    q = Q(pk__in=[])
    for g in actor.grants_for(STAFF_ROLES):
        q |= Q(path__startswith=g.region_path)
    return Region.objects.filter(q).order_by("code")


def region_for(actor: Actor, region_id: object) -> Region:
    try:
        pk = int(region_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise NotFound("region") from None
    region = regions_visible(actor).filter(pk=pk).first() if 0 < pk < 2**62 else None
    if region is None:
        raise NotFound("region")
    return region


def scheme_for_region(actor: Actor, region: Region) -> Scheme:
    """The actor's scheme whose operator region contains ``region``."""
    for g in actor.grants_for(STAFF_ROLES):
        if region.path.startswith(g.region_path):
            return Scheme.objects.get(pk=g.scheme_id)
    raise NotFound("scheme")
