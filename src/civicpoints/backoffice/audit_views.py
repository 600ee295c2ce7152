"""The audit log pages (审计日志) for county admins and auditors: a filtered, paged list and
its export. Thin: the filter, the scope and the words come from ``civicpoints.audit``; these
views only read (an export records itself in the log, as every export does)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from civicpoints.audit.describe import describe
from civicpoints.audit.export import audit_export_csv, audit_export_xlsx
from civicpoints.audit.models import AuditAction
from civicpoints.audit.selectors import (
    AuditFilter,
    audit_actors,
    audit_events,
    audit_filter,
    audit_regions,
    may_read_audit,
)
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.exports import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE
from civicpoints.schemes.scope import Actor, actor_for_user

FILTER_KEYS = ("actor", "action", "region", "from", "to")


def _params(request: HttpRequest) -> dict[str, str]:
    return {k: request.GET.get(k, "")[:40] for k in FILTER_KEYS}


def _page(
    request: HttpRequest, actor: Actor, wanted: AuditFilter | None, error: str = ""
) -> HttpResponse:
    params = _params(request)
    rows = audit_events(actor, wanted).select_related("actor", "region") if wanted else None
    page = paged(request, rows) if rows is not None else None
    keep = request.GET.copy()
    keep.pop("page", None)
    context: dict[str, Any] = {
        "page": page,
        "lines": describe(page.object_list) if page is not None else [],
        "params": params,
        "error": error,
        "actors": audit_actors(actor),
        "actions": AuditAction.choices,
        "regions": audit_regions(actor),
        "export_query": keep.urlencode(),
    }
    return render(request, "backoffice/audit_log.html", context, status=400 if error else 200)


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    if not may_read_audit(actor):
        raise NotFound("audit")
    try:
        wanted = audit_filter(actor, _params(request))
    except ApplicationError as exc:
        return _page(request, actor, None, exc.message)
    return _page(request, actor, wanted)


@login_required
@require_GET
def audit_log_export(request: HttpRequest, kind: str) -> HttpResponse | FileResponse:
    actor = actor_for_user(request.user)
    if not may_read_audit(actor):
        raise NotFound("audit")
    try:
        wanted = audit_filter(actor, _params(request))
        stem = _("审计日志-%(day)s") % {"day": f"{timezone.localdate():%Y%m%d}"}
        if kind == "xlsx":
            count, out = audit_export_xlsx(actor=actor, wanted=wanted)
            response: Any = FileResponse(
                out, as_attachment=True, filename=f"{stem}.xlsx", content_type=XLSX_CONTENT_TYPE
            )
        else:
            count, lines = audit_export_csv(actor=actor, wanted=wanted)
            response = StreamingHttpResponse(lines, content_type=CSV_CONTENT_TYPE)
            response["Content-Disposition"] = content_disposition_header(True, f"{stem}.csv")
    except ApplicationError as exc:
        return _page(request, actor, None, exc.message)
    response["X-Rows"] = str(count)
    return response
