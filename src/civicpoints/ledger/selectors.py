"""Reads of balances and history. Busy accounts are the sum of their entries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from civicpoints.ledger.models import Account, Entry


@dataclass(frozen=True)
class Balance:
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def household_balance(*, household_id: int) -> Balance:
    row = Account.objects.filter(household_id=household_id).values("balance", "held").first()
    return Balance(row["balance"], row["held"]) if row else Balance(0, 0)


def account_total(*, account_id: int) -> int:
    return Entry.objects.filter(account_id=account_id).aggregate(t=Sum("amount"))["t"] or 0


def household_entries(*, household_id: int) -> QuerySet[Entry]:
    """History, newest first, with what each line was for."""
    return (
        Entry.objects.filter(account__household_id=household_id)
        .select_related("posting", "member")
        .order_by("-posting_id", "-pk")
    )


def household_balance_after(*, posting_id: int, household_id: int) -> int | None:
    """The household's balance right after a posting (the receipt's last line)."""
    return (
        Entry.objects.filter(posting_id=posting_id, account__household_id=household_id)
        .values_list("balance_after", flat=True)
        .first()
    )
