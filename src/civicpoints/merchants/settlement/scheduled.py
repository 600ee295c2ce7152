"""The scheduler's entry: settle every finished business day that still has unclaimed
payments or refunds, oldest first. Only calls ``settle``; never claims or posts itself.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Min
from django.utils import timezone

from civicpoints.merchants.models import Payment, Refund
from civicpoints.merchants.settlement.statements import settle
from civicpoints.schemes.models import Scheme

# Days this process has already settled, per scheme: the scheduler runs every few seconds and
# need not look again until the next midnight (a re-run would change nothing anyway).
settled_through: dict[int, dt.date] = {}


def settle_due(*, now: dt.datetime | None = None) -> int:
    """Settle every finished day that still has unclaimed rows, oldest first (the scheduler).

    After downtime each missed day gets its own statements, in order.
    """
    now = now or timezone.now()
    yesterday = timezone.localdate(now) - dt.timedelta(days=1)
    made = 0
    for scheme in Scheme.objects.all():
        if settled_through.get(scheme.pk) == yesterday:
            continue
        oldest = [
            model.objects.filter(scheme=scheme, statement__isnull=True).aggregate(
                t=Min("created_at")
            )["t"]
            for model in (Payment, Refund)
        ]
        found = [t for t in oldest if t is not None]
        day = timezone.localdate(min(found)) if found else yesterday + dt.timedelta(days=1)
        while day <= yesterday:
            made += len(settle(scheme=scheme, day=day).statements)
            day += dt.timedelta(days=1)
        settled_through[scheme.pk] = yesterday
    return made
