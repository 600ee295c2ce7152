"""Background jobs run by ``civicpoints serve``: notice finalisation, expiry of app orders,
T+1 settlement after midnight, and the journal follower.

Each job is idempotent and safe to run from two processes at once, so a restart or a second
scheduler only repeats work that changes nothing; after downtime each catches up.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

from civicpoints.awards.services import notices_finalize
from civicpoints.ledger.chain import chain_follow
from civicpoints.merchants.settlement import settle_due
from civicpoints.risk.services import risk_scan
from civicpoints.schemes.models import Scheme
from civicpoints.stores.services import orders_expire

log = logging.getLogger(__name__)


def run_jobs_once() -> dict[str, int]:
    """Post claims whose notice ended, release expired orders, settle finished business days
    (each catching up after downtime), then chain postings."""
    finalized = notices_finalize().count
    expired = orders_expire()
    settled = settle_due()
    chained = 0
    for scheme_id in Scheme.objects.values_list("pk", flat=True):
        chained += chain_follow(scheme_id=scheme_id)
    risk_scan()  # each scheme at most once per its RiskSettings.scan_minutes
    return {"finalized": finalized, "expired": expired, "settled": settled, "chained": chained}


def run_forever(stop: threading.Event, interval: float = 5.0) -> None:
    while not stop.is_set():
        try:
            done = run_jobs_once()
            if any(done.values()):
                log.info("scheduler: %s", done)
        except Exception:  # a failing job must not stop the others or the server
            log.exception("scheduler job failed")
        finally:
            close_old_connections()
        stop.wait(interval)
