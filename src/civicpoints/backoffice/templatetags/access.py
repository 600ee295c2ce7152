"""Whether the person looking may reset PINs and issue cards: shown only to those who may."""

from __future__ import annotations

from typing import Any

from django import template

from civicpoints.households.models import Household
from civicpoints.households.pins import PIN_MANAGERS, can_manage_access
from civicpoints.schemes.scope import Actor, actor_for_user

register = template.Library()


def _actor(context: Any) -> Actor:
    can = context.get("can")
    actor = getattr(can, "actor", None) if can is not None else None
    return actor if isinstance(actor, Actor) else actor_for_user(context.get("user"))


@register.simple_tag(takes_context=True)
def manages_access(context: Any, household: Household) -> bool:
    """PIN reset and card issue for this household (admins over its village)."""
    return can_manage_access(_actor(context), household)


@register.simple_tag(takes_context=True)
def prints_letters(context: Any) -> bool:
    """Any village whose PIN letters and cards this person may print."""
    return bool(_actor(context).grants_for(PIN_MANAGERS))
