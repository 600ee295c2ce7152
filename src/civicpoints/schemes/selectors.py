"""Reads of regions and schemes within the actor's scope."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from civicpoints.errors import NotFound, PermissionDenied
from civicpoints.schemes.models import Region, Scheme, User
from civicpoints.schemes.scope import STAFF_ROLES, Actor, parse_id


def regions_visible(actor: Actor) -> QuerySet[Region]:
    """Regions under any granted region (regions are shared geography, not scheme rows)."""
    q = Q(pk__in=[])
    for g in actor.grants_for(STAFF_ROLES):
        q |= Q(path__startswith=g.region_path)
    return Region.objects.filter(q).order_by("code")


def region_for(actor: Actor, region_id: object) -> Region:
    pk = parse_id(region_id)
    region = regions_visible(actor).filter(pk=pk).first() if pk is not None else None
    if region is None:
        raise NotFound("region")
    return region


def scheme_for_region(
    actor: Actor, region: Region, *, prefer: Iterable[str] = STAFF_ROLES
) -> Scheme:
    """The actor's scheme covering ``region``, taken from a grant of a ``prefer`` role if any.

    Where two schemes overlap (a community scheme inside a county's), the grant that can do
    the action decides, not whichever grant happens to come first.
    """
    for g in actor.grants_for(prefer) + actor.grants_for(STAFF_ROLES):
        if region.path.startswith(g.region_path):
            return Scheme.objects.get(pk=g.scheme_id)
    raise NotFound("scheme")


def schemes_governed(actor: Actor, roles: Iterable[str]) -> list[Scheme]:
    """Schemes in which the actor holds one of ``roles`` over the scheme's whole region, with
    their operator region, in id order: the one query for "the schemes this person governs".

    Scheme-wide reads and writes (the ledger's verification, settlement, budgets, risk
    settings, merchants) name rows anywhere in the scheme, so a grant over one township is
    not enough for them.
    """
    roles = frozenset(roles)
    return [s for s in schemes_granted(actor, roles) if governs(actor, s, roles)]


def scheme_governed(actor: Actor, roles: Iterable[str], action: str) -> Scheme:
    """The first scheme ``schemes_governed`` finds; refused (``action``) when there is none."""
    schemes = schemes_governed(actor, roles)
    if not schemes:
        raise PermissionDenied(action)
    return schemes[0]


def governs(actor: Actor, scheme: Scheme, roles: Iterable[str]) -> bool:
    """Whether one of the actor's ``roles`` grants covers the scheme's whole region."""
    return actor.covers(roles=roles, scheme_id=scheme.pk, region_path=scheme.operator_region.path)


def schemes_granted(actor: Actor, roles: Iterable[str]) -> list[Scheme]:
    """Schemes in which the actor holds one of ``roles`` anywhere (imports check each row's
    village against the grants), with their operator region, in id order."""
    ids = {g.scheme_id for g in actor.grants_for(roles)}
    if not ids:
        return []
    return list(Scheme.objects.filter(pk__in=ids).select_related("operator_region").order_by("pk"))


def staff_holding(
    actor: Actor, *, role: str, over_roles: Iterable[str], scheme_id: int | None = None
) -> QuerySet[User]:
    """Staff who hold ``role`` somewhere under the actor's ``over_roles`` grants: whom the actor
    may name (a store's clerks, a merchant's cashiers). Anyone else is not in their scope."""
    q = Q(pk__in=[])
    for g in actor.grants_for(over_roles):
        if scheme_id is None or g.scheme_id == scheme_id:
            q |= Q(
                grants__scheme_id=g.scheme_id,
                grants__region__path__startswith=g.region_path,
                grants__role=role,
            )
    return User.objects.filter(q, is_active=True).distinct().order_by("username")


def user_exists(user_id: int) -> bool:
    return User.objects.filter(pk=user_id).exists()
