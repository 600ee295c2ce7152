"""A household's standing (一票否决): disqualify it from earning and redeeming for a period,
lift that, and the one check every side asks (``disqualified_on``).

Awards refuse to approve, stores and merchants refuse to redeem while a ban runs; all of them
ask here, so spending never has to import earning. Nothing here knows about claims or stores.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Disqualification, Household
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role


def household_disqualify(
    *, actor: Actor, household: Household, reason: str, starts_on: dt.date, ends_on: dt.date
) -> Disqualification:
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action="household.disqualify",
    )
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise invalid(_("请填写一票否决的原因（最多500个字）"), field="reason")
    if ends_on < starts_on:
        raise invalid(_("结束日期不能早于开始日期"), field="ends_on")
    if (ends_on - starts_on).days > 3 * 366:
        raise invalid(_("一票否决期最长三年"), field="ends_on")
    with transaction.atomic():
        ban = Disqualification.objects.create(
            scheme_id=household.scheme_id,
            household=household,
            reason=reason,
            starts_on=starts_on,
            ends_on=ends_on,
            created_by_id=actor.user_id,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=household.scheme_id,
            action=AuditAction.HOUSEHOLD_DISQUALIFY,
            obj=ban,
            detail={"household": household.pk, "until": ends_on.isoformat(), "reason": reason},
        )
    return ban


def disqualification_lift(*, actor: Actor, ban: Disqualification, reason: str) -> None:
    household = Household.objects.select_related("village").get(pk=ban.household_id)
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action="household.disqualify",
    )
    with transaction.atomic():
        lifted = Disqualification.objects.filter(pk=ban.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now()
        )
        if lifted != 1:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("该一票否决已解除"))
        audit_record(
            actor_id=actor.user_id,
            scheme_id=household.scheme_id,
            action=AuditAction.HOUSEHOLD_DISQUALIFY_LIFT,
            obj=ban,
            detail={"reason": reason[:200]},
        )


def disqualified_on(*, household_id: int, day: dt.date) -> Disqualification | None:
    """The ban (the longest, if several) that keeps the household from earning or redeeming
    on ``day``, or None."""
    return (
        Disqualification.objects.filter(
            household_id=household_id, lifted_at__isnull=True, starts_on__lte=day, ends_on__gte=day
        )
        .order_by("-ends_on")
        .first()
    )
