"""Residents getting in on the phone: card + PIN, or phone + SMS code (choosing the household
when the phone is on file in several), logging out, and changing the PIN.

Thin: every check, count and write is in ``households`` (services, sms_login, pins). Errors
are shown at their field; the page never says whether a phone number is on file.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.errors import ApplicationError
from civicpoints.faces.errors import field_errors
from civicpoints.households.models import Household, mask_phone
from civicpoints.households.pins import household_pin_change
from civicpoints.households.services import household_pin_login
from civicpoints.households.sms_login import (
    CODE_TTL,
    households_for_phone,
    sms_code_check,
    sms_code_request,
)
from civicpoints.portal.views import (
    EPOCH_KEY,
    RETURN_KEY,
    SESSION_KEY,
    resident_required,
    return_path,
)

SMS_PHONE_KEY = "resident_sms_phone"
CHOICE_KEY = "resident_sms_choice"


def _sign_in(request: HttpRequest, household: Household) -> HttpResponse:
    request.session.cycle_key()
    request.session.pop(SMS_PHONE_KEY, None)
    request.session.pop(CHOICE_KEY, None)
    back = return_path(request.POST.get("next")) or return_path(request.session.pop(RETURN_KEY, ""))
    request.session[SESSION_KEY] = household.pk
    request.session[EPOCH_KEY] = household.login_epoch
    return redirect(back or "portal:home")


def _login_page(
    request: HttpRequest, errors: dict[str, str] | None = None, status: int = 200, **extra: Any
) -> HttpResponse:
    back = return_path(request.POST.get("next") or request.GET.get("next"))
    context = {"errors": errors or {}, "card": "", "phone": "", "next": back, **extra}
    return render(request, "portal/login.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Card + PIN (this form) or phone + SMS code (the form beside it posts to sms_send)."""
    if request.method == "POST":
        card = request.POST.get("card", "")[:32]
        try:
            household = household_pin_login(card_code=card, pin=request.POST.get("pin", "")[:12])
        except ApplicationError as exc:
            return _login_page(request, {"pin": exc.message}, exc.status, card=card)
        return _sign_in(request, household)
    return _login_page(request)


@never_cache
@require_POST
def sms_send(request: HttpRequest) -> HttpResponse:
    """Ask for a code; every number gets the same answer (on file or not)."""
    raw = request.POST.get("phone", "")[:32]
    if request.POST.get("again"):  # "send again" on the code page: the number it was sent to
        raw = request.session.get(SMS_PHONE_KEY, "")
    try:
        phone = sms_code_request(phone=raw)
    except ApplicationError as exc:
        if request.POST.get("again") and request.session.get(SMS_PHONE_KEY):
            return _code_page(request, {"again": exc.message}, exc.status)
        return _login_page(request, field_errors(exc, "phone"), exc.status, phone=raw)
    request.session[SMS_PHONE_KEY] = phone
    if return_path(request.POST.get("next")):
        request.session[RETURN_KEY] = request.POST["next"]
    return redirect("portal:login_sms")


def _code_page(
    request: HttpRequest, errors: dict[str, str] | None = None, status: int = 200
) -> HttpResponse:
    phone = request.session.get(SMS_PHONE_KEY, "")
    return render(
        request,
        "portal/login_sms.html",
        {
            "errors": errors or {},
            "masked": mask_phone(phone),
            "minutes": int(CODE_TTL.total_seconds() // 60),
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def sms_login(request: HttpRequest) -> HttpResponse:
    """Type the code; a phone on file in several households goes on to choose one."""
    phone = request.session.get(SMS_PHONE_KEY)
    if not phone:
        return redirect("portal:login")
    if request.method == "GET":
        return _code_page(request)
    try:
        result = sms_code_check(phone=phone, code=request.POST.get("code", "")[:12])
    except ApplicationError as exc:
        return _code_page(request, field_errors(exc, "code"), exc.status)
    if result.chosen is not None:
        return _sign_in(request, result.chosen)
    request.session[CHOICE_KEY] = {
        "ids": [h.pk for h in result.households],
        "until": time.time() + CODE_TTL.total_seconds(),
    }
    return redirect("portal:login_choose")


@never_cache
@require_http_methods(["GET", "POST"])
def login_choose(request: HttpRequest) -> HttpResponse:
    """After a right code for a phone on file in several households: which one to enter."""
    choice = request.session.get(CHOICE_KEY) or {}
    phone = request.session.get(SMS_PHONE_KEY, "")
    if not choice or choice.get("until", 0) < time.time() or not phone:
        request.session.pop(CHOICE_KEY, None)
        messages.error(request, _("请重新获取验证码登录"))
        return redirect("portal:login")
    households = list(households_for_phone(phone).filter(pk__in=choice["ids"]))
    if request.method == "POST":
        chosen = next((h for h in households if str(h.pk) == request.POST.get("household")), None)
        if chosen is not None:
            return _sign_in(request, chosen)
        return render(
            request,
            "portal/login_choose.html",
            {"households": households, "error": _("请选择要登录的一户")},
            status=422,
        )
    return render(request, "portal/login_choose.html", {"households": households})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    request.session.pop(EPOCH_KEY, None)
    return redirect("portal:login")


@never_cache
@require_http_methods(["GET", "POST"])
@resident_required
def pin_change(request: HttpRequest, household: Household) -> HttpResponse:
    """Change the PIN (old PIN, new PIN twice); a household without a PIN sets its first."""
    has_pin = bool(household.pin_hash)
    if request.method == "POST":
        try:
            household_pin_change(
                household=household,
                old_pin=request.POST.get("old_pin", "")[:12],
                new_pin=request.POST.get("new_pin", "")[:12],
                again=request.POST.get("again", "")[:12],
            )
        except ApplicationError as exc:
            return render(
                request,
                "portal/pin_change.html",
                {"h": household, "has_pin": has_pin, "errors": field_errors(exc, "new_pin")},
                status=exc.status,
            )
        # This phone stays signed in; every other phone was signed out by the new epoch.
        request.session[EPOCH_KEY] = household.login_epoch
        messages.success(request, _("密码已修改，下次登录请用新密码"))
        return redirect("portal:home")
    return render(request, "portal/pin_change.html", {"h": household, "has_pin": has_pin})
