"""Holds (two-phase): ``hold()`` reserves points on a household account, ``capture()`` turns
the hold into a posting, ``release()`` gives the points back.

The held amount moves only through ``household_balance_move`` (the guarded update of
``posting``), never by reading ``held`` and writing it back.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.ledger.models import Account, AccountKind, Hold, HoldStatus, Posting, PostingKind
from civicpoints.ledger.services.posting import Leg, household_balance_move, post


def hold(
    *,
    account: Account,
    amount: int,
    memo: str = "",
    expires_at: Any = None,
    idempotency_key: str | None = None,
) -> Hold:
    """Reserve points on a household account; they stay in the balance but are not available."""
    if account.kind != AccountKind.HOUSEHOLD:
        raise ValueError("only household accounts hold points")
    if not isinstance(amount, int) or amount <= 0 or amount > MAX_HUNDREDTHS:
        raise ApplicationError(ErrorCode.INVALID_INPUT, _("冻结积分必须为正数"))
    if idempotency_key is not None:
        earlier = _hold_replay(account, amount, idempotency_key)
        if earlier is not None:
            return earlier
    try:
        with transaction.atomic():
            # The hold row first: its unique key is the gate for a concurrent retry (as in post()).
            created = Hold.objects.create(
                scheme_id=account.scheme_id,
                account=account,
                amount=amount,
                memo=memo[:200],
                expires_at=expires_at,
                idempotency_key=idempotency_key,
            )
            household_balance_move(account_id=account.pk, delta=0, held_delta=amount)
            return created
    except IntegrityError:
        earlier = (
            None if idempotency_key is None else _hold_replay(account, amount, idempotency_key)
        )
        if earlier is None:
            raise
        return earlier


def _hold_replay(account: Account, amount: int, idempotency_key: str) -> Hold | None:
    """The earlier hold for this key; the same key for another account or amount is refused."""
    earlier = Hold.objects.filter(
        scheme_id=account.scheme_id, idempotency_key=idempotency_key
    ).first()
    if earlier is not None and (earlier.account_id, earlier.amount) != (account.pk, amount):
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return earlier


def _close_hold(hold_obj: Hold, status: str) -> None:
    closed = Hold.objects.filter(pk=hold_obj.pk, status=HoldStatus.ACTIVE).update(status=status)
    if closed != 1:
        raise ApplicationError(ErrorCode.HOLD_NOT_ACTIVE)


def capture(
    *,
    hold_obj: Hold,
    to_account: Account,
    amount: int | None = None,
    kind: str = PostingKind.CAPTURE,
    actor_id: int | None = None,
    memo: str = "",
) -> Posting:
    """Turn a hold into a posting (all of it, or less: the rest is released)."""
    amount = hold_obj.amount if amount is None else amount
    if not isinstance(amount, int) or not 0 < amount <= hold_obj.amount:
        raise ApplicationError(ErrorCode.INVALID_INPUT, _("扣减积分不能超过冻结积分"))
    with transaction.atomic():
        _close_hold(hold_obj, HoldStatus.CAPTURED)
        account = hold_obj.account
        posting = post(
            scheme_id=hold_obj.scheme_id,
            kind=kind,
            legs=[Leg(account, -amount), Leg(to_account, amount)],
            actor_id=actor_id,
            memo=memo or hold_obj.memo,
            release_held={account.pk: hold_obj.amount},
            ref=("hold", hold_obj.pk),
        )
        Hold.objects.filter(pk=hold_obj.pk).update(capture_posting=posting)
        return posting


def release(*, hold_obj: Hold) -> None:
    """Give held points back to the household's available balance."""
    with transaction.atomic():
        _close_hold(hold_obj, HoldStatus.RELEASED)
        household_balance_move(account_id=hold_obj.account_id, delta=0, held_delta=-hold_obj.amount)
