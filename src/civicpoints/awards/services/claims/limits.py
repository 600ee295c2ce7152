"""The limits a claim must pass before it counts: 一票否决, duplicates, caps per rule and
household (day / month / year) and the village's yearly quota. Checked at approval, under the
caller's locks (the household's row, then the quota's), so two approvals at once cannot both
squeeze under a limit. Reads only; raises ``ApplicationError`` with the limit's own code.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from civicpoints.awards.models import LIVE_STATUSES, Claim, VillageQuota
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.standing import disqualified_on
from civicpoints.ledger.amounts import format_points

CAP_NAMES = {
    "day": pgettext_lazy("cap period", "每日"),
    "month": pgettext_lazy("cap period", "每月"),
    "year": pgettext_lazy("cap period", "每年"),
}


def _period_bounds(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    if period == "day":
        return day, day
    if period == "month":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        return start, end
    return day.replace(month=1, day=1), day.replace(month=12, day=31)


def _live_sum(queryset: QuerySet[Claim]) -> int:
    return queryset.filter(status__in=LIVE_STATUSES).aggregate(t=Sum("points"))["t"] or 0


def _check_disqualified(claim: Claim) -> None:
    if claim.is_deduction:
        return
    ban = disqualified_on(household_id=claim.household_id, day=claim.occurred_on)
    if ban is not None:
        raise ApplicationError(
            ErrorCode.DISQUALIFIED,
            _("该户处于一票否决期内（至 %(until)s）：%(reason)s")
            % {"until": f"{ban.ends_on:%Y-%m-%d}", "reason": ban.reason},
            {"until": ban.ends_on.isoformat(), "reason": ban.reason},
        )


def _check_duplicate(claim: Claim) -> None:
    import_ref = Q(origin_ref__startswith="import:")
    same = Claim.objects.filter(
        household_id=claim.household_id,
        rule__code=claim.rule.code,
        occurred_on=claim.occurred_on,
        status__in=LIVE_STATUSES,
    ).exclude(pk=claim.pk)
    # One activity or one mutual-help event is a different deed from another on the same day;
    # a claim from an imported sheet is no different from one typed in.
    if claim.origin_ref and not claim.origin_ref.startswith("import:"):
        same = same.filter(Q(origin_ref=claim.origin_ref) | Q(origin_ref="") | import_ref)
    earlier = same.order_by("pk").first()
    if earlier is not None:
        raise ApplicationError(
            ErrorCode.DUPLICATE_CLAIM,
            _("该户 %(day)s 已有「%(rule)s」的申报（#%(claim)s）")
            % {
                "day": f"{claim.occurred_on:%Y-%m-%d}",
                "rule": claim.rule.name,
                "claim": earlier.pk,
            },
            {"claim": earlier.pk, "rule": claim.rule.code, "day": claim.occurred_on.isoformat()},
        )


def _check_caps(claim: Claim) -> None:
    rule = claim.rule
    for period, cap in (("day", rule.cap_day), ("month", rule.cap_month), ("year", rule.cap_year)):
        if cap is None:
            continue
        start, end = _period_bounds(claim.occurred_on, period)
        used = _live_sum(
            Claim.objects.filter(
                household_id=claim.household_id,
                rule__code=rule.code,
                occurred_on__range=(start, end),
            ).exclude(pk=claim.pk)
        )
        if used + claim.points > cap:
            raise ApplicationError(
                ErrorCode.CAP_EXCEEDED,
                _("「%(rule)s」%(period)s上限 %(cap)s 分，已有 %(used)s 分，本次 %(requested)s 分")
                % {
                    "rule": rule.name,
                    "period": CAP_NAMES[period],
                    "cap": format_points(cap),
                    "used": format_points(used),
                    "requested": format_points(claim.points),
                },
                {
                    "period": period,
                    "cap": cap / 100,
                    "used": used / 100,
                    "requested": claim.points / 100,
                },
            )


def _check_quota(claim: Claim) -> None:
    if claim.is_deduction:
        return
    year = claim.occurred_on.year
    quota = (
        VillageQuota.objects.select_for_update()
        .filter(scheme_id=claim.scheme_id, village_id=claim.village_id, year=year)
        .first()
    )
    if quota is None:
        return
    used = _live_sum(
        Claim.objects.filter(
            scheme_id=claim.scheme_id,
            village_id=claim.village_id,
            is_deduction=False,
            occurred_on__year=year,
        ).exclude(pk=claim.pk)
    )
    if used + claim.points > quota.points:
        raise ApplicationError(
            ErrorCode.QUOTA_EXCEEDED,
            _("%(village)s%(year)s年积分额度 %(quota)s 分，已用 %(used)s 分，本次 %(requested)s 分")
            % {
                "village": claim.village.name,
                "year": year,
                "quota": format_points(quota.points),
                "used": format_points(used),
                "requested": format_points(claim.points),
            },
            {"quota": quota.points / 100, "used": used / 100, "requested": claim.points / 100},
        )


def check_limits(claim: Claim) -> None:
    """Every limit a claim must pass before it counts (caller holds the household lock)."""
    _check_disqualified(claim)
    _check_duplicate(claim)
    if not claim.is_deduction:
        _check_caps(claim)
    _check_quota(claim)
