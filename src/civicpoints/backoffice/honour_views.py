"""Staff pages for honours: rankings (honours/rankings.py; docs/honours.md)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, PermissionDenied
from civicpoints.honours.rankings import (
    BY_HOUSEHOLD,
    BY_MEMBER,
    period_parse,
    ranking,
    ranking_named,
)
from civicpoints.reports.models import PeriodKind
from civicpoints.schemes.models import RegionLevel
from civicpoints.schemes.scope import HOUSEHOLD_READERS, actor_for_user
from civicpoints.schemes.selectors import region_for, regions_visible, scheme_for_region

PER_PAGE = 50


@login_required
def rankings(request: HttpRequest) -> HttpResponse:
    """排行榜: a region's households or members by points earned in a period."""
    actor = actor_for_user(request.user)
    grants = actor.grants_for(HOUSEHOLD_READERS)
    if not grants:
        raise PermissionDenied("ranking.read")
    regions = list(
        regions_visible(actor).filter(
            level__in=[RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
        )
    )
    widest = min(grants, key=lambda g: len(g.region_path))
    region = region_for(actor, request.GET.get("region") or widest.region_id)
    scheme = scheme_for_region(actor, region, prefer=HOUSEHOLD_READERS)
    kind = request.GET.get("period") or PeriodKind.MONTH
    value = request.GET.get("value", "")
    by = BY_MEMBER if request.GET.get("by") == BY_MEMBER else BY_HOUSEHOLD
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    error = None
    result = None
    try:
        period = period_parse(kind, value, timezone.localdate())
        result = ranking(
            scheme_id=scheme.pk,
            region=region,
            period=period,
            by=by,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
    except ApplicationError as exc:
        error = exc.message
    rows = ranking_named(result.rows) if result is not None else []
    pages = (result.total + PER_PAGE - 1) // PER_PAGE if result else 0
    return render(
        request,
        "backoffice/rankings.html",
        {
            "regions": regions,
            "region": region,
            "kinds": PeriodKind.choices,
            "kind": kind,
            "value": value,
            "by": by,
            "result": result,
            "rows": rows,
            "error": error,
            "page": page,
            "pages": pages,
            "value_hint": _("月如 2026-11，季度如 2026-Q4，年如 2026；不填为本期"),
        },
    )
