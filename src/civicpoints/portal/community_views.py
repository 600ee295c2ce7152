"""Residents' village-life pages (长辈版): the village's announcements (村务信息), and their own
complaints and suggestions (投诉建议) with the village's replies.

Thin: the household comes from the session; every check and write is in ``community``.
Another village's announcement or another household's item is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from civicpoints.community.models import FeedbackKind
from civicpoints.community.selectors import (
    announcement_of_household,
    announcements_for_household,
    feedback_item_of_household,
    feedback_of_household,
    feedback_photo,
)
from civicpoints.community.services import feedback_submit
from civicpoints.errors import ApplicationError
from civicpoints.faces.errors import field_errors
from civicpoints.households.models import Household
from civicpoints.portal.views import resident_required

PER_PAGE = 10


def _page(request: HttpRequest, rows: object) -> Page:
    return Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))  # type: ignore[arg-type]


@resident_required
def announcements(request: HttpRequest, household: Household) -> HttpResponse:
    return render(
        request,
        "portal/announcements.html",
        {"h": household, "page": _page(request, announcements_for_household(household))},
    )


@resident_required
def announcement(request: HttpRequest, household: Household, announcement_id: int) -> HttpResponse:
    found = announcement_of_household(household, announcement_id)
    return render(request, "portal/announcement.html", {"h": household, "a": found})


@resident_required
def feedback_mine(request: HttpRequest, household: Household) -> HttpResponse:
    return render(
        request,
        "portal/feedback_list.html",
        {"h": household, "page": _page(request, feedback_of_household(household))},
    )


@require_http_methods(["GET", "POST"])
@resident_required
def feedback_new(request: HttpRequest, household: Household) -> HttpResponse:
    form = {"kind": "", "text": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {"kind": request.POST.get("kind", "")[:20], "text": request.POST.get("text", "")}
        photo = request.FILES.get("photo")
        try:
            item = feedback_submit(
                household=household,
                kind=form["kind"],
                text=form["text"][:1200],
                photo=photo.read() if photo is not None else None,
            )
        except ApplicationError as exc:
            errors = field_errors(exc)
        else:
            messages.success(request, _("已提交，村里答复后会显示在这里。"))
            return redirect("portal:feedback", feedback_id=item.pk)
    return render(
        request,
        "portal/feedback_new.html",
        {"h": household, "form": form, "errors": errors, "kinds": FeedbackKind.choices},
        status=422 if errors else 200,
    )


@resident_required
def feedback_detail(request: HttpRequest, household: Household, feedback_id: int) -> HttpResponse:
    item = feedback_item_of_household(household, feedback_id)
    replies = sorted(item.replies.all(), key=lambda r: (r.created_at, r.pk))
    return render(request, "portal/feedback.html", {"h": household, "f": item, "replies": replies})


@resident_required
def feedback_photo_view(
    request: HttpRequest, household: Household, feedback_id: int
) -> HttpResponse:
    item = feedback_item_of_household(household, feedback_id)
    path = feedback_photo(item)
    # A whole response (photos are at most 5 MB): the resident decorator wraps HttpResponses.
    response = HttpResponse(path.read_bytes(), content_type=item.photo_type)
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response
