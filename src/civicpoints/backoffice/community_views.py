"""Staff pages for village life: announcements (村务信息) and complaints/suggestions (投诉建议).

Thin: parse the form, call one service or selector from ``community``, render. A refusal is
shown at its field with what was typed kept; an object outside the person's villages is 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.backoffice.paging import paged
from civicpoints.community.models import (
    OPEN_STATUSES,
    AnnouncementStatus,
    Feedback,
    FeedbackKind,
    FeedbackStatus,
)
from civicpoints.community.selectors import (
    COMMUNITY_READERS,
    announcement_for,
    announcements_visible,
    community_staff,
    feedback_for,
    feedback_photo,
    feedback_visible,
    may_write,
    villages_for,
)
from civicpoints.community.services import (
    announcement_edit,
    announcement_post,
    announcement_withdraw,
    feedback_reply,
    feedback_set_status,
)
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.faces.errors import field_errors, refusals_return_to
from civicpoints.faces.tables import Column, Table, table_export
from civicpoints.schemes.scope import Actor, actor_for_user, parse_id

OPEN_FILTER = "waiting"  # the feedback list's default: 待处理 and 处理中


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "backoffice/community_forbidden.html", status=403)


def _publish_time(raw: str) -> dt.datetime | None:
    """The form's ``datetime-local`` value (local time), or None when left empty."""
    raw = (raw or "").strip()[:32]
    if not raw:
        return None
    parsed = dt.datetime.fromisoformat(raw)  # ValueError on nonsense
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _village_filter(request: HttpRequest, actor: Actor) -> tuple[list, int | None]:
    villages = villages_for(actor, COMMUNITY_READERS)
    wanted = parse_id(request.GET.get("village", ""))
    return villages, wanted if wanted in {v.pk for v in villages} else None


# --- announcements -------------------------------------------------------------------------


ANNOUNCEMENTS = Table(
    gettext_lazy("村务信息"),
    (
        Column(gettext_lazy("标题"), lambda a: a.title, 30),
        Column(gettext_lazy("村"), lambda a: a.village.name),
        Column(gettext_lazy("置顶"), lambda a: gettext_lazy("是") if a.pinned else "", 6),
        Column(gettext_lazy("发布时间"), lambda a: a.published_at, 17),
        Column(gettext_lazy("发布人"), lambda a: str(a.created_by), 12),
        Column(gettext_lazy("状态"), lambda a: a.get_status_display(), 10),
        Column(gettext_lazy("正文"), lambda a: a.body, 60),
    ),
)
FEEDBACK = Table(
    gettext_lazy("投诉建议"),
    (
        Column(gettext_lazy("编号"), lambda f: f.pk, 8),
        Column(gettext_lazy("提交时间"), lambda f: f.created_at, 17),
        Column(gettext_lazy("村"), lambda f: f.village.name),
        Column(gettext_lazy("户主"), lambda f: f.household.head_name if f.household_id else "", 10),
        Column(gettext_lazy("类型"), lambda f: f.get_kind_display(), 10),
        Column(gettext_lazy("内容"), lambda f: f.text, 60),
        Column(gettext_lazy("有照片"), lambda f: gettext_lazy("是") if f.photo_path else "", 8),
        Column(gettext_lazy("状态"), lambda f: f.get_status_display(), 10),
    ),
)


