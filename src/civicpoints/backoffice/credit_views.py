"""County pages for 文明积分贷: the lenders the county registers, their status and API keys.

County admins over the whole scheme act; auditors read; everyone else gets 404 (and no menu
entry). A new key is shown once, on a page that is never stored. Thin: every write is in
``credit.lenders``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.credit.consents import (
    MONTHS,
    PII_FIELDS,
    PII_LABELS,
    consent_grant,
    consent_revoke,
    consent_terms,
    fields_in_words,
    household_consent,
    live_consents,
    ref_display,
)
from civicpoints.credit.lenders import (
    active_lenders,
    lender_create,
    lender_for,
    lender_key_issue,
    lender_key_revoke,
    lender_keys,
    lender_schemes,
    lender_set_status,
    lenders_of,
    manages_lenders,
)
from civicpoints.credit.models import ConsentChannel, LenderStatus
from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.faces.errors import field_errors, refusals_return_to
from civicpoints.faces.forms import FormKeys
from civicpoints.households.pins import household_access_for
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor, actor_for_user, parse_id


def _scheme(request: HttpRequest, actor: Actor) -> Scheme:
    """``?scheme=`` among the schemes whose lenders this person reads; 404 for none."""
    schemes = lender_schemes(actor)
    if not schemes:
        raise NotFound("scheme")
    wanted = parse_id(request.GET.get("scheme") or request.POST.get("scheme"))
    return next((s for s in schemes if s.pk == wanted), schemes[0])


def _list_url(scheme: Scheme) -> str:
    return f"{reverse('backoffice:credit_lenders')}?scheme={scheme.pk}"


def _lender_url(scheme: Scheme, lender_id: int) -> str:
    return f"{reverse('backoffice:credit_lender', args=[lender_id])}?scheme={scheme.pk}"


@login_required
@require_GET
def lender_list(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = _scheme(request, actor)
    return render(
        request,
        "backoffice/credit_lenders.html",
        {
            "scheme": scheme,
            "lenders": lenders_of(actor, scheme),
            "manages": manages_lenders(actor, scheme),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def lender_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = _scheme(request, actor)
    if not manages_lenders(actor, scheme):
        raise NotFound("scheme")
    form: Any = request.POST if request.method == "POST" else {}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            lender = lender_create(
                actor=actor,
                scheme=scheme,
                name=form.get("name", "")[:200],
                code=form.get("code", "")[:40],
                contact_name=form.get("contact_name", "")[:80],
                contact_phone=form.get("contact_phone", "")[:40],
            )
        except ApplicationError as exc:
            errors, status = field_errors(exc), exc.status
        else:
            messages.success(request, _("已登记：%(name)s") % {"name": lender.name})
            return redirect(_lender_url(scheme, lender.pk))
    return render(
        request,
        "backoffice/credit_lender_new.html",
        {"scheme": scheme, "form": form, "errors": errors},
        status=status,
    )


@login_required
@require_GET
def lender_detail(request: HttpRequest, lender_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = _scheme(request, actor)
    lender = lender_for(actor, lender_id, scheme=scheme)
    return render(
        request,
        "backoffice/credit_lender.html",
        {
            "scheme": scheme,
            "lender": lender,
            "keys": lender_keys(lender),
            "manages": manages_lenders(actor, scheme),
            "statuses": LenderStatus.choices,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def lender_status(request: HttpRequest, lender_id: int) -> HttpResponse:
    """Suspend or resume, with a reason; asked once more first."""
    actor = actor_for_user(request.user)
    scheme = _scheme(request, actor)
    lender = lender_for(actor, lender_id, scheme=scheme)
    if not manages_lenders(actor, scheme):
        raise NotFound("lender")
    back = refusals_return_to(request, _lender_url(scheme, lender.pk))
    status = request.POST.get("status", "")
    reason = request.POST.get("reason", "")[:400]
    if not confirmed(request) and status in LenderStatus.values and reason.strip():
        label = LenderStatus(status).label
        lines = [
            _("%(name)s：%(old)s → %(new)s")
            % {"name": lender.name, "old": lender.get_status_display(), "new": label},
            _("原因：%(reason)s") % {"reason": reason},
        ]
        if status == LenderStatus.SUSPENDED:
            lines.append(_("暂停后该机构的接口密钥全部失效，农户也不能再选择它；已有的授权保留。"))
        return confirm_page(
            request,
            title=_("确认更改机构状态"),
            lines=lines,
            button=_("确认%(status)s") % {"status": label},
            back=back,
            danger=status == LenderStatus.SUSPENDED,
        )
    lender_set_status(actor=actor, lender=lender, status=status, reason=reason)
    messages.success(
        request,
        _("%(name)s 已改为：%(status)s")
        % {"name": lender.name, "status": LenderStatus(status).label},
    )
    return redirect(back)


@never_cache
@login_required
@require_POST
def lender_key_new(request: HttpRequest, lender_id: int) -> HttpResponse:
    """Issue a key and show it this once (never stored by the browser or a proxy)."""
    actor = actor_for_user(request.user)
    scheme = _scheme(request, actor)
    lender = lender_for(actor, lender_id, scheme=scheme)
    if not manages_lenders(actor, scheme):
        raise NotFound("lender")
    refusals_return_to(request, _lender_url(scheme, lender.pk))
    raw, key = lender_key_issue(actor=actor, lender=lender)
    return render(
        request,
        "backoffice/credit_key_shown.html",
        {"scheme": scheme, "lender": lender, "raw": raw, "key": key},
    )


@login_required
@require_POST
def lender_key_revoke_view(request: HttpRequest, lender_id: int, key_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    scheme = _scheme(request, actor)
    lender = lender_for(actor, lender_id, scheme=scheme)
    if not manages_lenders(actor, scheme):
        raise NotFound("lender")
    key = next((k for k in lender_keys(lender) if k.pk == key_id), None)
    if key is None:
        raise NotFound("lender_key")
    back = refusals_return_to(request, _lender_url(scheme, lender.pk))
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("确认注销接口密钥"),
            lines=[
                _("%(name)s 的密钥 %(prefix)s…") % {"name": lender.name, "prefix": key.prefix},
                _("注销后用这个密钥的请求立即被拒绝，不能恢复；需要时可以再签发新密钥。"),
            ],
            button=_("确认注销"),
            back=back,
            danger=True,
        )
    lender_key_revoke(actor=actor, lender=lender, key_id=key.pk)
    messages.success(request, _("密钥 %(prefix)s… 已注销") % {"prefix": key.prefix})
    return redirect(back)


# --- consent at the village office ---------------------------------------------------------

OFFICE_KEYS = FormKeys(prefix="credit-office-", expired=gettext_lazy("页面已过期，请重新填写授权"))
PIN_CODES = {ErrorCode.PIN_REQUIRED, ErrorCode.PIN_INCORRECT, ErrorCode.LOCKED_OUT}


def _household_url(household_id: int) -> str:
    return reverse("backoffice:credit_household", args=[household_id])


@login_required
@require_http_methods(["GET", "POST"])
def household_credit(request: HttpRequest, household_id: int) -> HttpResponse:
    """The household's consents, and a new one with the head typing the PIN on this device
    (no assisted mode: a consent without the household's PIN is no consent). Admins over the
    village only (404 for others)."""
    actor = actor_for_user(request.user)
    household = household_access_for(actor, household_id)
    form: Any = request.POST if request.method == "POST" else {}
    step = form.get("step", "") if form else ""
    context: dict[str, Any] = {
        "h": household,
        "consents": [
            {"c": c, "ref": ref_display(c.ref), "fields": fields_in_words(c.fields)}
            for c in live_consents(household)
        ],
        "lenders": list(active_lenders(scheme_id=household.scheme_id)),
        "months": MONTHS,
        "pii": [(f, PII_LABELS[f]) for f in PII_FIELDS],
        "form": form,
        "chosen": [f for f in form.getlist("fields")][:10] if form else [],
        "errors": {},
    }
    if step not in ("confirm", "grant"):
        return render(request, "backoffice/credit_household.html", context)
    try:
        terms = consent_terms(
            household=household,
            lender_id=form.get("lender"),
            months=form.get("months"),
            fields=context["chosen"],
        )
    except ApplicationError as exc:
        context["errors"] = field_errors(exc)
        return render(request, "backoffice/credit_household.html", context, status=exc.status)
    context.update(terms=terms)
    if step == "confirm":
        context["key"] = OFFICE_KEYS.new()
        return render(request, "backoffice/credit_household_confirm.html", context)
    raw_key = form.get("key", "")[:100]
    try:
        consent = consent_grant(
            household=household,
            terms=terms,
            pin=form.get("pin", "")[:12],
            channel=ConsentChannel.OFFICE,
            form_key=OFFICE_KEYS.check(raw_key),
            actor_id=actor.user_id,
        )
    except ApplicationError as exc:
        errors = {"pin": exc.message} if exc.code in PIN_CODES else field_errors(exc)
        context.update(errors=errors, key=OFFICE_KEYS.after(raw_key, exc))
        return render(
            request, "backoffice/credit_household_confirm.html", context, status=exc.status
        )
    messages.success(
        request,
        _("已授权「%(lender)s」，授权码 %(ref)s")
        % {"lender": consent.lender.name, "ref": ref_display(consent.ref)},
    )
    return redirect(_household_url(household.pk))


@login_required
@require_POST
def household_credit_revoke(request: HttpRequest, household_id: int, ref: str) -> HttpResponse:
    """Revoke on the household's word: a reason, no PIN; asked once more first."""
    actor = actor_for_user(request.user)
    household = household_access_for(actor, household_id)
    consent = household_consent(household, ref)
    back = refusals_return_to(request, _household_url(household.pk))
    reason = request.POST.get("reason", "")[:400]
    if not confirmed(request) and reason.strip():
        return confirm_page(
            request,
            title=_("确认撤销授权"),
            lines=[
                _("%(name)s 户对「%(lender)s」的授权（授权码 %(ref)s）")
                % {
                    "name": household.head_name,
                    "lender": consent.lender.name,
                    "ref": ref_display(consent.ref),
                },
                _("原因：%(reason)s") % {"reason": reason},
                _("撤销后对方马上不能再查看，不能恢复；农户会收到短信。"),
            ],
            button=_("确认撤销"),
            back=back,
            danger=True,
        )
    consent_revoke(
        household=household,
        ref=consent.ref,
        channel=ConsentChannel.OFFICE,
        actor_id=actor.user_id,
        reason=reason,
    )
    messages.success(request, _("已撤销对「%(lender)s」的授权") % {"lender": consent.lender.name})
    return redirect(back)
