"""Reads of campaigns, nominees, certificates and ceremonies, always through who is asking:
staff by their grants (a county's campaign reaches the staff of each village in it), a
resident by their household's village, anyone by a certificate's code."""

from __future__ import annotations

from django.db.models import QuerySet

from civicpoints.errors import NotFound
from civicpoints.honours.models import Campaign, Certificate, HonourCeremony, Nominee
from civicpoints.households.models import Household
from civicpoints.schemes.scope import (
    HOUSEHOLD_READERS,
    Actor,
    ancestor_paths,
    one_or_404,
    reach_q,
)


def campaigns_visible(actor: Actor) -> QuerySet[Campaign]:
    return (
        Campaign.objects.filter(reach_q(actor, roles=HOUSEHOLD_READERS))
        .select_related("region", "rule", "vote_rule", "scheme")
        .order_by("-created_at", "-pk")
    )


def campaign_for(actor: Actor, campaign_id: object) -> Campaign:
    return one_or_404(campaigns_visible(actor), campaign_id, "campaign")


def campaigns_of_household(household: Household) -> QuerySet[Campaign]:
    """Campaigns whose region holds the household's village."""
    return Campaign.objects.filter(
        scheme_id=household.scheme_id,
        region__path__in=ancestor_paths(household.village.path),
    ).select_related("vote_rule", "region")


def campaign_for_household(household: Household, campaign_id: object) -> Campaign:
    return one_or_404(campaigns_of_household(household), campaign_id, "campaign")


def nominees_of(campaign: Campaign, *, village_ids: list[int] | None = None) -> QuerySet[Nominee]:
    rows = Nominee.objects.filter(campaign=campaign).select_related(
        "household", "member", "village", "claim", "certificate"
    )
    if village_ids is not None:
        rows = rows.filter(village_id__in=village_ids)
    return rows.order_by("village__code", "place", "pk")


def titles_of_household(household: Household) -> QuerySet[Nominee]:
    """A household's titles (won, whatever their claim's state), newest first."""
    return (
        Nominee.objects.filter(household=household, winner=True)
        .select_related("campaign", "member", "claim", "certificate")
        .order_by("-campaign__published_at", "-pk")
    )


def certificate_by_code(code: str) -> Certificate:
    code = (code or "").strip()
    found = (
        Certificate.objects.filter(code=code)
        .select_related("nominee__claim", "nominee__campaign__scheme")
        .first()
        if code.isascii() and 0 < len(code) <= 20
        else None
    )
    if found is None:
        raise NotFound("certificate")
    return found


def ceremonies_visible(actor: Actor) -> QuerySet[HonourCeremony]:
    return (
        HonourCeremony.objects.filter(reach_q(actor, roles=HOUSEHOLD_READERS))
        .select_related("region", "scheme")
        .order_by("-held_on", "-pk")
    )


def ceremony_for(actor: Actor, ceremony_id: object) -> HonourCeremony:
    return one_or_404(ceremonies_visible(actor), ceremony_id, "ceremony")
