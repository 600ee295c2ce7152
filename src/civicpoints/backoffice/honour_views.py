"""Staff pages for honours: rankings (and their xlsx), the star households (thresholds, the
rating of a year, the list and its xlsx), and the expiry of points (what the next run would
expire, the notice, running it) (honours/; docs/honours.md)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.errors import ApplicationError, PermissionDenied, invalid
from civicpoints.faces.downloads import table_download
from civicpoints.faces.errors import refusals_return_to
from civicpoints.honours.models import ExpiryNotice
from civicpoints.honours.rankings import (
    BY_HOUSEHOLD,
    BY_MEMBER,
    MAX_LIMIT,
    period_parse,
    ranking,
    ranking_named,
)
from civicpoints.honours.stars import (
    STAR_READERS,
    STAR_SETTERS,
    Level,
    star_levels,
    star_levels_set,
    stars_compute,
    stars_in_region,
)
from civicpoints.honours.year_end import expiry_day_next, year_end_preview, year_end_run
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import BadPoints, format_points, parse_points, to_points
from civicpoints.reports.models import PeriodKind
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import RegionLevel, Scheme
from civicpoints.schemes.scope import HOUSEHOLD_READERS, actor_for_user, parse_id
from civicpoints.schemes.selectors import (
    governs,
    region_for,
    regions_visible,
    scheme_for_region,
    schemes_governed,
)

PER_PAGE = 50


EXPORT_ROWS = 5000


def _ranking_query(request: HttpRequest) -> tuple[Any, Any, Any, str, str, str]:
    """The region, scheme and period asked for (with their raw values) for 排行榜."""
    actor = actor_for_user(request.user)
    grants = actor.grants_for(HOUSEHOLD_READERS)
    if not grants:
        raise PermissionDenied("ranking.read")
    widest = min(grants, key=lambda g: len(g.region_path))
    region = region_for(actor, request.GET.get("region") or widest.region_id)
    scheme = scheme_for_region(actor, region, prefer=HOUSEHOLD_READERS)
    kind = request.GET.get("period") or PeriodKind.MONTH
    value = request.GET.get("value", "")
    by = BY_MEMBER if request.GET.get("by") == BY_MEMBER else BY_HOUSEHOLD
    return actor, region, scheme, kind, value, by


@login_required
@require_GET
def rankings_export(request: HttpRequest) -> HttpResponse:
    """排行榜 as xlsx: the first 5,000 of the region and period asked for."""
    _actor, region, scheme, kind, value, by = _ranking_query(request)
    period = period_parse(kind, value, timezone.localdate())
    ranked = []
    for offset in range(0, EXPORT_ROWS, MAX_LIMIT):  # a page at a time, as the page reads it
        result = ranking(
            scheme_id=scheme.pk, region=region, period=period, by=by, limit=MAX_LIMIT, offset=offset
        )
        ranked += ranking_named(result.rows)
        if offset + MAX_LIMIT >= result.total:
            break
    headers = [_("名次"), _("户主"), _("成员"), _("村"), _("获得积分")]
    rows = [
        [r.rank, r.head_name, r.member_name or "", r.village_name, float(to_points(r.points))]
        for r in ranked
    ]
    return table_download(
        request,
        _("排行榜-%(region)s%(period)s") % {"region": region.name, "period": period.label},
        headers,
        rows,
    )


@login_required
def rankings(request: HttpRequest) -> HttpResponse:
    """排行榜: a region's households or members by points earned in a period."""
    actor, region, scheme, kind, value, by = _ranking_query(request)
    regions = list(
        regions_visible(actor).filter(
            level__in=[RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
        )
    )
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


# --- star households ------------------------------------------------------------------------


def _county_scheme(request: HttpRequest, action: str) -> tuple[Any, Scheme]:
    """County admins and auditors, for the scheme they govern (its first, if several)."""
    actor = actor_for_user(request.user)
    schemes = schemes_governed(actor, STAR_READERS)
    if not schemes:
        raise PermissionDenied(action)
    return actor, schemes[0]


def _levels_from(post: Any, categories: list[str]) -> list[Level]:
    levels = []
    for stars in range(1, 6):
        raw = (post.get(f"points-{stars}") or "").strip()
        if not raw:
            continue
        try:
            points = parse_points(raw)
        except BadPoints:
            raise invalid(_("%(n)s星的积分要填数字") % {"n": stars}, field="points") from None
        wanted = tuple(c for c in post.getlist(f"categories-{stars}") if c in categories)
        levels.append(Level(stars, points, wanted))
    if not levels:
        raise invalid(_("至少设置一个星级"), field="points")
    return levels


@login_required
@require_http_methods(["GET", "POST"])
def stars(request: HttpRequest) -> HttpResponse:
    """星级文明户: the scheme's thresholds (county admins set them), rating a year that has
    ended, and the star households of a year in a region."""
    actor, scheme = _county_scheme(request, "honours.stars")
    may_set = governs(actor, scheme, STAR_SETTERS)
    categories = sorted(set(Rule.objects.filter(scheme=scheme).values_list("category", flat=True)))
    error = ""
    if request.method == "POST":
        if not may_set:
            raise PermissionDenied("honours.star_levels")
        back = refusals_return_to(request, reverse("backoffice:stars"))
        if request.POST.get("action") == "rate":
            year = parse_id(request.POST.get("year")) or 0
            if not confirmed(request):
                return confirm_page(
                    request,
                    title=_("评定星级文明户"),
                    lines=[
                        _("按现在的标准评定 %(year)s 年全县各户的星级。") % {"year": year},
                        _("星级有变化的户，每户记一条审计记录；再评一次只改变化的部分。"),
                    ],
                    button=_("确认评定"),
                    back=back,
                )
            run = stars_compute(actor_id=actor.user_id, scheme_id=scheme.pk, year=year)
            messages.success(
                request,
                _("%(year)s 年评定完成：%(n)s 户星级有变化") % {"year": year, "n": run.changed},
            )
            return redirect(back)
        star_levels_set(actor=actor, scheme=scheme, levels=_levels_from(request.POST, categories))
        messages.success(request, _("星级标准已保存"))
        return redirect(back)
    levels = {lv.stars: lv for lv in star_levels(scheme_id=scheme.pk)}
    year = parse_id(request.GET.get("year")) or timezone.localdate().year - 1
    region = region_for(actor, request.GET.get("region") or scheme.operator_region_id)
    rows = stars_in_region(scheme_id=scheme.pk, region_path=region.path, year=year)
    return render(
        request,
        "backoffice/stars.html",
        {
            "scheme": scheme,
            "may_set": may_set,
            "steps": [(n, levels.get(n)) for n in range(1, 6)],
            "categories": categories,
            "year": year,
            "region": region,
            "regions": list(
                regions_visible(actor).filter(
                    level__in=[RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
                )
            ),
            "total": rows.count(),
            "rows": list(rows[:PER_PAGE]),
            "error": error,
            "last_year": timezone.localdate().year - 1,
        },
    )


@login_required
@require_GET
def stars_export(request: HttpRequest) -> HttpResponse:
    actor, scheme = _county_scheme(request, "honours.stars")
    year = parse_id(request.GET.get("year")) or timezone.localdate().year - 1
    region = region_for(actor, request.GET.get("region") or scheme.operator_region_id)
    rows = [
        [r.household.head_name, r.household.village.name, r.stars, float(to_points(r.points))]
        for r in stars_in_region(scheme_id=scheme.pk, region_path=region.path, year=year)
    ]
    headers = [_("户主"), _("村"), _("星级"), _("全年获得积分")]
    return table_download(
        request,
        _("星级文明户-%(year)s年%(region)s") % {"year": year, "region": region.name},
        headers,
        rows,
    )


# --- the expiry of points ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def expiry(request: HttpRequest) -> HttpResponse:
    """积分到期: the scheme's policy, the next expiry day and its notice, what a run today
    would expire (household by household), and the run (county admins, after confirming)."""
    actor, scheme = _county_scheme(request, "honours.expiry")
    may_run = governs(actor, scheme, STAR_SETTERS)
    today = timezone.localdate()
    preview = year_end_preview(scheme=scheme, today=today)
    if request.method == "POST":
        if not may_run:
            raise PermissionDenied("honours.expiry")
        back = refusals_return_to(request, reverse("backoffice:expiry"))
        if not confirmed(request):
            return confirm_page(
                request,
                title=_("执行积分到期"),
                lines=[
                    _("%(n)s 户共 %(points)s 分积分将转入到期账户，不能撤销。")
                    % {"n": len(preview.due), "points": format_points(preview.points)},
                    _("冻结中的积分（订单待取货）不会过期。"),
                ],
                button=_("确认执行"),
                back=back,
                danger=True,
            )
        households, points = year_end_run(scheme=scheme, actor_id=actor.user_id, today=today)
        messages.success(
            request,
            _("已执行：%(n)s 户共 %(points)s 分积分到期")
            % {"n": households, "points": format_points(points)},
        )
        return redirect(back)
    coming = expiry_day_next(scheme, today)
    names = dict(
        Household.objects.filter(
            pk__in=[d.household_id for d in preview.due[:PER_PAGE]]
        ).values_list("pk", "head_name")
    )
    return render(
        request,
        "backoffice/expiry.html",
        {
            "scheme": scheme,
            "policy": scheme.get_year_end_policy_display(),
            "may_run": may_run,
            "preview": preview,
            "rows": [(names.get(d.household_id, ""), d) for d in preview.due[:PER_PAGE]],
            "coming": coming,
            "notice": (
                ExpiryNotice.objects.filter(scheme=scheme, cutoff=coming.cutoff).first()
                if coming
                else None
            ),
        },
    )
