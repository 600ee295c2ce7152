"""The only code that moves points. One module per part: ``posting`` (``post()``,
``reverse()``, the legs' checks and the guarded household update), ``batch`` (set-based
``post_awards`` and ``post_transfers``), ``holds`` (``hold()``, ``capture()``, ``release()``)
and ``accounts`` (household and system accounts, ``lock_household_accounts``).

Only this package writes ``ledger_posting`` and ``ledger_entry``; nothing that every posting
of a scheme would touch (a counter, the chain head, a daily total) is written here.
"""

from __future__ import annotations

from civicpoints.ledger.services.accounts import (
    household_account,
    household_accounts_create,
    lock_household_accounts,
    system_account,
)
from civicpoints.ledger.services.batch import (
    Award,
    AwardRow,
    Transfer,
    post_award_rows,
    post_awards,
    post_transfers,
)
from civicpoints.ledger.services.holds import (
    capture,
    hold,
    release,
)
from civicpoints.ledger.services.posting import (
    Leg,
    household_balance_move,
    legs_check,
    post,
    post_replay,
    reverse,
)

__all__ = [
    "Award",
    "AwardRow",
    "Leg",
    "Transfer",
    "capture",
    "hold",
    "household_account",
    "household_accounts_create",
    "household_balance_move",
    "legs_check",
    "lock_household_accounts",
    "post",
    "post_award_rows",
    "post_awards",
    "post_replay",
    "post_transfers",
    "release",
    "reverse",
    "system_account",
]
