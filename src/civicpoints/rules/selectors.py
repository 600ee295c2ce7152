"""Reads of the rule catalogue."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from civicpoints.errors import NotFound
from civicpoints.rules.models import Rule
from civicpoints.schemes.scope import Actor, parse_id


def rules_in_force(*, scheme_id: int, at: dt.datetime | None = None) -> QuerySet[Rule]:
    at = at or timezone.now()
    return Rule.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gt=at),
        scheme_id=scheme_id,
        effective_from__lte=at,
    ).order_by("category", "code")


def rule_in_force(*, scheme_id: int, rule_id: object, at: dt.datetime | None = None) -> Rule:
    """The version in force at ``at`` of the rule named by id (any version's id works)."""
    pk = parse_id(rule_id)
    named = Rule.objects.filter(pk=pk, scheme_id=scheme_id).first() if pk else None
    if named is None:
        raise NotFound("rule")
    found = rules_in_force(scheme_id=scheme_id, at=at).filter(code=named.code).first()
    if found is None:
        raise NotFound("rule")
    return found


def rules_for(actor: Actor) -> QuerySet[Rule]:
    """Every version of every rule in the actor's schemes (newest first within a code)."""
    return Rule.objects.filter(scheme_id__in=actor.scheme_ids).order_by(
        "scheme", "category", "code", "-effective_from"
    )