@login_required
def announcement_list(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    if not community_staff(actor):
        raise NotFound("announcement")
    villages, village = _village_filter(request, actor)
    rows = announcements_visible(actor)
    if village is not None:
        rows = rows.filter(village_id=village)
    listed = rows.select_related("village", "created_by")
    if export := table_export(request, actor, ANNOUNCEMENTS, listed, region_id=village):
        return export
    return render(
        request,
        "backoffice/announcements.html",
        {
            "page": paged(request, rows),
            "villages": villages,
            "village": village,
            "may_post": bool(villages_for(actor)),
            "now": timezone.now(),
        },
    )


def _announcement_form(request: HttpRequest) -> dict[str, Any]:
    return {
        "village": request.POST.get("village", "")[:20],
        "title": request.POST.get("title", "")[:200],
        "body": request.POST.get("body", "")[:6000],
        "pinned": request.POST.get("pinned") == "on",
        "published_at": request.POST.get("published_at", "")[:32],
    }


@login_required
@require_http_methods(["GET", "POST"])
def announcement_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    villages = villages_for(actor)
    if not villages:
        raise NotFound("village")
    form: dict[str, Any] = {"village": str(villages[0].pk) if len(villages) == 1 else ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = _announcement_form(request)
        try:
            when = _publish_time(form["published_at"])
        except ValueError:
            errors = {"published_at": _("发布时间格式不对")}
        else:
            try:
                announcement = announcement_post(
                    actor=actor,
                    village_id=form["village"],
                    title=form["title"],
                    body=form["body"],
                    pinned=form["pinned"],
                    published_at=when,
                )
            except ApplicationError as exc:
                errors = field_errors(exc)
                if exc.status == 404:
                    errors = {"village": _("请选择一个村（社区）")}
            else:
                messages.success(request, _("已发布：%(title)s") % {"title": announcement.title})
                return redirect("backoffice:announcement", announcement_id=announcement.pk)
    return render(
        request,
        "backoffice/announcement_form.html",
        {"villages": villages, "form": form, "errors": errors, "announcement": None},
        status=422 if errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def announcement_detail(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """The announcement as residents read it, with the edit form for those who may edit."""
    actor = actor_for_user(request.user)
    announcement = announcement_for(actor, announcement_id)
    writable = may_write(actor, scheme_id=announcement.scheme_id, village=announcement.village)
    editable = writable and announcement.status == AnnouncementStatus.PUBLISHED
    form: dict[str, Any] = {
        "title": announcement.title,
        "body": announcement.body,
        "pinned": announcement.pinned,
        "published_at": _local_input(announcement.published_at),
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not editable:
            return _forbidden(request)
        form = _announcement_form(request)
        try:
            when = _publish_time(form["published_at"])
        except ValueError:
            errors = {"published_at": _("发布时间格式不对")}
        else:
            if when is not None and _local_input(when) == _local_input(announcement.published_at):
                when = announcement.published_at  # unchanged (the form shows minutes only)
            try:
                announcement_edit(
                    actor=actor,
                    announcement=announcement,
                    title=form["title"],
                    body=form["body"],
                    pinned=form["pinned"],
                    published_at=when,
                )
            except ApplicationError as exc:
                errors = field_errors(exc)
            else:
                messages.success(request, _("已保存修改"))
                return redirect("backoffice:announcement", announcement_id=announcement.pk)
    return render(
        request,
        "backoffice/announcement.html",
        {
            "a": announcement,
            "editable": editable,
            "form": form,
            "errors": errors,
            "now": timezone.now(),
        },
        status=422 if errors else 200,
    )


def _local_input(value: dt.datetime) -> str:
    return f"{timezone.localtime(value):%Y-%m-%dT%H:%M}"


@login_required
@require_POST
def announcement_withdraw_view(request: HttpRequest, announcement_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    announcement = announcement_for(actor, announcement_id)
    back = refusals_return_to(
        request,
        reverse("backoffice:announcement", args=[announcement.pk]),
        words=_not_withdrawn,
    )
    announcement_withdraw(
        actor=actor, announcement=announcement, reason=request.POST.get("reason", "")[:300]
    )
    messages.success(request, _("已撤回，村民手机上不再显示"))
    return redirect(back)


def _not_withdrawn(exc: ApplicationError) -> str:
    why = (
        _("请填写撤回原因（最多 200 个字）") if exc.detail.get("field") == "reason" else exc.message
    )
    return _("没有撤回：%(message)s") % {"message": why}


# --- complaints and suggestions ------------------------------------------------------------


@login_required
def feedback_list(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    if not community_staff(actor):
        raise NotFound("announcement")
    villages, village = _village_filter(request, actor)
    status = request.GET.get("status", OPEN_FILTER)
    rows = feedback_visible(actor)
    if status in FeedbackStatus.values:
        rows = rows.filter(status=status)
    elif status != "all":
        status = OPEN_FILTER
        rows = rows.filter(status__in=OPEN_STATUSES)
    kind = request.GET.get("kind", "")
    if kind in FeedbackKind.values:
        rows = rows.filter(kind=kind)
    else:
        kind = ""
    if village is not None:
        rows = rows.filter(village_id=village)
    listed = rows.select_related("village", "household")
    if export := table_export(request, actor, FEEDBACK, listed, region_id=village):
        return export
    return render(
        request,
        "backoffice/feedback_list.html",
        {
            "page": paged(request, rows),
            "status": status,
            "statuses": FeedbackStatus.choices,
            "kind": kind,
            "kinds": FeedbackKind.choices,
            "villages": villages,
            "village": village,
        },
    )


def _feedback_page(
    request: HttpRequest, actor: Actor, feedback: Feedback, errors: dict[str, str], reply: str
) -> HttpResponse:
    writable = may_write(actor, scheme_id=feedback.scheme_id, village=feedback.village)
    return render(
        request,
        "backoffice/feedback.html",
        {
            "f": feedback,
            "replies": feedback.replies.select_related("author").order_by("created_at", "pk"),
            "writable": writable,
            "statuses": [(v, label) for v, label in FeedbackStatus.choices if v != feedback.status],
            "errors": errors,
            "reply": reply,
        },
        status=422 if errors else 200,
    )


@login_required
def feedback_detail(request: HttpRequest, feedback_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    feedback = feedback_for(actor, feedback_id)
    return _feedback_page(request, actor, feedback, {}, "")


@login_required
@require_POST
def feedback_reply_view(request: HttpRequest, feedback_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    feedback = feedback_for(actor, feedback_id)
    text = request.POST.get("reply", "")[:1200]
    try:
        feedback_reply(actor=actor, feedback=feedback, text=text)
    except ApplicationError as exc:
        if exc.status == 403:
            return _forbidden(request)
        return _feedback_page(request, actor, feedback, {"reply": exc.message}, text)
    messages.success(request, _("已答复，村民在手机上能看到"))
    return redirect("backoffice:feedback", feedback_id=feedback.pk)


@login_required
@require_POST
def feedback_status_view(request: HttpRequest, feedback_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    feedback = feedback_for(actor, feedback_id)
    try:
        feedback_set_status(actor=actor, feedback=feedback, status=request.POST.get("status", ""))
    except ApplicationError as exc:
        if exc.status == 403:
            return _forbidden(request)
        return _feedback_page(request, actor, feedback, {"status": exc.message}, "")
    messages.success(
        request, _("状态已改为：%(status)s") % {"status": feedback.get_status_display()}
    )
    return redirect("backoffice:feedback", feedback_id=feedback.pk)


@login_required
def feedback_photo_view(request: HttpRequest, feedback_id: int) -> HttpResponse | FileResponse:
    feedback = feedback_for(actor_for_user(request.user), feedback_id)
    return _photo_response(feedback, feedback_photo(feedback))


def _photo_response(feedback: Feedback, path: Any) -> FileResponse:
    response = FileResponse(path.open("rb"), content_type=feedback.photo_type)
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response
