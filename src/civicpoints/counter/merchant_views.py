"""The signed merchant's till: take points from a payment code (scanned or typed) or a card
with its PIN, print a 58 mm receipt, refund within the window, read the daily statements.

Thin: codes, windows, balances and limits are checked in ``merchants.services``. The pay and
refund forms carry an idempotency key made when they rendered: a double tap is one payment.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from civicpoints.counter.common import KEYS, error_text
from civicpoints.errors import ApplicationError, invalid
from civicpoints.faces.forms import typed_points
from civicpoints.ledger.amounts import format_points
from civicpoints.merchants.models import Merchant, Payment
from civicpoints.merchants.selectors import (
    merchant_for,
    merchant_statements,
    payment_for,
    payments_on,
)
from civicpoints.merchants.services import payment_take, refund_create, require_cashier
from civicpoints.schemes.scope import Actor, actor_for_user

STATEMENTS_SHOWN = 31


def _is_cashier(actor: Actor, merchant: Merchant) -> bool:
    try:
        require_cashier(actor, merchant)
    except ApplicationError:
        return False
    return True


def _till(
    request: HttpRequest,
    actor: Actor,
    merchant: Merchant,
    *,
    form: dict[str, Any] | None = None,
    error: ApplicationError | None = None,
) -> HttpResponse:
    payments = list(payments_on(merchant, timezone.localdate()))
    context = {
        "merchant": merchant,
        "can_take": _is_cashier(actor, merchant),
        "key": KEYS.after((form or {}).get("key"), error) if error else KEYS.new(),
        "form": form or {"mode": "code"},
        "payments": payments,
        "today_net": sum(p.points - p.refunded for p in payments),
        "statements": list(merchant_statements(merchant)[:STATEMENTS_SHOWN]),
        "error": error_text(error) if error else "",
        "error_code": str(error.code) if error else "",
    }
    return render(request, "counter/merchant.html", context, status=error.status if error else 200)


@never_cache
@login_required
def merchant_counter(request: HttpRequest, merchant_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    return _till(request, actor, merchant_for(actor, merchant_id))


@login_required
@require_POST
def merchant_pay(request: HttpRequest, merchant_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    merchant = merchant_for(actor, merchant_id)
    post = request.POST
    mode = "card" if post.get("mode") == "card" else "code"
    form = {
        "mode": mode,
        "points": post.get("points", "").strip()[:20],
        "card": post.get("card", "").strip()[:32] if mode == "card" else "",
        "key": post.get("key", "")[:100],
    }
    try:
        payment = payment_take(
            actor=actor,
            merchant=merchant,
            points=typed_points(form["points"], field="points"),
            code=post.get("code", "")[:40] if mode == "code" else "",
            card=form["card"],
            pin=post.get("pin", "").strip()[:12] if mode == "card" else "",
            idempotency_key=KEYS.check(form["key"]),
        )
    except ApplicationError as exc:
        return _till(request, actor, merchant, form=form, error=exc)
    return redirect("counter:merchant_receipt", merchant_id=merchant.pk, payment_id=payment.pk)


def _payment(actor: Actor, merchant_id: int, payment_id: int) -> tuple[Merchant, Payment]:
    merchant = merchant_for(actor, merchant_id)
    return merchant, payment_for(merchant, payment_id)


@never_cache
@login_required
def merchant_receipt(request: HttpRequest, merchant_id: int, payment_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    merchant, payment = _payment(actor, merchant_id, payment_id)
    return render(
        request,
        "counter/merchant_receipt.html",
        {
            "merchant": merchant,
            "p": payment,
            "refunds": list(payment.refunds.order_by("pk")),
            "can_take": _is_cashier(actor, merchant),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def merchant_refund(request: HttpRequest, merchant_id: int, payment_id: int) -> HttpResponse:
    """GET: the form; POST: a confirmation page; POST with confirm=1: the refund."""
    actor = actor_for_user(request.user)
    merchant, payment = _payment(actor, merchant_id, payment_id)
    require_cashier(actor, merchant)
    context: dict[str, Any] = {
        "merchant": merchant,
        "p": payment,
        "refundable": format_points(payment.refundable),
        "form": {"points": format_points(payment.refundable), "reason": "", "key": KEYS.new()},
    }
    if request.method == "GET":
        return render(request, "counter/merchant_refund.html", context)
    form = {
        "points": request.POST.get("points", "").strip()[:20],
        "reason": request.POST.get("reason", "").strip()[:200],
        "key": request.POST.get("key", "")[:100],
    }
    context["form"] = form
    try:
        points = typed_points(form["points"], field="points")
        key = KEYS.check(form["key"])
        if not form["reason"]:
            raise invalid(_("请填写退款原因"), field="reason")
        if request.POST.get("confirm") != "1":
            context["points"] = format_points(points)
            return render(request, "counter/merchant_refund_confirm.html", context)
        refund = refund_create(
            actor=actor, payment=payment, points=points, reason=form["reason"], idempotency_key=key
        )
    except ApplicationError as exc:
        context["error"] = error_text(exc)
        form["key"] = KEYS.after(form["key"], exc)
        return render(request, "counter/merchant_refund.html", context, status=exc.status)
    messages.success(request, _("已退款 %(points)s 分") % {"points": format_points(refund.points)})
    return redirect("counter:merchant_receipt", merchant_id=merchant.pk, payment_id=payment.pk)
