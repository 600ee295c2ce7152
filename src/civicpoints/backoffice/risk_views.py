"""Staff pages for risk flags (风险提示): the list, one flag with its rows, notes, resolve and
dismiss, "scan now", and the scheme's thresholds. For auditors and county admins only.

Thin: parse the form, call one service or selector from ``risk``, render. A flag outside the
person's scope is a 404; a refused note is shown at its field with what was typed kept.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.backoffice.navigation import can_for
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError, NotFound
from civicpoints.faces.tables import Column, Table, export_format, table_file
from civicpoints.ledger.amounts import BadPoints, format_points, parse_points
from civicpoints.risk.models import FlagStatus, RiskFlag, RiskRule
from civicpoints.risk.selectors import (
    evidence_rows,
    explained,
    flag_for,
    flags_visible,
    scheme_settings,
    schemes_set,
)
from civicpoints.risk.services import (
    RISK_REVIEWERS,
    SETTING_FIELDS,
    flag_dismiss,
    flag_note_add,
    flag_resolve,
    risk_scan_now,
)
from civicpoints.risk.services import risk_settings_update as settings_update
from civicpoints.schemes.models import Region, RegionLevel
from civicpoints.schemes.scope import Actor, parse_id

# Settings kept in hundredths but typed in points.
POINT_SETTINGS = frozenset(
    {"payment_limit", "round_unit", "peer_min_points", "writeoff_min_points"}
)
ACTIONS = ("note", "resolve", "dismiss")


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "backoffice/forbidden.html", status=403)


def _villages(actor: Actor) -> list[Region]:
    paths = [g.region_path for g in actor.grants_for(RISK_REVIEWERS)]
    if not paths:
        return []
    from django.db.models import Q

    q = Q(pk__in=[])
    for path in paths:
        q |= Q(path__startswith=path)
    return list(Region.objects.filter(q, level=RegionLevel.VILLAGE).order_by("code"))


RISK_FLAGS = Table(
    gettext_lazy("风险提示"),
    (
        Column(gettext_lazy("编号"), lambda r: r[0].pk, 8),
        Column(gettext_lazy("发现时间"), lambda r: r[0].raised_at, 17),
        Column(gettext_lazy("区域"), lambda r: r[0].region.name),
        Column(gettext_lazy("规则"), lambda r: r[0].get_rule_display(), 20),
        Column(gettext_lazy("说明"), lambda r: r[1], 60),
        Column(gettext_lazy("状态"), lambda r: r[0].get_status_display(), 10),
    ),
)
FLAGS_EXPORTED_MAX = 20_000  # the explanations are made in memory; a scheme has far fewer


@login_required
def flag_list(request: HttpRequest) -> HttpResponseBase:
    can = can_for(request)
    if not can.risk:
        raise NotFound("risk_flag")
    actor = can.actor
    flags = flags_visible(actor).select_related("region")
    rule = request.GET.get("rule", "")
    if rule in RiskRule.values:
        flags = flags.filter(rule=rule)
    status = request.GET.get("status", FlagStatus.OPEN)
    if status in FlagStatus.values:
        flags = flags.filter(status=status)
    villages = _villages(actor)
    village = parse_id(request.GET.get("village", ""))
    chosen = next((v for v in villages if v.pk == village), None)
    if chosen is not None:
        flags = flags.filter(region__path__startswith=chosen.path)
    flags = flags.order_by("-raised_at", "-pk")
    if fmt := export_format(request):
        rows = explained(list(flags[:FLAGS_EXPORTED_MAX]))
        return table_file(request, actor, RISK_FLAGS, rows, fmt)
    page = paged(request, flags)
    return render(
        request,
        "backoffice/risk_flags.html",
        {
            "page": page,
            "rows": explained(list(page.object_list)),
            "rules": RiskRule.choices,
            "rule": rule,
            "statuses": FlagStatus.choices,
            "status": status,
            "villages": villages,
            "village": chosen.pk if chosen else None,
            "schemes": schemes_set(actor),
        },
    )


def _flag_page(
    request: HttpRequest, flag: RiskFlag, errors: dict[str, str], typed: str
) -> HttpResponse:
    can = can_for(request)
    [(_flag, text)] = explained([flag])
    shown = {
        "claim": can.claims,
        "household": can.households,
        "store": can.stores,
        "merchants": can.merchants,
    }
    rows = [
        (row, row.page if row.page and shown.get(row.page[0]) else None)
        for row in evidence_rows(flag)
    ]
    return render(
        request,
        "backoffice/risk_flag.html",
        {
            "flag": flag,
            "text": text,
            "rows": rows,
            "notes": flag.notes.select_related("author"),
            "errors": errors,
            "typed": typed,
        },
        status=422 if errors else 200,
    )


@login_required
def flag_detail(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = flag_for(can_for(request).actor, flag_id)
    return _flag_page(request, flag, {}, "")


@login_required
@require_POST
def flag_action(request: HttpRequest, flag_id: int, action: str) -> HttpResponse:
    actor = can_for(request).actor
    flag = flag_for(actor, flag_id)
    if action not in ACTIONS:
        raise NotFound("action")
    text = request.POST.get("note", "")[:1200]
    try:
        if action == "note":
            flag_note_add(actor=actor, flag=flag, text=text)
        elif action == "resolve":
            flag_resolve(actor=actor, flag=flag, note=text)
        else:
            flag_dismiss(actor=actor, flag=flag, note=text)
    except ApplicationError as exc:
        if exc.status == 403:
            return _forbidden(request)
        flag.refresh_from_db()
        return _flag_page(request, flag, {"note": str(exc.message)}, text)
    done = {"note": _("备注已保存"), "resolve": _("已标记为处理完毕"), "dismiss": _("已排除")}
    messages.success(request, done[action])
    return redirect("backoffice:risk_flag", flag_id=flag.pk)


@login_required
@require_POST
def scan_now(request: HttpRequest) -> HttpResponse:
    actor = can_for(request).actor
    schemes = schemes_set(actor)
    scheme = next((s for s in schemes if s.pk == parse_id(request.POST.get("scheme", ""))), None)
    if scheme is None:
        raise NotFound("scheme")
    try:
        raised = risk_scan_now(actor=actor, scheme=scheme)
    except ApplicationError as exc:
        if exc.status == 403:
            return _forbidden(request)
        raise
    messages.success(request, _("扫描完成：新风险提示 %(n)s 条") % {"n": raised})
    return redirect("backoffice:risk_flags")


def _settings_values(data: Any) -> tuple[dict[str, int], dict[str, str]]:
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name in SETTING_FIELDS:
        raw = (data.get(name) or "").strip()
        try:
            if name in POINT_SETTINGS:
                values[name] = parse_points(raw, allow_zero=True)
            elif raw.isascii() and raw.isdigit() and len(raw) <= 12:
                values[name] = int(raw)
            else:
                errors[name] = _("请填写整数")
        except BadPoints as exc:
            errors[name] = str(exc)
    return values, errors


@login_required
@require_http_methods(["GET", "POST"])
def risk_settings(request: HttpRequest) -> HttpResponse:
    actor = can_for(request).actor
    schemes = schemes_set(actor)
    if not schemes:
        raise NotFound("scheme")
    scheme = next(
        (
            s
            for s in schemes
            if s.pk == parse_id(request.POST.get("scheme") or request.GET.get("scheme", ""))
        ),
        schemes[0],
    )
    current = scheme_settings(scheme)
    errors: dict[str, str] = {}
    typed: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _settings_values(request.POST)
        typed = {name: request.POST.get(name, "")[:20] for name in SETTING_FIELDS}
        if not errors:
            try:
                settings_update(actor=actor, scheme=scheme, values=values)
            except ApplicationError as exc:
                if exc.status == 403:
                    return _forbidden(request)
                errors[str(exc.detail.get("field", "scan_minutes"))] = str(exc.message)
            else:
                messages.success(request, _("风险规则设置已保存"))
                return redirect(f"{request.path}?scheme={scheme.pk}")
    fields = []
    for name in SETTING_FIELDS:
        value = getattr(current, name)
        shown = format_points(value) if name in POINT_SETTINGS else str(value)
        fields.append(
            {
                "name": name,
                "label": getattr(current._meta.get_field(name), "verbose_name", name),
                "value": typed.get(name, shown),
                "error": errors.get(name, ""),
                "points": name in POINT_SETTINGS,
            }
        )
    return render(
        request,
        "backoffice/risk_settings.html",
        {"scheme": scheme, "schemes": schemes, "fields": fields},
        status=422 if errors else 200,
    )
