"""Staff pages for titles (评比): the list and a new campaign, one campaign's shortlist, voting
window, paper tallies, results and publication, its certificates (print, A4), the results
as xlsx, and the 表彰大会 with its running order and prize list (honours/; docs/honours.md).

Each action posts to its own URL and comes back to the campaign's page; a refusal is told
above that page (``refusals_return_to``), the form's text kept where it matters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from civicpoints.awards.services.claims.intake import PROPOSERS
from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.errors import ApplicationError, PermissionDenied, invalid
from civicpoints.faces.downloads import table_download
from civicpoints.faces.errors import field_errors, refusals_return_to
from civicpoints.honours.campaigns import (
    CampaignIn,
    campaign_create,
    campaign_publish,
    is_open,
    nominee_add,
    nominee_remove,
    shortlist_from_ranking,
    tally_enter,
    title_state_label,
    votes_counted,
    voting_open,
)
from civicpoints.honours.ceremonies import (
    ceremony_create,
    ceremony_honoured,
    ceremony_prize_list,
    certificate_qr_svg,
    certificates_issue,
)
from civicpoints.honours.models import Campaign, CampaignStatus, Certificate, ShortlistRule
from civicpoints.honours.selectors import campaign_for, campaigns_visible, ceremony_for
from civicpoints.households.selectors import household_for, household_search
from civicpoints.ledger.amounts import format_points
from civicpoints.rules.selectors import rules_in_force
from civicpoints.schemes.models import RegionLevel
from civicpoints.schemes.scope import ADMIN_ROLES, HOUSEHOLD_READERS, actor_for_user
from civicpoints.schemes.selectors import region_for, regions_visible, scheme_for_region

PER_PAGE = 50


def _readers(request: HttpRequest) -> Any:
    actor = actor_for_user(request.user)
    if not actor.grants_for(HOUSEHOLD_READERS):
        raise PermissionDenied("campaign.read")
    return actor


def _admin_regions(actor: Any) -> list[Any]:
    """Where the staff member may start a campaign: regions under an admin grant."""
    return [
        r
        for r in regions_visible(actor).filter(
            level__in=[RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
        )
        if any(r.path.startswith(g.region_path) for g in actor.grants_for(ADMIN_ROLES))
    ]


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat((value or "").strip())
    except ValueError:
        raise invalid(_("日期格式应为 2026-12-01"), field=field) from None


def _moment(value: str, field: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise invalid(_("请填写日期和时间"), field=field) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _number(value: str, field: str) -> int:
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        raise invalid(_("请填写整数"), field=field)
    return int(text)


@login_required
def campaigns(request: HttpRequest) -> HttpResponse:
    """评比表彰: the campaigns the staff member's regions take part in, and a new one."""
    actor = _readers(request)
    regions = _admin_regions(actor)
    form: dict[str, Any] = {
        "title": "",
        "quota": "2",
        "shortlist_size": "5",
        "shortlist_rule": ShortlistRule.NOMINATION,
        "period_start": f"{timezone.localdate().year}-01-01",
        "period_end": f"{timezone.localdate().year}-12-31",
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "")[:100] for k in request.POST}
        try:
            region = region_for(actor, form.get("region"))
            scheme = scheme_for_region(actor, region, prefer=ADMIN_ROLES)
            campaign = campaign_create(
                actor=actor,
                scheme=scheme,
                new=CampaignIn(
                    title=form.get("title", ""),
                    region=region,
                    rule_id=form.get("rule"),
                    quota=_number(form.get("quota", ""), "quota"),
                    shortlist_rule=form.get("shortlist_rule", ""),
                    category=form.get("category", ""),
                    shortlist_size=_number(form.get("shortlist_size", "") or "5", "shortlist_size"),
                    period_start=_date(form.get("period_start", ""), "period_start"),
                    period_end=_date(form.get("period_end", ""), "period_end"),
                    vote_rule_id=form.get("vote_rule") or None,
                    prize=form.get("prize", ""),
                ),
            )
        except ApplicationError as exc:
            errors, status = field_errors(exc), exc.status
        else:
            messages.success(request, _("评比已创建，请提名或按排名生成候选名单"))
            return redirect("backoffice:campaign", campaign.pk)
    rows = list(campaigns_visible(actor)[:PER_PAGE])
    schemes = {g.scheme_id for g in actor.grants_for(ADMIN_ROLES)}
    rules = [r for s in schemes for r in rules_in_force(scheme_id=s) if not r.is_deduction]
    return render(
        request,
        "backoffice/campaigns.html",
        {
            "campaigns": [
                (c, str(CampaignStatus(c.status).label), is_open(c, timezone.now())) for c in rows
            ],
            "regions": regions,
            "rules": [r for r in rules if not r.needs_photo],
            "categories": sorted({r.category for r in rules}),
            "shortlist_rules": ShortlistRule.choices,
            "form": form,
            "errors": errors,
        },
        status=status,
    )


