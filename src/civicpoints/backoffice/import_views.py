"""Staff pages for the household import: upload, preview with every error, confirm, result.

Thin: the checks and the writes live in ``households.importing``. Bad files never raise here;
they come back as messages on the page.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.households.importing import (
    MAX_BYTES,
    household_import_commit,
    household_import_preview,
    household_import_result,
    import_schemes,
)
from civicpoints.households.importing.pending import pending_uploads
from civicpoints.households.importing.reading import COLUMNS
from civicpoints.households.importing.sample import sample_workbook
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import actor_for_user

MAX_SHOWN_ERRORS = 1000  # a whole sheet in the wrong layout would otherwise be a huge page
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render_preview(
    request: HttpRequest, template: str, preview: Any, scheme: Scheme
) -> HttpResponse:
    """A preview page: counts, first rows and every error (up to MAX_SHOWN_ERRORS)."""
    errors = [str(e) for e in preview.errors]
    return render(
        request,
        template,
        {
            "preview": preview,
            "scheme": scheme,
            "errors": errors[:MAX_SHOWN_ERRORS],
            "hidden_errors": max(len(errors) - MAX_SHOWN_ERRORS, 0),
        },
        status=200 if preview.ok else 422,
    )


def confirm_refused(request: HttpRequest, exc: ApplicationError, *, back: str) -> HttpResponse:
    """A confirm that did not import: the file's errors, or why the upload is gone."""
    if exc.code == ErrorCode.IMPORT_INVALID:
        errors = exc.detail.get("errors", [])
        return render(
            request,
            "backoffice/import_refused.html",
            {"errors": errors[:MAX_SHOWN_ERRORS], "total": len(errors)},
            status=422,
        )
    if exc.code == ErrorCode.NOT_FOUND:
        messages.error(request, _("这次上传已失效（已导入、已过期或不是您上传的），请重新上传"))
    else:
        messages.error(request, exc.message)
    return redirect(back)


def chosen_scheme(schemes: list[Scheme], raw: object) -> Scheme | None:
    if len(schemes) == 1 and not raw:
        return schemes[0]
    return next((s for s in schemes if str(s.pk) == str(raw)), None)


def waiting_uploads(request: HttpRequest, kind: str) -> list[dict[str, Any]]:
    """This person's checked uploads of ``kind`` that still wait for their confirm."""
    return [
        {**u, "at": dt.datetime.fromtimestamp(u.get("created_at", 0), tz=dt.UTC)}
        for u in pending_uploads(user_id=request.user.pk, kind=kind)
    ]


def _form(request: HttpRequest, schemes: list[Scheme], status: int = 200) -> HttpResponse:
    context = {
        "schemes": schemes,
        "pending": waiting_uploads(request, "households") if schemes else [],
        "columns": [label for _, label, _aliases in COLUMNS],
        "max_mb": MAX_BYTES // 1024 // 1024,
    }
    return render(request, "backoffice/import.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def household_import(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    schemes = import_schemes(actor)
    if not schemes:
        messages.error(request, _("只有县、乡镇、村级管理员可以导入农户"))
        return _form(request, schemes, status=403)
    if request.method == "GET":
        return _form(request, schemes)
    scheme = chosen_scheme(schemes, request.POST.get("scheme"))
    upload = request.FILES.get("file")
    if scheme is None:
        messages.error(request, _("请选择积分方案"))
        return _form(request, schemes, status=400)
    if upload is None:
        messages.error(request, _("请选择要上传的文件（Excel 或 CSV）"))
        return _form(request, schemes, status=400)
    if upload.size is not None and upload.size > MAX_BYTES:
        too_big = _("文件超过%(mb)d MB，请分成几个文件分别导入") % {"mb": MAX_BYTES // 1024 // 1024}
        messages.error(request, too_big)
        return _form(request, schemes, status=400)
    filename = (upload.name or "")[:200]
    try:
        preview = household_import_preview(
            actor=actor, scheme=scheme, file_bytes=upload.read(MAX_BYTES + 1), filename=filename
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _form(request, schemes, status=exc.status)
    return render_preview(request, "backoffice/import_preview.html", preview, scheme)


@login_required
@require_POST
def household_import_confirm(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = chosen_scheme(import_schemes(actor), request.POST.get("scheme"))
    if scheme is None:
        raise NotFound("scheme")
    try:
        result = household_import_commit(
            actor=actor, scheme=scheme, token=request.POST.get("token", "")
        )
    except ApplicationError as exc:
        return confirm_refused(request, exc, back="backoffice:household_import")
    return redirect("backoffice:household_import_done", token=result.token)


@login_required
@require_GET
def household_import_done(request: HttpRequest, token: str) -> HttpResponse:
    actor = actor_for_user(request.user)
    result = household_import_result(actor=actor, token=token)
    return render(request, "backoffice/import_done.html", {"result": result})


@login_required
@require_GET
def household_import_sample(request: HttpRequest) -> FileResponse:
    return FileResponse(
        io.BytesIO(sample_workbook()),
        as_attachment=True,
        filename=_("农户导入模板.xlsx"),
        content_type=XLSX,
    )
