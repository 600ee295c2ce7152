"""Ledger accounts: a household's account, the scheme's system accounts, and the one way to
lock household account rows (id order, the order ``post()`` moves them in).

Never moves points: balances change only in ``posting`` (and ``holds`` for ``held``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from civicpoints.ledger.models import Account, AccountKind


def household_account(*, household: Any) -> Account:
    loaded = household._state.fields_cache.get("account")  # select_related("account")
    if loaded is not None:
        return loaded
    account, _ = Account.objects.get_or_create(
        scheme_id=household.scheme_id,
        kind=AccountKind.HOUSEHOLD,
        owner_ref=f"household:{household.pk}",
        defaults={"household": household},
    )
    return account


def household_accounts_create(*, households: Sequence[Any]) -> None:
    """Accounts for many new households at once (bulk loads and imports)."""
    Account.objects.bulk_create(
        [
            Account(
                scheme_id=h.scheme_id,
                kind=AccountKind.HOUSEHOLD,
                owner_ref=f"household:{h.pk}",
                household=h,
            )
            for h in households
        ]
    )


def lock_household_accounts(household_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the households' account rows in id order (the order ``post()`` moves them in) and
    return them by household id, read under the lock.

    The one way code outside the ledger takes these locks: a batch that will post to several
    households locks them all first so two batches cannot deadlock, and a per-household limit
    (a purchase limit, a ceremony's count) is checked by whoever holds the lock, alone.
    """
    wanted = sorted(set(household_ids))
    if not wanted:
        return {}
    locked = Account.objects.select_for_update().filter(household_id__in=wanted).order_by("pk")
    return {a.household_id: a for a in locked if a.household_id is not None}


def system_account(*, scheme_id: int, kind: str, owner_ref: str = "") -> Account:
    if kind == AccountKind.HOUSEHOLD:
        raise ValueError("household accounts belong to households")
    account, _ = Account.objects.get_or_create(scheme_id=scheme_id, kind=kind, owner_ref=owner_ref)
    return account
