"""T+1 settlement of signed merchants (docs/spending.md), one module per seam:

``statements`` settles a business day and marks statements paid, ``payout_files`` writes the
bank's batch file, ``reconciliation`` checks a day, ``scheduled`` is the scheduler's entry.
Importers use the names below; only ``statements`` posts (through ``ledger.services``).
"""

from __future__ import annotations

from civicpoints.merchants.settlement.payout_files import (
    PAYOUT_HEADERS,
    PayoutRow,
    payout_csv,
    payout_rows,
    payout_xlsx,
)
from civicpoints.merchants.settlement.reconciliation import Check, reconcile
from civicpoints.merchants.settlement.scheduled import settle_due, settled_through
from civicpoints.merchants.settlement.statements import (
    OVERDUE_AFTER,
    SettleResult,
    day_bounds,
    overdue,
    settle,
    statement_mark_paid,
    yuan_fen,
)

__all__ = [
    "OVERDUE_AFTER",
    "PAYOUT_HEADERS",
    "Check",
    "PayoutRow",
    "SettleResult",
    "day_bounds",
    "overdue",
    "payout_csv",
    "payout_rows",
    "payout_xlsx",
    "reconcile",
    "settle",
    "settle_due",
    "settled_through",
    "statement_mark_paid",
    "yuan_fen",
]
