"""Phone pages of honours: recommending someone for a title (村民推荐), the open votes of the
resident's village (民主评议), where each member of the household votes once, and the results
once published (honours/campaigns.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicpoints.errors import ApplicationError
from civicpoints.honours.campaigns import (
    campaigns_open_for,
    campaigns_taking_proposals,
    nominee_propose,
    vote_cast,
)
from civicpoints.honours.models import CampaignStatus, Nominee, Vote
from civicpoints.honours.selectors import (
    campaign_for_household,
    campaigns_of_household,
    nominees_of,
)
from civicpoints.households.models import Household, Member
from civicpoints.portal.views import resident_required

RECENT_RESULTS = 3


def _ballots(household: Household, error: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    members = list(Member.objects.filter(household=household).order_by("pk"))
    ballots = []
    for campaign in campaigns_open_for(household, timezone.now()):
        voted = {
            v.member_id: v.nominee.name
            for v in Vote.objects.filter(campaign=campaign, household=household).select_related(
                "nominee__household", "nominee__member"
            )
        }
        ballots.append(
            {
                "campaign": campaign,
                "nominees": list(nominees_of(campaign, village_ids=[household.village_id])),
                "members": [(m, voted.get(m.pk)) for m in members],
                "waiting": [m for m in members if m.pk not in voted],
                "error": error if error and error["campaign"] == campaign.pk else None,
            }
        )
    return ballots


def _results(household: Household) -> list[dict[str, Any]]:
    published = campaigns_of_household(household).filter(status=CampaignStatus.PUBLISHED)
    return [
        {"campaign": c, "nominees": list(nominees_of(c, village_ids=[household.village_id]))}
        for c in published.order_by("-published_at", "-pk")[:RECENT_RESULTS]
    ]


def _proposals(household: Household, error: dict[str, Any] | None) -> list[dict[str, Any]]:
    mine = {
        n.campaign_id: n
        for n in Nominee.objects.filter(proposed_by_household=household).select_related(
            "household", "member"
        )
    }
    return [
        {
            "campaign": c,
            "mine": mine.get(c.pk),
            "error": error if error and error["campaign"] == c.pk else None,
        }
        for c in campaigns_taking_proposals(household)
    ]


def _page(
    request: HttpRequest,
    household: Household,
    error: dict[str, Any] | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> HttpResponse:
    return render(
        request,
        "portal/votes.html",
        {
            "h": household,
            "ballots": _ballots(household, error),
            "proposals": _proposals(household, error),
            "results": _results(household),
            "typed": typed or {},
        },
        status=status,
    )


@resident_required
def votes(request: HttpRequest, household: Household) -> HttpResponse:
    return _page(request, household)


@require_POST
@resident_required
def propose(request: HttpRequest, household: Household, campaign_id: int) -> HttpResponse:
    """村民推荐: the resident names someone of the village with a reason."""
    campaign = campaign_for_household(household, campaign_id)
    typed = {
        "name": request.POST.get("name", "")[:40],
        "reason": request.POST.get("reason", "")[:200],
    }
    try:
        nominee = nominee_propose(
            household=household, campaign=campaign, name=typed["name"], reason=typed["reason"]
        )
    except ApplicationError as exc:
        error = {
            "campaign": campaign.pk,
            "field": exc.detail.get("field", "name"),
            "message": exc.message,
        }
        return _page(request, household, error, status=exc.status, typed=typed)
    messages.success(
        request,
        _("已推荐 %(name)s 参加“%(title)s”评选，村里确定候选名单后会组织投票")
        % {"name": nominee.name, "title": campaign.title},
    )
    return redirect("portal:votes")


@require_POST
@resident_required
def vote(request: HttpRequest, household: Household, campaign_id: int) -> HttpResponse:
    campaign = campaign_for_household(household, campaign_id)
    try:
        cast = vote_cast(
            household=household,
            member_id=request.POST.get("member"),
            nominee_id=request.POST.get("nominee"),
            campaign=campaign,
        )
    except ApplicationError as exc:
        error = {
            "campaign": campaign.pk,
            "field": exc.detail.get("field", "nominee"),
            "message": exc.message,
        }
        return _page(request, household, error, status=exc.status)
    messages.success(
        request,
        _("%(member)s 已投票给 %(nominee)s，谢谢参与！")
        % {"member": cast.member.name, "nominee": cast.nominee.name},
    )
    return redirect("portal:votes")
