"""Reconciliation of one business day: ledger vs statements vs payouts. Reads only; every
difference it reports must be zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _

from civicpoints.ledger.models import AccountKind, Entry, PostingKind
from civicpoints.merchants.models import Payment, Refund, Statement, StatementStatus
from civicpoints.merchants.settlement.statements import day_bounds, yuan_fen
from civicpoints.schemes.models import Scheme


@dataclass(frozen=True)
class Check:
    name: str
    expected: int
    actual: int

    @property
    def difference(self) -> int:
        return self.actual - self.expected


def reconcile(*, scheme: Scheme, day: dt.date) -> list[Check]:
    """Ledger vs statements vs payouts for one business day; every difference must be zero.

    1. Payments and refunds in the ledger during D, adjusted for rows claimed earlier or later
       than D, equal the nets of D's statements.
    2. Each statement's rows add up to its totals.
    3. The settlement postings of D's statements carry their nets.
    4. The payout postings of D's paid statements carry their nets; paid amounts in fen match.
    """
    start, end = day_bounds(day)
    statements = Statement.objects.filter(scheme=scheme, business_date=day)
    ids = list(statements.values_list("pk", flat=True))
    payable = Entry.objects.filter(scheme=scheme, account__kind=AccountKind.MERCHANT_PAYABLE)
    # The ledger's side of D's rows: the entries of their own postings on payable accounts.
    ledger_day = _sum(
        payable.filter(
            posting__payment__created_at__gte=start, posting__payment__created_at__lt=end
        )
    ) + _sum(
        payable.filter(posting__refund__created_at__gte=start, posting__refund__created_at__lt=end)
    )

    def rows_net(**where: Any) -> int:
        pay = Payment.objects.filter(scheme=scheme, **where).aggregate(s=Sum("points"))["s"] or 0
        ref = Refund.objects.filter(scheme=scheme, **where).aggregate(s=Sum("points"))["s"] or 0
        return pay - ref

    in_day = {"created_at__gte": start, "created_at__lt": end}
    claimed_elsewhere = rows_net(**in_day) - rows_net(statement_id__in=ids, **in_day)
    claimed_from_before = rows_net(statement_id__in=ids, created_at__lt=start)
    nets = statements.aggregate(s=Sum("net"))["s"] or 0
    from_rows = rows_net(statement_id__in=ids)
    settled = -_sum(
        payable.filter(posting__kind=PostingKind.SETTLEMENT, posting__statement__in=ids)
    )
    paid = statements.filter(status=StatementStatus.PAID)
    paid_nets = paid.aggregate(s=Sum("net"))["s"] or 0
    paid_postings = _sum(
        Entry.objects.filter(
            scheme=scheme,
            account__kind=AccountKind.FUNDS,
            posting__payout_statement__in=list(paid.values_list("pk", flat=True)),
        )
    )
    fen_expected = sum(yuan_fen(s.net, s.yuan_per_point) for s in paid)
    fen_actual = paid.aggregate(s=Sum("amount_fen"))["s"] or 0
    return [
        Check(
            _("账本当日收款净额（扣除跨日结算）= 结算单净额"),
            nets,
            ledger_day - claimed_elsewhere + claimed_from_before,
        ),
        Check(_("结算单明细合计 = 结算单净额"), nets, from_rows),
        Check(_("结算记账 = 结算单净额"), nets, settled),
        Check(_("付款记账 = 已付结算单净额"), paid_nets, paid_postings),
        Check(_("已付金额(分) = 净额 × 兑换比例"), fen_expected, fen_actual),
    ]


def _sum(entries: QuerySet[Entry]) -> int:
    return int(entries.aggregate(s=Sum("amount"))["s"] or 0)