@login_required
@require_GET
def campaign(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor = _readers(request)
    c = campaign_for(actor, campaign_id)
    counted = votes_counted(c)
    may_admin = actor.covers(roles=ADMIN_ROLES, scheme_id=c.scheme_id, region_path=c.region.path)
    # Staff who propose claims anywhere in the campaign's region nominate in their villages.
    may_nominate = c.status == CampaignStatus.DRAFT and any(
        g.scheme_id == c.scheme_id
        and (g.region_path.startswith(c.region.path) or c.region.path.startswith(g.region_path))
        for g in actor.grants_for(PROPOSERS)
    )
    villages = []
    for rows in counted.values():
        village = rows[0].nominee.village
        villages.append(
            {
                "village": village,
                "rows": [
                    {
                        "counted": r,
                        "state": title_state_label(r.nominee.claim_status),
                    }
                    for r in sorted(
                        rows, key=lambda r: (r.nominee.place or 0, -r.votes, r.nominee.pk)
                    )
                ],
                "may_tally": actor.covers(
                    roles=ADMIN_ROLES, scheme_id=c.scheme_id, region_path=village.path
                ),
            }
        )
    villages.sort(key=lambda v: v["village"].code)
    query = request.GET.get("q", "").strip()[:40]
    found = (
        list(household_search(actor, query, limit=10).select_related("village"))
        if query and c.status == CampaignStatus.DRAFT
        else []
    )
    found = [h for h in found if h.village.path.startswith(c.region.path)]
    now = timezone.localtime()
    return render(
        request,
        "backoffice/campaign.html",
        {
            "c": c,
            "status_label": CampaignStatus(c.status).label,
            "voting_now": is_open(c, timezone.now()),
            "villages": villages,
            "may_admin": may_admin,
            "may_nominate": may_nominate,
            "query": query,
            "found": found,
            "certificates": Certificate.objects.filter(nominee__campaign=c).count(),
            "default_starts": now.strftime("%Y-%m-%dT%H:%M"),
            "default_ends": (now + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
            "ceremonies": list(c.ceremonies.order_by("-held_on")),
            "today": timezone.localdate().isoformat(),
        },
    )


def _back(request: HttpRequest, c: Campaign) -> str:
    return refusals_return_to(request, reverse("backoffice:campaign", args=[c.pk]))


def _acting(request: HttpRequest, campaign_id: int) -> tuple[Any, Campaign, str]:
    """Who acts, on which campaign (404 if not theirs to see), and where refusals are told."""
    actor = _readers(request)
    c = campaign_for(actor, campaign_id)
    return actor, c, _back(request, c)


@login_required
@require_POST
def campaign_nominate(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    household = household_for(actor, request.POST.get("household"))
    member = request.POST.get("member") or None
    nominee = nominee_add(
        actor=actor,
        campaign=c,
        household=household,
        member_id=int(member) if member and member.isdigit() else None,
        reason=request.POST.get("reason", "")[:200],
    )
    messages.success(request, _("已提名 %(name)s") % {"name": nominee.name})
    return redirect(back)


@login_required
@require_POST
def campaign_unnominate(request: HttpRequest, campaign_id: int, nominee_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    nominee_remove(actor=actor, campaign=c, nominee_id=nominee_id)
    messages.success(request, _("已从候选名单移除"))
    return redirect(back)


@login_required
@require_POST
def campaign_shortlist(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    added = shortlist_from_ranking(actor=actor, campaign=c)
    messages.success(request, _("按积分排名加入候选名单 %(n)s 户") % {"n": added})
    return redirect(back)


@login_required
@require_POST
def campaign_voting(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    starts = _moment(request.POST.get("starts", ""), "starts")
    ends = _moment(request.POST.get("ends", ""), "ends")
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("开始投票"),
            lines=[
                _("候选名单确定后不能再改。"),
                _("投票时间：%(starts)s 至 %(ends)s")
                % {
                    "starts": timezone.localtime(starts).strftime("%Y-%m-%d %H:%M"),
                    "ends": timezone.localtime(ends).strftime("%Y-%m-%d %H:%M"),
                },
            ],
            button=_("确认开始投票"),
            back=back,
        )
    voting_open(actor=actor, campaign=c, starts=starts, ends=ends)
    messages.success(request, _("投票已设置，村民可在手机“评比投票”里投票"))
    return redirect(back)


@login_required
@require_POST
def campaign_tally(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    village = region_for(actor, request.POST.get("village"))
    counts = {
        key.removeprefix("paper-"): value
        for key, value in request.POST.items()
        if key.startswith("paper-")
    }
    tally_enter(actor=actor, campaign=c, village=village, counts=counts)
    messages.success(request, _("%(village)s 的纸质票已录入") % {"village": village.name})
    return redirect(back)


@login_required
@require_POST
def campaign_publish_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("公布评比结果"),
            lines=[
                _("统计手机票和纸质票，每村得票最多的 %(n)s 名进入公示。") % {"n": c.quota},
                _("公示期满没有异议的，授予“%(title)s”称号并入账 %(points)s 分。")
                % {"title": c.title, "points": format_points(c.rule.points_per_unit)},
                _("公布后不能再投票或修改票数。"),
            ],
            button=_("确认公布"),
            back=back,
        )
    winners = campaign_publish(actor=actor, campaign=c)
    messages.success(request, _("结果已公布，%(n)s 名当选者已进入公示") % {"n": len(winners)})
    return redirect(back)


@login_required
@require_GET
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The results (or the votes so far) as xlsx."""
    c = campaign_for(_readers(request), campaign_id)
    headers = [
        _("村"),
        _("候选人"),
        _("户主"),
        _("手机票"),
        _("纸质票"),
        _("合计"),
        _("名次"),
        _("当选"),
        _("称号状态"),
    ]
    rows = [
        [
            r.nominee.village.name,
            r.nominee.name,
            r.nominee.household.head_name,
            r.phone,
            r.paper,
            r.votes,
            r.nominee.place or "",
            _("是") if r.nominee.winner else "",
            title_state_label(r.nominee.claim_status),
        ]
        for village in votes_counted(c).values()
        for r in village
    ]
    return table_download(request, _("评比结果-%(title)s") % {"title": c.title}, headers, rows)


# --- certificates ----------------------------------------------------------------------------


@login_required
@require_POST
def certificates_issue_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor, c, back = _acting(request, campaign_id)
    if not actor.covers(roles=ADMIN_ROLES, scheme_id=c.scheme_id, region_path=c.region.path):
        raise PermissionDenied("certificate.issue")
    issued = certificates_issue(c)
    if not issued:
        messages.error(request, _("还没有公示期满、已授予的称号，暂时不能发证书"))
        return redirect(back)
    return redirect("backoffice:certificates", c.pk)


def _certificate_pages(request: HttpRequest, rows: list[Certificate]) -> list[dict[str, Any]]:
    return [
        {
            "c": cert,
            # segno's own SVG of a URL we built: markup to embed, not text.
            "qr": mark_safe(  # noqa: S308
                certificate_qr_svg(
                    request.build_absolute_uri(reverse("certificate_check", args=[cert.code]))
                )
            ),
        }
        for cert in rows
    ]


@login_required
@require_GET
def certificates(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A campaign's certificates, one A4 page each (print from the browser)."""
    c = campaign_for(_readers(request), campaign_id)
    rows = list(
        Certificate.objects.filter(nominee__campaign=c)
        .select_related("nominee")
        .order_by("nominee__village__code", "nominee__place", "pk")
    )
    one = request.GET.get("code")
    if one:
        rows = [r for r in rows if r.code == one]
    return render(
        request,
        "backoffice/certificates.html",
        {
            "pages": _certificate_pages(request, rows),
            "back": reverse("backoffice:campaign", args=[c.pk]),
        },
    )


# --- ceremonies ------------------------------------------------------------------------------


@login_required
@require_POST
def ceremony_new(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor = _readers(request)
    c = campaign_for(actor, campaign_id)
    _back(request, c)
    region = region_for(actor, request.POST.get("region") or c.region_id)
    ceremony = ceremony_create(
        actor=actor,
        scheme=c.scheme,
        region=region,
        name=request.POST.get("name", "")[:100],
        held_on=_date(request.POST.get("held_on", ""), "held_on"),
        place=request.POST.get("place", "")[:100],
        campaign_ids=[c.pk, *request.POST.getlist("campaigns")],
    )
    return redirect("backoffice:honour_ceremony", ceremony.pk)


@login_required
@require_GET
def honour_ceremony(request: HttpRequest, ceremony_id: int) -> HttpResponse:
    """A 表彰大会: running order, the honoured, their certificates, the prize list."""
    ceremony = ceremony_for(_readers(request), ceremony_id)
    honoured = ceremony_honoured(ceremony)
    prizes = ceremony_prize_list(honoured)
    redeem = (
        reverse("backoffice:ceremony_new")
        + "?"
        + urlencode(
            {"title": ceremony.name, "held_on": ceremony.held_on.isoformat(), "text": prizes}
        )
    )
    rows = [
        h.nominee.certificate for h in honoured if h.confirmed and hasattr(h.nominee, "certificate")
    ]
    return render(
        request,
        "backoffice/honour_ceremony.html",
        {
            "ceremony": ceremony,
            "programme": [line for line in ceremony.programme.splitlines() if line.strip()],
            "honoured": honoured,
            "prizes": prizes,
            "redeem": redeem,
            "pages": _certificate_pages(request, rows) if request.GET.get("print") else [],
        },
    )
