"""Reads of households, always through the actor's scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, QuerySet, Subquery

from civicpoints.households import crypto
from civicpoints.households.models import Household, Member, Relation
from civicpoints.households.search import search_match
from civicpoints.schemes.scope import (
    ADMIN_ROLES,
    HOUSEHOLD_READERS,
    Actor,
    get_scoped,
    scope_key,
    scope_key_q,
    scope_q,
    scoped,
)

REGION_PATH = "village__path"


def households_visible(actor: Actor) -> QuerySet[Household]:
    return scoped(
        actor, Household.objects.all(), region_path_field=REGION_PATH, roles=HOUSEHOLD_READERS
    )


def household_for(actor: Actor, household_id: object) -> Household:
    return get_scoped(
        actor,
        Household.objects.select_related("village", "account"),
        household_id,
        region_path_field=REGION_PATH,
        roles=HOUSEHOLD_READERS,
        what="household",
    )


def household_search(actor: Actor, query: str, *, limit: int = 50) -> QuerySet[Household]:
    """By name (the head's or a member's), pinyin initials or full pinyin, phone digits, ID
    number or card code: at most ``limit`` households in id order (``household_search_ids``)."""
    return households_by_ids(household_search_ids(actor, query, limit=limit))


def household_search_ids(
    actor: Actor, query: str, *, limit: int, within: str = ""
) -> QuerySet[Any]:
    """The ids ``household_search`` shows, for a page to count and cut before it loads rows;
    ``within``: only households of villages under that region path (a figure's drill-down).

    The scope is checked on the households the search's index finds (``scope_key_q``), not
    used as a way in: without column statistics PostgreSQL would otherwise read every
    household of the scheme through its scheme or (scheme, village) index. Without a query
    the list is the scope itself, for which those indexes are right.
    """
    if not (query or "").strip():
        visible = households_visible(actor)
        if within:
            visible = visible.filter(village__path__startswith=within)
        return _search_ids(visible, query, limit=limit)
    households = Household.objects.alias(scope=scope_key(region_path_field=REGION_PATH)).filter(
        scope_key_q(actor, key_field="scope", roles=HOUSEHOLD_READERS)
    )
    if within:
        households = households.filter(village__path__startswith=within)
    return _search_ids(households, query, limit=limit)


def household_search_in(
    households: QuerySet[Household], query: str, *, limit: int = 50
) -> QuerySet[Household]:
    """The same search within a given set (e.g. the households a store serves)."""
    return households_by_ids(_search_ids(households, query, limit=limit))


def households_by_ids(ids: Iterable[int] | QuerySet[Any]) -> QuerySet[Household]:
    """The households of a page of ids (a list, or a sliced ids query) with their village and
    account, in id order: the joins run for the page only, never for every match."""
    return Household.objects.select_related("village", "account").filter(pk__in=ids).order_by("pk")


@dataclass(frozen=True)
class HouseholdsListed:
    """A search's every household, as a file lists them (``households_listed``)."""

    rows: QuerySet[Household]
    full_ids: int  # how many rows carry the head's whole ID number and phone


def households_listed(actor: Actor, ids: QuerySet[Any]) -> HouseholdsListed:
    """Every household of a search (``household_search_ids``) for a list to export: with its
    village, township and account, and the head's ID number and the phone as the reader may
    see them (``id_number_shown``, ``phone_shown``).

    As in the claims export, the admins of a household's village read the whole ID number and
    phone (they register and correct them); everyone else reads them masked, as in the list."""
    heads = Member.objects.filter(household=OuterRef("pk"), relation=Relation.HEAD).order_by("pk")
    admin = scope_q(actor, region_path_field=REGION_PATH, roles=ADMIN_ROLES)
    rows = (
        Household.objects.select_related("village__parent", "account")
        .filter(pk__in=ids)
        .annotate(
            head_id_masked=Subquery(heads.values("id_number_masked")[:1]),
            head_id_encrypted=Subquery(heads.values("id_number_encrypted")[:1]),
            full=ExpressionWrapper(admin, output_field=BooleanField()),
        )
        .order_by("pk")
    )
    return HouseholdsListed(
        rows, rows.filter(admin).count() if actor.grants_for(ADMIN_ROLES) else 0
    )


def id_number_shown(household: Household) -> str:
    """The head's ID number on a row of ``households_listed``: whole for the village's admins."""
    encrypted = getattr(household, "head_id_encrypted", "") or ""
    if getattr(household, "full", False) and encrypted:
        return crypto.decrypt(encrypted)
    return getattr(household, "head_id_masked", "") or ""


def phone_shown(household: Household) -> str:
    """The phone on a row of ``households_listed``: whole for the village's admins."""
    return household.phone if getattr(household, "full", False) else household.masked_phone


def _search_ids(households: QuerySet[Household], query: str, *, limit: int) -> QuerySet[Any]:
    """The first ``limit`` ids of a search within ``households``, in id order. One table: no
    join to members and no DISTINCT (the names and numbers of every member are kept on the
    household, ``households/search.py``)."""
    q = (query or "").strip()
    ids = households.order_by("pk").values_list("pk", flat=True)
    if q:
        db = households.db
        ids = ids.filter(search_match(q, vendor=connections[db].vendor, alias=db))
    return ids[:limit]
