"""The scheme's year-end policy applied (长期有效 / 年底清零 / N个月后过期): when points expire,
what a run would expire (the preview staff see), and the run itself (ledger/expiry.py counts
oldest points first and posts; a household's held points are never expired; a second run at
the same cutoff expires nothing more).

Not yet scheduled: residents must be told 30 days ahead before a scheme's points may expire on
their own (issue 11, to come). Until then a run is started by staff: ``civicpoints year_end``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import invalid
from civicpoints.ledger.expiry import Expiring, expiry_due, expiry_post
from civicpoints.schemes.models import Scheme, YearEndPolicy


def expiry_cutoff(scheme: Scheme, today: dt.date) -> dt.datetime | None:
    """Points credited before this moment expire now (None: the scheme's never do)."""
    tz = timezone.get_default_timezone()
    if scheme.year_end_policy == YearEndPolicy.YEAR_END:
        return dt.datetime(today.year, 1, 1, tzinfo=tz)
    if scheme.year_end_policy == YearEndPolicy.AFTER_MONTHS and scheme.expiry_months:
        index = today.year * 12 + today.month - 1 - scheme.expiry_months
        year, month = divmod(index, 12)
        day = min(today.day, 28)  # a month's end is never skipped twice
        return dt.datetime(year, month + 1, day, tzinfo=tz)
    return None


@dataclass(frozen=True)
class ExpiryPreview:
    cutoff: dt.datetime | None
    due: list[Expiring]

    @property
    def points(self) -> int:
        return sum(d.points for d in self.due)


def year_end_preview(*, scheme: Scheme, today: dt.date | None = None) -> ExpiryPreview:
    """What a run today would expire, household by household (nothing is written)."""
    cutoff = expiry_cutoff(scheme, today or timezone.localdate())
    if cutoff is None:
        return ExpiryPreview(None, [])
    return ExpiryPreview(cutoff, expiry_due(scheme_id=scheme.pk, cutoff=cutoff))


def year_end_run(
    *, scheme: Scheme, actor_id: int | None, today: dt.date | None = None
) -> tuple[int, int]:
    """Expire what the policy says is due today; returns (households, points)."""
    preview = year_end_preview(scheme=scheme, today=today)
    if preview.cutoff is None:
        raise invalid(_("这个方案的积分长期有效，不会过期"), field="policy")
    return expiry_post(
        scheme_id=scheme.pk, cutoff=preview.cutoff, due=preview.due, actor_id=actor_id
    )
