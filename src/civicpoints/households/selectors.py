"""Reads of households, always through the actor's scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from civicpoints.households import crypto, idcard
from civicpoints.households.models import Household
from civicpoints.schemes.scope import HOUSEHOLD_READERS, Actor, get_scoped, scoped

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
    """By name, pinyin initials or full pinyin, phone digits, or card code."""
    return household_search_in(households_visible(actor), query, limit=limit)


def household_search_in(
    households: QuerySet[Household], query: str, *, limit: int = 50
) -> QuerySet[Household]:
    """The same search within a given set (e.g. the households a store serves)."""
    q = (query or "").strip()
    base = households.select_related("village", "account").order_by("pk")
    if not q:
        return base[:limit]
    # An ID number first: most end in a digit and would otherwise be taken for phone digits.
    if len(q) == 18 and idcard.problem(idcard.normalize(q)) is None:
        match = Q(members__id_number_digest=crypto.digest(idcard.normalize(q)))
    elif q.isascii() and q.isdigit():
        match = Q(phone__contains=q) if len(q) >= 4 else Q(pk__in=[])
        match |= Q(members__phone__contains=q) if len(q) >= 4 else Q()
        match |= Q(card_code=q)
    elif q.isascii() and q.isalpha():
        match = Q(search_keys__contains=" " + q.lower()) | Q(card_code=q.upper())
    elif q.isascii() and q.isalnum():
        match = Q(card_code=q.upper())
    else:
        match = Q(head_name__contains=q) | Q(members__name__contains=q)
    return base.filter(match).distinct()[:limit]
