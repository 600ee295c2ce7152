"""信用授权 on the phone: the household's consents to lenders, every use of them, granting one
(lender, period, personal-data lines unticked, the full wording, the PIN) and revoking one.

Thin: terms, grants and revokes are ``credit.consents``. Two steps to grant: the choices, then
the exact wording with the PIN (the wording shown is the wording hashed and stored).
"""

from __future__ import annotations

from typing import Any

import segno
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from civicpoints.credit.consents import (
    MONTHS,
    PII_FIELDS,
    PII_LABELS,
    consent_grant,
    consent_revoke,
    consent_terms,
    consent_uses,
    fields_in_words,
    household_consent,
    live_consents,
    ref_display,
)
from civicpoints.credit.lenders import active_lenders
from civicpoints.credit.models import Consent, ConsentChannel, ConsentUse
from civicpoints.credit.statements import (
    code_display,
    household_statement,
    household_statements,
    print_context,
)
from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.faces.errors import field_errors
from civicpoints.faces.forms import FormKeys
from civicpoints.households.models import Household
from civicpoints.portal.views import resident_required

KEYS = FormKeys(prefix="credit-consent-", expired=gettext_lazy("页面已过期，请重新填写授权"))
PER_PAGE = 20
STATEMENTS = 20  # the newest signed statements listed on 信用授权
PIN_CODES = {ErrorCode.PIN_REQUIRED, ErrorCode.PIN_INCORRECT, ErrorCode.LOCKED_OUT}


def ref_qr_svg(ref: str) -> str:
    return segno.make_qr(ref_display(ref), error="m").svg_inline(scale=6, border=4)


def use_line(use: ConsentUse) -> str:
    """ "通榆农商银行 查看了积分记录（含身份证号）"."""
    text = _("%(lender)s %(what)s") % {"lender": use.lender.name, "what": use.get_kind_display()}
    if use.fields:
        text += _("（含%(fields)s）") % {"fields": fields_in_words(use.fields)}
    return text


@resident_required
@require_GET
def credit_home(request: HttpRequest, household: Household) -> HttpResponse:
    page = Paginator(consent_uses(household), PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/credit.html",
        {
            "h": household,
            "consents": [
                {"c": c, "ref": ref_display(c.ref), "fields": fields_in_words(c.fields)}
                for c in live_consents(household)
            ],
            "page": page,
            "uses": [(u, use_line(u)) for u in page.object_list],
            "statements": [
                (st, code_display(st.code)) for st in household_statements(household)[:STATEMENTS]
            ],
        },
    )


@resident_required
@require_GET
def credit_statement(request: HttpRequest, household: Household, code: str) -> HttpResponse:
    """The household's own copy of a statement a lender had signed, as the lender prints it
    (no use row: it is no lender's use)."""
    found = household_statement(household, code)
    check_url = request.build_absolute_uri(reverse("statement_check", args=[found.statement.code]))
    response = render(
        request, "credit/statement_print.html", print_context(found, check_url=check_url)
    )
    response["Cache-Control"] = "no-store"
    return response


def _chosen(form: Any) -> list[str]:
    return [f for f in form.getlist("fields") if isinstance(f, str)][:10]


@resident_required
@require_http_methods(["GET", "POST"])
def credit_new(request: HttpRequest, household: Household) -> HttpResponse:
    """Step 1 (GET, or POST ``step=terms``): lender, period, lines. Step 2 (``step=confirm``):
    the wording and the PIN. Step 3 (``step=grant``): the grant, then the 授权码."""
    lenders = list(active_lenders(scheme_id=household.scheme_id))
    form: Any = request.POST if request.method == "POST" else {}
    step = form.get("step", "") if form else ""
    errors: dict[str, str] = {}
    status = 200
    context: dict[str, Any] = {
        "h": household,
        "lenders": lenders,
        "months": MONTHS,
        "pii": [(f, PII_LABELS[f]) for f in PII_FIELDS],
        "form": form,
        "chosen": _chosen(form) if form else [],
    }
    if step in ("confirm", "grant"):
        try:
            terms = consent_terms(
                household=household,
                lender_id=form.get("lender"),
                months=form.get("months"),
                fields=_chosen(form),
            )
        except ApplicationError as exc:
            context.update(errors=field_errors(exc))
            return render(request, "portal/credit_new.html", context, status=exc.status)
        context.update(terms=terms, fields_words=fields_in_words(list(terms.fields)))
        if step == "confirm":
            context["key"] = KEYS.new()
            return render(request, "portal/credit_confirm.html", context)
        raw_key = form.get("key", "")[:100]
        try:
            consent = consent_grant(
                household=household,
                terms=terms,
                pin=form.get("pin", "")[:12],
                channel=ConsentChannel.PHONE,
                form_key=KEYS.check(raw_key),
            )
        except ApplicationError as exc:
            errors = {"pin": exc.message} if exc.code in PIN_CODES else field_errors(exc)
            status = exc.status
            context.update(errors=errors, key=KEYS.after(raw_key, exc))
            return render(request, "portal/credit_confirm.html", context, status=status)
        return redirect("portal:credit_granted", ref=consent.ref)
    return render(request, "portal/credit_new.html", context, status=status)


@resident_required
@require_GET
def credit_granted(request: HttpRequest, household: Household, ref: str) -> HttpResponse:
    consent = household_consent(household, ref)
    return render(
        request,
        "portal/credit_granted.html",
        {
            "h": household,
            "c": consent,
            "ref": ref_display(consent.ref),
            "qr": ref_qr_svg(consent.ref),
            "fields": fields_in_words(consent.fields),
        },
    )


@resident_required
@require_http_methods(["GET", "POST"])
def credit_revoke(request: HttpRequest, household: Household, ref: str) -> HttpResponse:
    """A confirmation page, then the revoke: immediate, no PIN (as easy as the grant)."""
    try:
        consent: Consent = household_consent(household, ref)
    except NotFound:
        if request.method == "POST":  # revoked a moment ago (a double tap): say so, calmly
            messages.info(request, _("这项授权已经撤销或已到期"))
            return redirect("portal:credit")
        raise
    if request.method == "POST":
        consent_revoke(household=household, ref=consent.ref, channel=ConsentChannel.PHONE)
        messages.success(
            request,
            _("已撤销对「%(lender)s」的授权，对方不能再查看您家的积分记录")
            % {"lender": consent.lender.name},
        )
        return redirect("portal:credit")
    return render(
        request,
        "portal/credit_revoke.html",
        {
            "h": household,
            "c": consent,
            "ref": ref_display(consent.ref),
            "fields": fields_in_words(consent.fields),
        },
    )
