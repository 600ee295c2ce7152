"""Reads of balances and history. Busy accounts are the sum of their entries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _

from civicpoints.bulk import bound_cursor
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.models import STORED_TEXT, Account, Entry, Posting, PostingKind


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


def household_account_ids(*, household_ids: Iterable[int]) -> dict[int, int]:
    """Account id by household id (by the unique household key; no lock, no model rows)."""
    wanted = list(household_ids)
    if not wanted:
        return {}
    if connection.vendor == "postgresql":
        # One array parameter bound on the server, not a placeholder per id (psycopg parses a
        # long query text again on every call), and one unique-key probe per household (LIMIT 1 keeps it an
        # index lookup even where the planner, without statistics, would scan the table).
        with bound_cursor() as cursor:
            cursor.execute(
                "SELECT a.household_id, a.id FROM unnest(%b::bigint[]) AS h(id) "
                "CROSS JOIN LATERAL (SELECT household_id, id FROM ledger_account "
                "WHERE household_id = h.id LIMIT 1) AS a",
                [wanted],
            )
            return dict(cursor.fetchall())
    return dict(Account.objects.filter(household_id__in=wanted).values_list("household_id", "pk"))


def account_total(*, account_id: int) -> int:
    return Entry.objects.filter(account_id=account_id).aggregate(t=Sum("amount"))["t"] or 0


# What a posting was about, joined in the same query (reverse one-to-ones from the claim,
# the redemption, the payment or refund to their posting): no query per history line.
REASON_JOINS = (
    "posting__actor",
    "posting__reverses",
    "posting__claim__rule",
    "posting__claim__village_approved_by",
    "posting__claim__township_approved_by",
    "posting__redemption__store",
    "posting__redemption_return__store",
    "posting__payment__merchant",
    "posting__refund__merchant",
)


def household_entries(*, household_id: int) -> QuerySet[Entry]:
    """History, newest first, with what each line was for (see ``describe_entries``)."""
    return (
        Entry.objects.filter(account__household_id=household_id)
        .select_related("member", *REASON_JOINS)
        .order_by("-posting_id", "-pk")
    )


@dataclass(frozen=True)
class HistoryLine:
    """One history line in plain words: ``title`` (rule, store, merchant ...), ``detail``
    (activity, items, memo) and who approved or made it."""

    entry_id: int
    posting_id: int
    kind: str
    kind_label: str
    created_at: dt.datetime
    amount: int
    balance_after: int | None
    title: str
    detail: str
    approved_by: str
    member: str

    @property
    def signed_points(self) -> str:
        return ("+" if self.amount > 0 else "-") + format_points(abs(self.amount))


def household_history(*, household_id: int, limit: int = 50, offset: int = 0) -> list[HistoryLine]:
    """A household's history in plain words, newest first: three queries for any page size."""
    entries = household_entries(household_id=household_id)[offset : offset + limit]
    return describe_entries(list(entries))


def _related(obj: object, name: str) -> Any:
    """A reverse one-to-one loaded by select_related, or None when there is none."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:  # RelatedObjectDoesNotExist of whichever model
        return None


def _person(user: object | None) -> str:
    return str(user) if user is not None else ""


def describe_entries(entries: Sequence[Entry]) -> list[HistoryLine]:
    """Entries from ``household_entries`` -> lines; one query for activity titles and one for
    redeemed items, whatever the number of entries."""
    postings = [e.posting for e in entries]
    claims = [c for c in (_related(p, "claim") for p in postings) if c is not None]
    activity_ids = {
        int(c.origin_ref.split(":", 1)[1])
        for c in claims
        if c.origin_ref.startswith("activity:") and c.origin_ref.split(":", 1)[1].isdigit()
    }
    activities: dict[int, str] = {}
    if activity_ids:
        activity = apps.get_model("activities", "Activity")
        activities = dict(activity.objects.filter(pk__in=activity_ids).values_list("pk", "title"))
    redemption_ids = {
        r.pk
        for p in postings
        for r in (_related(p, "redemption"), _related(p, "redemption_return"))
        if r is not None
    }
    items: dict[int, list[str]] = defaultdict(list)
    if redemption_ids:
        line = apps.get_model("stores", "RedemptionLine")
        rows = (
            line.objects.filter(redemption_id__in=redemption_ids)
            .order_by("pk")
            .values_list("redemption_id", "product__name", "quantity")
        )
        for redemption_id, name, quantity in rows:
            items[redemption_id].append(f"{name}×{quantity}")
    return [_line(e, activities, items) for e in entries]


def _line(entry: Entry, activities: dict[int, str], items: dict[int, list[str]]) -> HistoryLine:
    posting: Posting = entry.posting
    kind_label = str(posting.get_kind_display())
    title, detail, approved = posting.memo or kind_label, "", ""
    claim = _related(posting, "claim")
    redemption = _related(posting, "redemption")
    returned = _related(posting, "redemption_return")
    payment = _related(posting, "payment")
    refund = _related(posting, "refund")
    if claim is not None:
        title = claim.rule.name
        ref = claim.origin_ref
        if ref.startswith("activity:") and ref[9:].isdigit() and int(ref[9:]) in activities:
            detail = _("志愿活动：%(title)s") % {"title": activities[int(ref[9:])]}
        if posting.memo.startswith(title) and posting.memo != title:
            detail = " ".join(filter(None, [detail, posting.memo[len(title) :]]))
        names = [
            _person(claim.village_approved_by),
            _person(claim.township_approved_by),
        ]
        approved = _("、").join(n for n in names if n)
    elif redemption is not None:
        title = _("%(store)s 兑换") % {"store": redemption.store.name}
        detail = _("、").join(items.get(redemption.pk, []))
    elif returned is not None:
        title = _("%(store)s 退货") % {"store": returned.store.name}
        detail = _("、").join(items.get(returned.pk, []))
    elif payment is not None:
        title = _("%(shop)s 消费") % {"shop": payment.merchant.shop_name}
    elif refund is not None:
        title = _("%(shop)s 退款") % {"shop": refund.merchant.shop_name}
        detail = refund.reason
    elif posting.kind == PostingKind.REVERSAL:
        original = posting.reverses
        title = _("冲正：%(what)s") % {
            "what": (original.memo or original.get_kind_display()) if original else kind_label
        }
        own = STORED_TEXT["reversal"] % {"posting": ""}  # the memo reverse() writes
        detail = posting.memo if posting.memo and not posting.memo.startswith(own) else ""
        approved = _person(posting.actor)
    elif posting.kind == PostingKind.ADJUSTMENT:
        title = kind_label
        detail = _("原因：%(memo)s") % {"memo": posting.memo} if posting.memo else ""
        approved = _person(posting.actor)
    elif posting.kind == PostingKind.EXPIRY:
        title = kind_label
    return HistoryLine(
        entry_id=entry.pk,
        posting_id=posting.pk,
        kind=posting.kind,
        kind_label=kind_label,
        created_at=posting.created_at,
        amount=entry.amount,
        balance_after=entry.balance_after,
        title=title,
        detail=detail,
        approved_by=approved,
        member=entry.member.name if entry.member else "",
    )


def household_balance_after(*, posting_id: int, household_id: int) -> int | None:
    """The household's balance right after a posting (the receipt's last line)."""
    return (
        Entry.objects.filter(posting_id=posting_id, account__household_id=household_id)
        .values_list("balance_after", flat=True)
        .first()
    )
