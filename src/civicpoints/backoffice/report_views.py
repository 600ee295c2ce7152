"""The county's dashboard (数据大屏, docs/reports.md): the figures of ``reports.stats`` for a
region and a period, drawn with ECharts (vendored), drilling down county -> township ->
village; each figure links to the staff page with the rows behind it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from civicpoints.backoffice.navigation import Can, can_for
from civicpoints.reports.inclusion import inclusion
from civicpoints.reports.models import PeriodKind
from civicpoints.reports.monthly import monthly_report
from civicpoints.reports.outcomes import outcomes_year
from civicpoints.reports.periods import period_for, period_parse
from civicpoints.reports.stats import STATS_READERS, stats, stats_dict, stats_region
from civicpoints.schemes.models import Region, RegionLevel
from civicpoints.schemes.scope import Actor, actor_for_user
from civicpoints.schemes.selectors import regions_visible

IDLE_SHOWN = 20  # idle villages named on the page (all of them: /api/v1/stats/inclusion)


def _report_regions(actor: Actor) -> list[Region]:
    return list(
        regions_visible(actor).filter(
            level__in=[RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
        )
    )


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    region, scheme = stats_region(actor, request.GET.get("region"))
    kind = request.GET.get("period") or PeriodKind.YEAR
    value = request.GET.get("value", "")
    period = period_parse(kind, value, timezone.localdate())
    found = stats(scheme=scheme, region=region, period=period)
    figures = stats_dict(found)
    reach = inclusion(scheme=scheme, region=region, period=period)
    year = period.start.year if period.kind != PeriodKind.ALL else timezone.localdate().year
    idle = reach.idle_villages(timezone.localdate())
    here = {"period": period.kind, "value": value}
    for child in figures["children"]:
        child["url"] = (
            reverse("backoffice:dashboard")
            + "?"
            + urlencode({"region": str(child["region"]), **here})
        )
    ranking = (
        reverse("backoffice:rankings")
        + "?"
        + urlencode({"region": str(region.pk), "period": period.kind, "value": value})
    )
    up = region.parent if region.parent_id and region.level > RegionLevel.COUNTY else None
    return render(
        request,
        "backoffice/dashboard.html",
        {
            "region": region,
            "scheme": scheme,
            "period": period,
            "kinds": PeriodKind.choices,
            "kind": kind,
            "value": value,
            "s": figures,
            "as_of": found.as_of,
            "up": up
            if up and actor.covers(roles=STATS_READERS, scheme_id=scheme.pk, region_path=up.path)
            else None,
            "links": _links(can_for(request), ranking, region),
            "regions": _report_regions(actor),
            "monthly": reverse("backoffice:monthly_report")
            + "?"
            + urlencode({"region": region.pk}),
            "reach": reach.whole,
            "outcome_year": year,
            "outcomes": outcomes_year(scheme=scheme, region=region, year=year),
            "idle_count": len(idle),
            "idle": [
                (v, reverse("backoffice:dashboard") + "?" + urlencode({"region": str(v.region.pk)}))
                for v in idle[:IDLE_SHOWN]
            ],
            "chart_data": {
                "trend": figures["trend"],
                "categories": figures["categories"],
                "children": figures["children"],
                "households": figures["households"],
            },
        },
    )


@login_required
@require_GET
def monthly_report_page(request: HttpRequest) -> HttpResponse:
    """The monthly report of a township or the county (any region the person reads), as a
    page to print on A4; the month before the current one unless another is asked for."""
    actor = actor_for_user(request.user)
    region, scheme = stats_region(actor, request.GET.get("region"))
    today = timezone.localdate()
    value = (
        request.GET.get("month", "")[:7] or f"{today.replace(day=1) - dt.timedelta(days=1):%Y-%m}"
    )
    month = period_parse(PeriodKind.MONTH, value, today)
    report = monthly_report(scheme=scheme, region=region, month=month, today=today)
    return render(
        request,
        "backoffice/monthly_report.html",
        {
            "r": report,
            "d": stats_dict(report.figures),
            "as_of": report.figures.as_of,
            "value": f"{month.start:%Y-%m}",
            "regions": _report_regions(actor),
            "now": timezone.localtime(),
        },
    )


def home_figures(request: HttpRequest) -> dict[str, Any] | None:
    """This year's figures of the widest region the person governs or audits, for the staff
    home (the dashboard's figures, at a desk's size); None for everyone else."""
    can = can_for(request)
    if not can.stats:
        return None
    region, scheme = stats_region(can.actor)
    period = period_for(PeriodKind.YEAR, timezone.localdate())
    ranking = (
        reverse("backoffice:rankings")
        + "?"
        + urlencode({"region": str(region.pk), "period": period.kind})
    )
    return {
        "s": stats_dict(stats(scheme=scheme, region=region, period=period)),
        "links": _links(can, ranking, region),
        "region": region,
        "period": period,
    }


def _links(can: Can, ranking: str, region: Region) -> dict[str, Any]:
    """The staff page behind each figure, where this person may open it (else no link): the
    region's households, its ranking for the period, its stores (those short of stock for the
    stock figure), the funds and the settlement (overdue statements first)."""
    stores = reverse("backoffice:stores") + "?" + urlencode({"region": region.pk})
    households = reverse("backoffice:households") + "?" + urlencode({"region": region.pk})
    return {
        "households": households if can.households else None,
        "awarded": ranking if can.households else None,
        "redeemed": stores if can.stores else None,
        "outstanding": reverse("backoffice:budget") if can.budget else None,
        "settlement": reverse("backoffice:settlement") if can.merchants else None,
        "stock": stores + "&low=1" if can.stores else None,
    }
