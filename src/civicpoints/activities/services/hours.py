"""Hours served: the time inside the activity between check-in and check-out, rounded.

Only time within the published hours counts (arriving an hour early to help set up, or
forgetting to check out until the evening, does not add hours). The result is rounded to
the activity's step (30 minutes by default) down, or to the nearest step, and then limited
by the activity's per-attendance cap in points.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from civicpoints.activities.models import Activity
from civicpoints.rules.models import Rounding, Rule
from civicpoints.rules.services import claim_points

HUNDREDTH = Decimal("0.01")


def credited_hours(
    activity: Activity, checked_in_at: dt.datetime, checked_out_at: dt.datetime
) -> Decimal:
    start = max(checked_in_at, activity.starts_at)
    end = min(checked_out_at, activity.ends_at)
    seconds = max(int((end - start).total_seconds()), 0)
    step = activity.rounding_minutes * 60
    mode = ROUND_HALF_UP if activity.rounding == Rounding.HALF_UP else ROUND_DOWN
    steps = (Decimal(seconds) / Decimal(step)).quantize(Decimal(1), rounding=mode)
    return (steps * step / Decimal(3600)).quantize(HUNDREDTH, rounding=ROUND_DOWN)


def capped_quantity(activity: Activity, rule: Rule, hours: Decimal) -> Decimal:
    """The hours to claim so that the points stay within ``per_activity_cap``."""
    cap = activity.per_activity_cap
    if cap is None or claim_points(rule=rule, quantity=hours) <= cap:
        return hours
    return (Decimal(cap) / Decimal(rule.points_per_unit)).quantize(HUNDREDTH, rounding=ROUND_DOWN)


def format_hours(hours: Decimal) -> str:
    """2.50 -> "2.5", 3.00 -> "3"."""
    text = f"{hours.quantize(HUNDREDTH):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
