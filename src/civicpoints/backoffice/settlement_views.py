"""Staff pages for T+1 settlement: a business day's statements (overdue ones in red), running
settlement for a day, marking a statement paid with the bank's reference, the payout preview
(accounts masked) and its files (full accounts, county admins only), and the reconciliation
report. Thin: every write is in ``merchants.settlement``; every step that pays asks first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.backoffice.merchant_views import (
    STATEMENTS,
    manages_scheme,
    scheme_chosen,
    scheme_statements,
)
from civicpoints.backoffice.paging import paged
from civicpoints.calendar import day_over, last_day_over
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.tables import table_export
from civicpoints.ledger.amounts import format_points
from civicpoints.merchants.models import StatementStatus
from civicpoints.merchants.selectors import statement_for
from civicpoints.merchants.settlement import (
    OVERDUE_AFTER,
    overdue,
    payout_csv,
    payout_rows,
    payout_xlsx,
    reconcile,
    settle,
    statement_mark_paid,
)
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor, actor_for_user

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day(raw: object) -> dt.date:
    try:
        return dt.date.fromisoformat(str(raw or ""))
    except ValueError:
        return last_day_over()


def _settlement_url(day: dt.date, scheme: Scheme) -> str:
    query = urlencode({"date": day.isoformat(), "scheme": scheme.pk})
    return f"{reverse('backoffice:settlement')}?{query}"


# --- settlement ------------------------------------------------------------------------------


@login_required
@require_GET
def settlement(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    day = _day(request.GET.get("date"))
    now = timezone.now()
    statements = scheme_statements(actor, scheme)
    late = list(overdue(statements, now=now).order_by("business_date", "merchant_id"))
    late_ids = {s.pk for s in late}
    of_day = (
        statements.filter(business_date=day)
        .select_related("merchant")
        .order_by("merchant__shop_name", "pk")
    )
    if export := table_export(request, actor, STATEMENTS, of_day):
        return export
    page = paged(request, of_day)
    rows = list(page.object_list)
    totals = statements.filter(business_date=day).aggregate(
        gross=Sum("gross"), refunds=Sum("refunds_total"), net=Sum("net"), fen=Sum("amount_fen")
    )
    return render(
        request,
        "backoffice/settlement.html",
        {
            "scheme": scheme,
            "day": day,
            "previous": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1),
            "rows": [{"s": s, "overdue": s.pk in late_ids} for s in rows],
            "page": page,
            "totals": totals,
            "late": late,
            "manages": manages_scheme(actor, scheme),
            "overdue_hours": int(OVERDUE_AFTER.total_seconds() // 3600),
            "day_over": day_over(day, now=now),
        },
    )


@login_required
@require_POST
def settlement_run(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    day = _day(request.POST.get("date"))
    back = refusals_return_to(
        request, _settlement_url(day, scheme), words=lambda exc: _not_settled(exc, day)
    )
    if not manages_scheme(actor, scheme):
        raise PermissionDenied("settlement.run")
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("确认运行结算"),
            lines=[
                _("为 %(date)s（当天 00:00-24:00）的每个商家生成结算单并记账。")
                % {"date": day.isoformat()},
                _("已结算的商家不会重复结算；当天之后的退款计入下一天的结算单。"),
            ],
            button=_("确认结算 %(date)s") % {"date": day.isoformat()},
            back=back,
        )
    result = settle(scheme=scheme, day=day, actor_id=actor.user_id)
    if result.statements:
        messages.success(
            request,
            _("已结算 %(date)s：生成 %(n)s 张结算单")
            % {"date": day.isoformat(), "n": len(result.statements)},
        )
    else:
        messages.success(
            request,
            _("%(date)s 没有需要结算的收款（已结算过，或当天没有交易）")
            % {"date": day.isoformat()},
        )
    if result.carried:
        messages.warning(
            request,
            _("%(n)s 家商家当天退款多于收款，未出结算单，转入下一天") % {"n": len(result.carried)},
        )
    return redirect(back)


def _not_settled(exc: ApplicationError, day: dt.date) -> str:
    if exc.code == ErrorCode.DAY_NOT_OVER:
        return _("%(date)s 这一天还没有结束，要到 %(next)s 00:00（北京时间）以后才能结算") % {
            "date": day.isoformat(),
            "next": (day + dt.timedelta(days=1)).isoformat(),
        }
    return exc.message


@login_required
@require_POST
def statement_paid(request: HttpRequest, statement_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    statement = statement_for(actor, statement_id)
    if not scheme_statements(actor, scheme).filter(pk=statement.pk).exists():
        raise NotFound("statement")
    back = refusals_return_to(request, _settlement_url(statement.business_date, scheme))
    reference = request.POST.get("bank_reference", "").strip()[:100]
    if not reference:
        messages.error(request, _("请填写银行付款流水号"))
        return redirect(back)
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("确认已付款"),
            lines=[
                _("%(shop)s · %(date)s · 应付 %(yuan)s 元（%(points)s 积分）")
                % {
                    "shop": statement.merchant.shop_name,
                    "date": statement.business_date.isoformat(),
                    "yuan": f"{statement.amount_fen / 100:.2f}",
                    "points": format_points(statement.net),
                },
                _("收款账号 **** %(last4)s · 银行流水号 %(ref)s")
                % {"last4": statement.merchant.bank_account_last4, "ref": reference},
            ],
            button=_("确认已付款"),
            back=back,
        )
    statement_mark_paid(actor=actor, statement=statement, bank_reference=reference)
    messages.success(
        request,
        _("已付款：%(shop)s %(yuan)s 元，流水号 %(ref)s")
        % {
            "shop": statement.merchant.shop_name,
            "yuan": f"{statement.amount_fen / 100:.2f}",
            "ref": reference,
        },
    )
    return redirect(back)


def _payout_statements(request: HttpRequest, actor: Actor, scheme: Scheme) -> tuple[Any, Any]:
    statements = scheme_statements(actor, scheme)
    raw = request.GET.get("date")
    day = _day(raw) if raw else None
    return (statements.filter(business_date=day) if day else statements), day


@login_required
@require_GET
def payouts(request: HttpRequest) -> HttpResponse:
    """What the bank will pay: unpaid statements with something due, accounts masked."""
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    statements, day = _payout_statements(request, actor, scheme)
    rows = payout_rows(statements)
    query = urlencode({"scheme": scheme.pk, **({"date": day.isoformat()} if day else {})})
    return render(
        request,
        "backoffice/payouts.html",
        {
            "scheme": scheme,
            "day": day,
            "rows": [
                {
                    "number": n,
                    "r": r,
                    "masked": r.masked(),
                    "overdue": r.statement.created_at < timezone.now() - OVERDUE_AFTER,
                }
                for n, r in enumerate(rows, start=1)
            ],
            "total": sum((r.amount for r in rows), start=0),
            "manages": manages_scheme(actor, scheme),
            "query": query,
            "back_day": day or last_day_over(),
        },
    )


@login_required
@require_GET
def payout_file(request: HttpRequest, kind: str) -> HttpResponse:
    """The bank's batch payment file with full account numbers: county admins only."""
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    if not manages_scheme(actor, scheme):
        return render(request, "backoffice/forbidden.html", status=403)
    statements, day = _payout_statements(request, actor, scheme)
    rows = payout_rows(statements)
    audit_record(
        actor_id=actor.user_id,
        scheme_id=scheme.pk,
        action=AuditAction.SETTLEMENT_PAYOUT_FILE,
        detail={
            "format": kind,
            "date": day.isoformat() if day else "",
            "statements": [r.statement.pk for r in rows],
        },
    )
    stem = _("付款清单-%(day)s") % {"day": (day or timezone.localdate()).isoformat()}
    if kind == "xlsx":
        body, content_type = payout_xlsx(rows), XLSX
    else:
        body, content_type = payout_csv(rows), "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, f"{stem}.{kind}") or ""
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def reconciliation(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = scheme_chosen(request, actor)
    day = _day(request.GET.get("date"))
    checks = reconcile(scheme=scheme, day=day)
    return render(
        request,
        "backoffice/reconciliation.html",
        {
            "scheme": scheme,
            "day": day,
            "checks": checks,
            "ok": all(c.difference == 0 for c in checks),
            "statements": scheme_statements(actor, scheme).filter(business_date=day).count(),
            "unpaid": scheme_statements(actor, scheme)
            .filter(business_date=day, status=StatementStatus.UNPAID)
            .count(),
        },
    )
