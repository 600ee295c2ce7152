"""Staff pages for the monthly evaluation import: upload, preview, confirm, result; the blank
template; the export of a month's claims as the same sheet.

Thin: the checks and the writes live in ``awards.importing``. Bad files never raise here;
they come back as messages on the page.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.awards.importing import (
    claim_import_commit,
    claim_import_preview,
    claim_import_result,
    claim_import_schemes,
    claim_import_template,
)
from civicpoints.awards.importing.export import claims_export, export_regions
from civicpoints.awards.importing.sheet import LABEL, TEMPLATE_KEYS, XLSX
from civicpoints.backoffice.import_views import (
    chosen_scheme,
    confirm_refused,
    render_preview,
    waiting_uploads,
)
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.households.importing import MAX_BYTES
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, actor_for_user


def _may_approve(actor: Actor) -> bool:
    return bool(actor.grants_for(ADMIN_ROLES))


def _form(request: HttpRequest, actor: Actor, schemes: list[Scheme], status: int = 200):
    context = {
        "schemes": schemes,
        "pending": waiting_uploads(request, "claims") if schemes else [],
        "columns": [LABEL[k] for k in TEMPLATE_KEYS],
        "max_mb": MAX_BYTES // 1024 // 1024,
        "may_approve": _may_approve(actor),
        "regions": export_regions(actor, schemes[0]) if len(schemes) == 1 else [],
    }
    return render(request, "backoffice/claim_import.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def claim_import(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    schemes = claim_import_schemes(actor)
    if not schemes:
        messages.error(request, _("只有网格员和县、乡镇、村级管理员可以导入考评表"))
        return _form(request, actor, schemes, status=403)
    if request.method == "GET":
        return _form(request, actor, schemes)
    scheme = chosen_scheme(schemes, request.POST.get("scheme"))
    upload = request.FILES.get("file")
    if scheme is None:
        messages.error(request, _("请选择积分方案"))
        return _form(request, actor, schemes, status=400)
    if upload is None:
        messages.error(request, _("请选择要上传的考评表（Excel 或 CSV）"))
        return _form(request, actor, schemes, status=400)
    if upload.size is not None and upload.size > MAX_BYTES:
        messages.error(
            request,
            _("文件超过%(mb)s MB，请分成几个文件分别导入") % {"mb": MAX_BYTES // 1024 // 1024},
        )
        return _form(request, actor, schemes, status=400)
    try:
        preview = claim_import_preview(
            actor=actor,
            scheme=scheme,
            file_bytes=upload.read(MAX_BYTES + 1),
            filename=(upload.name or "")[:200],
            approve=request.POST.get("approve") == "1",
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _form(request, actor, schemes, status=exc.status)
    return render_preview(request, "backoffice/claim_import_preview.html", preview, scheme)


@login_required
@require_POST
def claim_import_confirm(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = chosen_scheme(claim_import_schemes(actor), request.POST.get("scheme"))
    if scheme is None:
        raise NotFound("scheme")
    try:
        result = claim_import_commit(
            actor=actor, scheme=scheme, token=request.POST.get("token", "")
        )
    except ApplicationError as exc:
        return confirm_refused(request, exc, back="backoffice:claim_import")
    return redirect("backoffice:claim_import_done", token=result.token)


@login_required
@require_GET
def claim_import_done(request: HttpRequest, token: str) -> HttpResponse:
    actor = actor_for_user(request.user)
    result = claim_import_result(actor=actor, token=token)
    return render(request, "backoffice/claim_import_done.html", {"result": result})


@login_required
@require_GET
def claim_import_template_download(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    scheme = chosen_scheme(claim_import_schemes(actor), request.GET.get("scheme"))
    if scheme is None:
        raise NotFound("scheme")
    wide = request.GET.get("form") == "wide"
    return FileResponse(
        io.BytesIO(claim_import_template(scheme=scheme, wide=wide)),
        as_attachment=True,
        filename=_("考评表模板（每户一行）.xlsx") if wide else _("考评表模板.xlsx"),
        content_type=XLSX,
    )


@login_required
@require_GET
def claim_export(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    schemes = claim_import_schemes(actor)
    scheme = chosen_scheme(schemes, request.GET.get("scheme"))
    if scheme is None:
        raise NotFound("scheme")
    fmt = "csv" if request.GET.get("format") == "csv" else "xlsx"
    month = request.GET.get("month", "")[:10]
    out = io.BytesIO()
    try:
        result = claims_export(
            actor=actor,
            scheme=scheme,
            month=month,
            region_code=request.GET.get("village", "")[:12] or None,
            fmt=fmt,
            out=out,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _form(request, actor, schemes, status=400 if exc.status == 422 else exc.status)
    out.seek(0)
    response = FileResponse(
        out,
        as_attachment=True,
        filename=_("积分申报-%(month)s.%(format)s") % {"month": month, "format": fmt},
        content_type="text/csv; charset=utf-8" if fmt == "csv" else XLSX,
    )
    response["X-Rows"] = str(result.rows)
    return response
