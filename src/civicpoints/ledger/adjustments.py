"""Manual adjustments by a county admin: a reason, an audit row, and a normal posting."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import invalid
from civicpoints.households.models import Household
from civicpoints.ledger.models import AccountKind, Posting, PostingKind
from civicpoints.ledger.services import (
    Leg,
    household_account,
    post,
    post_replay,
    system_account,
)
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, require_role


def adjustment_create(
    *,
    actor: Actor,
    household: Household,
    amount: int,
    reason: str,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> Posting:
    """Credit (amount > 0) or debit (amount < 0) a household; debits never exceed available."""
    require_role(
        actor,
        roles=[Role.COUNTY_ADMIN],
        scheme_id=household.scheme_id,
        region_path=household.village.path,
        action="ledger.adjust",
    )
    reason = (reason or "").strip()
    if not reason:
        raise invalid(_("请填写调整原因"), field="reason")
    if len(reason) > 200:
        raise invalid(_("调整原因太长（最多200个字）"), field="reason")
    if amount == 0:
        raise invalid(_("调整积分不能为0"), field="points")
    with transaction.atomic():
        earlier = (
            post_replay(
                scheme_id=household.scheme_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
            if idempotency_key is not None
            else None
        )
        if earlier is not None:
            # A retry gets the first posting; its audit row was written with it.
            return earlier
        mine = household_account(household=household)
        other = system_account(scheme_id=household.scheme_id, kind=AccountKind.ADJUSTMENT)
        posting = post(
            scheme_id=household.scheme_id,
            kind=PostingKind.ADJUSTMENT,
            legs=[Leg(mine, amount), Leg(other, -amount)],
            actor_id=actor.user_id,
            memo=reason,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            ref=("household", household.pk),
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=household.scheme_id,
            action=AuditAction.LEDGER_ADJUST,
            obj=posting,
            region_id=household.village_id,
            detail={"household": household.pk, "amount": amount, "reason": reason},
        )
    return posting
