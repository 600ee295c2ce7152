"""村月度治理指标 (docs/reports.md, "Outcomes"): admins enter, for a month, each of their
villages' disputes mediated, petitions, criminal cases and sanitation score, on the form or
from a sheet; a bad value or row is told where it is and nothing is written."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from civicpoints.errors import ApplicationError, PermissionDenied
from civicpoints.households.importing.reading import FileProblem
from civicpoints.reports.models import Outcome
from civicpoints.reports.outcomes import (
    OUTCOME_LAYOUT,
    outcome_clean,
    outcomes_parse,
    outcomes_set,
    parse_month,
)
from civicpoints.schemes.models import Region, RegionLevel
from civicpoints.schemes.scope import ADMIN_ROLES, actor_for_user
from civicpoints.schemes.selectors import scheme_for_region

MAX_UPLOAD = 2 * 1024 * 1024
FIELDS = ("disputes", "petitions", "criminal_cases", "sanitation_score")


@login_required
@require_http_methods(["GET", "POST"])
def outcomes(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    grants = actor.grants_for(ADMIN_ROLES)
    if not grants:
        raise PermissionDenied("outcome.set")
    under = Q(pk__in=[])
    for g in grants:
        under |= Q(path__startswith=g.region_path)
    villages = list(Region.objects.filter(under, level=RegionLevel.VILLAGE).order_by("code")[:500])
    today = timezone.localdate()
    data: Any = request.POST if request.method == "POST" else request.GET
    month_text = (data.get("month") or today.strftime("%Y-%m"))[:10]
    errors: dict[str, str] = {}
    problems: list[str] = []
    status = 200
    try:
        month = parse_month(month_text, today)
    except ApplicationError as exc:
        month, errors["month"], status = today.replace(day=1), exc.message, exc.status
    if request.method == "POST" and not errors and villages:
        scheme = scheme_for_region(actor, villages[0], prefer=ADMIN_ROLES)
        upload = request.FILES.get("file")
        try:
            if upload is not None:
                rows, problems = outcomes_parse(villages=villages, data=upload.read(MAX_UPLOAD + 1))
            else:
                rows = []
                for v in villages:
                    values = {f: data.get(f"{f}-{v.pk}", "") for f in FIELDS}
                    if not any(str(x).strip() for x in values.values()):
                        continue  # a village left blank is not entered
                    try:
                        rows.append(
                            outcome_clean(village=v, values={"month": month, **values}, today=today)
                        )
                    except ApplicationError as exc:
                        errors[f"{exc.detail.get('field')}-{v.pk}"] = exc.message
            if not problems and not errors:
                if not rows:
                    messages.error(request, _("没有填写任何村的数字"))
                else:
                    count = outcomes_set(actor=actor, scheme=scheme, rows=rows)
                    messages.success(request, _("已保存 %(n)s 个村月的指标") % {"n": count})
                    return redirect(f"{request.path}?month={month:%Y-%m}")
            status = 422
        except FileProblem as exc:
            problems, status = [str(exc)], 422
    saved = {o.village_id: o for o in Outcome.objects.filter(village__in=villages, month=month)}
    rows_out = [
        {
            "village": v,
            "values": {
                f: (
                    data.get(f"{f}-{v.pk}", "")
                    if request.method == "POST"
                    else _shown(saved.get(v.pk), f)
                )
                for f in FIELDS
            },
        }
        for v in villages
    ]
    return render(
        request,
        "backoffice/outcomes.html",
        {
            "month": month,
            "month_text": month_text,
            "rows": rows_out,
            "fields": FIELDS,
            "errors": errors,
            "problems": problems,
            "headers": OUTCOME_LAYOUT.all_headers,
        },
        status=status,
    )


def _shown(outcome: Outcome | None, field: str) -> str:
    if outcome is None:
        return ""
    value = getattr(outcome, field)
    return "" if value is None else str(value)
