"""Staff pages for a commendation event (评比表彰现场): many households redeem in one batch.

The admin picks a store, a title and a date, and builds the list: rows added one by one
(household found by name or card, product, quantity), pasted from a spreadsheet, or uploaded.
The list is text until the last step: preview -> confirm -> ``ceremony_redeem``, which writes
every row or none; its refusal names the failing rows and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.households.importing.reading import FileProblem
from civicpoints.schemes.scope import actor_for_user, parse_id
from civicpoints.stores.ceremony_list import (
    ceremony_list_parse,
    ceremony_list_preview,
    ceremony_list_refusals,
    ceremony_list_text,
)
from civicpoints.stores.selectors import (
    ceremony_for,
    ceremony_made_with,
    counter_search,
    products_of,
    redemptions_visible,
    store_managed_for,
    stores_managed,
)
from civicpoints.stores.services import ceremony_check, ceremony_redeem

MAX_UPLOAD = 2 * 1024 * 1024


@login_required
@require_http_methods(["GET", "POST"])
def ceremony_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    stores = list(stores_managed(actor)[:500])
    if not stores:
        raise NotFound("store")
    data: Any = request.POST if request.method == "POST" else request.GET
    store = next((s for s in stores if s.pk == parse_id(data.get("store"))), None)
    if store is None and len(stores) == 1:
        store = stores[0]
    context: dict[str, Any] = {
        "stores": stores,
        "store": store,
        "title": data.get("title", "")[:100],
        "held_on": data.get("held_on") or timezone.localdate().isoformat(),
        "text": data.get("text", "")[:200_000],
        "products": list(products_of(store)) if store else [],
    }
    if request.method == "GET" or request.POST.get("edit"):
        return render(request, "backoffice/ceremony_new.html", context)
    upload = request.FILES.get("file")
    if upload is not None:
        try:
            context["text"] = ceremony_list_text(upload.read(MAX_UPLOAD + 1))
        except FileProblem as exc:
            messages.error(request, str(exc))
            return render(request, "backoffice/ceremony_new.html", context, status=422)
    try:
        held_on = dt.date.fromisoformat(context["held_on"])
    except ValueError:
        messages.error(request, _("日期格式应为 2026-12-01"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    if store is None:
        messages.error(request, _("请选择超市"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    if not context["title"].strip():
        messages.error(request, _("请填写表彰活动名称"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    parsed = ceremony_list_parse(store, context["text"])
    if not parsed.groups and not parsed.problems:
        messages.error(request, _("请至少添加一户"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    key = ("ceremony:" + request.POST.get("key", ""))[:200] if request.POST.get("key") else None
    confirming = request.POST.get("step") == "confirm"
    # Every row is checked as the redemption would check it; while any fails there is no
    # confirm on the page, and a confirm posted anyway is answered with this preview (422).
    # A second tap on confirm finds its batch made and is not checked again (it replays).
    replay = confirming and parsed.ok and key and ceremony_made_with(store, key)
    check = (
        ceremony_check(actor=actor, store=store, rows=parsed.rows())
        if parsed.ok and not replay
        else None
    )
    preview = ceremony_list_preview(parsed, check)
    ready = bool(replay) or (check is not None and check.ok)
    context.update(
        {
            "parsed": parsed,
            "rows": preview.rows,
            "stock": preview.stock,
            "total": preview.total,
            "households": len(preview.rows),
            "ready": ready,
            "failing": sum(1 for r in preview.rows if r["problems"]),
            "stock_failing": sum(1 for s in preview.stock if s["problem"]),
        }
    )
    if not confirming or not ready:
        if confirming:
            messages.error(request, _("名单中还有不能兑换的行，未兑换任何一户"))
        context["key"] = secrets.token_urlsafe(16)
        return render(
            request, "backoffice/ceremony_preview.html", context, status=200 if ready else 422
        )
    try:
        ceremony = ceremony_redeem(
            actor=actor,
            store=store,
            title=context["title"],
            held_on=held_on,
            rows=parsed.rows(),
            idempotency_key=key,
        )
    except ApplicationError as exc:
        if exc.code != ErrorCode.CEREMONY_INVALID:
            messages.error(request, exc.message)
            context["key"] = secrets.token_urlsafe(16)
            return render(request, "backoffice/ceremony_preview.html", context, status=422)
        context["refused"] = ceremony_list_refusals(parsed, exc.detail.get("errors", []))
        context["message"] = exc.message
        return render(request, "backoffice/ceremony_refused.html", context, status=422)
    messages.success(
        request,
        _("表彰兑换完成：%(title)s，共 %(n)s 户")
        % {"title": ceremony.title, "n": len(parsed.groups)},
    )
    return redirect("backoffice:ceremony", ceremony_id=ceremony.pk)


@login_required
@require_GET
def ceremony_households(request: HttpRequest) -> HttpResponse:
    """HTMX: households the chosen store serves, by name, pinyin initials, phone or card."""
    actor = actor_for_user(request.user)
    store = store_managed_for(actor, request.GET.get("store"))
    q = request.GET.get("q", "")[:40].strip()
    found = list(counter_search(store, q, limit=20)) if q else []
    return render(request, "backoffice/_ceremony_households.html", {"found": found, "q": q})


@login_required
@require_GET
def ceremony_detail(request: HttpRequest, ceremony_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    ceremony = ceremony_for(actor, ceremony_id)
    redemptions = list(
        redemptions_visible(actor)
        .filter(ceremony=ceremony)
        .select_related("household__village__parent")
        .prefetch_related("lines__product")
        .order_by("pk")
    )
    return render(
        request,
        "backoffice/ceremony.html",
        {
            "ceremony": ceremony,
            "redemptions": redemptions,
            "total": sum(r.points for r in redemptions),
        },
    )
