"""Signed merchants (签约商家): signing, residents' payment codes, payments and refunds.
Thin: parse, check scope, call one service, render (settlement is in ``api.settlements``).

Payments and refunds move points, so they need an Idempotency-Key; scope (a clerk sees only
their own shop: another shop is a 404) and role are checked before the key is taken. Bank
account numbers are masked in every response; only the payout file (``api.settlements``),
which only county admins may download, carries them in full.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from civicpoints.api.idempotency import IdempotencyKey, keyed_body, run_keyed
from civicpoints.api.schemas import Day, ErrorOut, Id, Points, Trimmed, points_out
from civicpoints.api.stores.common import StaffRef, named_staff
from civicpoints.errors import NotFound, PermissionDenied
from civicpoints.households.models import Household, mask_phone
from civicpoints.ledger.amounts import parse_points
from civicpoints.ledger.idempotency import Slot
from civicpoints.merchants.models import Merchant, Payment, Refund
from civicpoints.merchants.selectors import (
    merchant_for,
    merchants_visible,
    payment_for,
    payments_of,
    payments_on,
)
from civicpoints.merchants.services import (
    MERCHANT_MANAGERS,
    merchant_create,
    payment_code_issue,
    payment_take,
    refund_create,
    require_cashier,
)
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, parse_id
from civicpoints.schemes.selectors import region_for, scheme_for_region, staff_holding

router = Router(tags=["merchants"])
payment_codes_router = Router(tags=["merchants"])
ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
KEYED_ERRORS: dict[int, Any] = {400: ErrorOut, **ERRORS}


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined,no-any-return]


def mask_name(name: str) -> str:
    """张桂兰 -> *桂兰: enough for the cashier to confirm the payer, not to look them up."""
    return "*" + name[1:] if len(name) > 1 else name


# --- merchants -------------------------------------------------------------------------------


class MerchantOut(Schema):
    id: int
    legal_name: str
    shop_name: str
    contact_name: str
    contact_phone: str = Field(description="隐去中间四位")
    address: str
    bank_name: str
    account_name: str
    bank_account: str = Field(description="只显示后四位")
    regions: list[int]
    cashiers: list[str] = Field(description="收银员的用户名")
    status: str
    created_at: dt.datetime


def merchant_out(m: Merchant) -> dict[str, Any]:
    return {
        "id": m.pk,
        "legal_name": m.legal_name,
        "shop_name": m.shop_name,
        "contact_name": m.contact_name,
        "contact_phone": mask_phone(m.contact_phone),
        "address": m.address,
        "bank_name": m.bank_name,
        "account_name": m.account_name,
        "bank_account": m.masked_account,
        "regions": sorted(r.pk for r in m.regions.all()),
        "cashiers": sorted(u.username for u in m.clerks.all()),
        "status": m.status,
        "created_at": m.created_at,
    }


@router.get("", response={200: list[MerchantOut]})
def merchants(request: HttpRequest) -> list[dict[str, Any]]:
    """A clerk's own shop; county admins and auditors: every merchant of their scheme."""
    rows = merchants_visible(_actor(request)).prefetch_related("regions", "clerks").order_by("pk")
    return [merchant_out(m) for m in rows]


class MerchantIn(Schema):
    legal_name: Trimmed = Field(min_length=1, max_length=100)
    shop_name: Trimmed = Field(min_length=1, max_length=100)
    bank_name: Trimmed = Field(min_length=1, max_length=100)
    account_name: Trimmed = Field(min_length=1, max_length=100)
    bank_account: Trimmed = Field(min_length=1, max_length=40, description="8-30位数字")
    regions: list[Id] = Field(
        min_length=1, max_length=200, description="服务区域（其下居民可消费）"
    )
    contact_name: Trimmed = Field(default="", max_length=40)
    contact_phone: Trimmed = Field(default="", max_length=20)
    address: Trimmed = Field(default="", max_length=200)
    cashiers: list[StaffRef] = Field(
        default_factory=list, max_length=100, description="收银员：用户 id 或用户名（商家收银员）"
    )


@router.post("", response={201: MerchantOut, **ERRORS})
def create(request: HttpRequest, body: MerchantIn) -> Status:
    """Sign a merchant (county admins); the bank account is stored encrypted. Cashiers are
    named by id or username and must be merchant clerks in the caller's scope (else 422 at
    ``cashiers``, nothing written)."""
    actor = _actor(request)
    regions = [region_for(actor, pk) for pk in dict.fromkeys(body.regions)]
    scheme = scheme_for_region(actor, regions[0], prefer=MERCHANT_MANAGERS)
    cashier_ids = named_staff(
        body.cashiers,
        staff_holding(
            actor, role=Role.MERCHANT_CLERK, over_roles=MERCHANT_MANAGERS, scheme_id=scheme.pk
        ),
        field="cashiers",
        message=_("不是您管辖范围内的商家收银员：%(who)s"),
    )
    merchant = merchant_create(
        actor=actor,
        scheme_id=scheme.pk,
        legal_name=body.legal_name,
        shop_name=body.shop_name,
        bank_name=body.bank_name,
        account_name=body.account_name,
        bank_account=body.bank_account,
        regions=regions,
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
        address=body.address,
        clerk_ids=cashier_ids,
    )
    return Status(201, merchant_out(merchant_for(actor, merchant.pk)))


@router.get("/{merchant_id}", response={200: MerchantOut, 404: ErrorOut})
def detail(request: HttpRequest, merchant_id: str) -> dict[str, Any]:
    return merchant_out(merchant_for(_actor(request), merchant_id))


# --- payment codes ---------------------------------------------------------------------------


class PaymentCodeOut(Schema):
    code: str = Field(description="18位数字，一次有效")
    expires_at: dt.datetime
    qr_svg: str = Field(description="同一付款码的二维码（SVG）")


@payment_codes_router.post(
    "/{household_id}/payment-codes", response={201: PaymentCodeOut, 403: ErrorOut, 404: ErrorOut}
)
def payment_code(request: HttpRequest, household_id: str) -> JsonResponse:
    """A resident's single-use payment code, valid 60 seconds (resident token, own household)."""
    household: Household | None = getattr(request, "household", None)
    if household is None:
        raise PermissionDenied("payment_code.issue")
    if parse_id(household_id) != household.pk:
        raise NotFound("household")
    issued = payment_code_issue(household=household)
    qr = segno.make(issued.code, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    out = PaymentCodeOut(code=issued.code, expires_at=issued.expires_at, qr_svg=qr)
    response = JsonResponse(out.model_dump(mode="json"), status=201)
    response["Cache-Control"] = "no-store"
    return response


# --- payments and refunds --------------------------------------------------------------------


class PaymentIn(Schema):
    code: Trimmed | None = Field(
        default=None, min_length=1, max_length=40, description="付款码（扫码或手输18位数字）"
    )
    card: Trimmed | None = Field(
        default=None, min_length=1, max_length=32, description="积分卡卡号（须同时输入密码）"
    )
    # Only checked against the stored hash; never stored, never part of the request hash.
    pin: str | None = Field(default=None, min_length=1, max_length=12)
    points: Points


class PaymentOut(Schema):
    id: int
    merchant: int
    points: float
    refunded: float
    refundable: float
    via: str
    payer: str = Field(description="付款户户主（隐去姓）")
    created_at: dt.datetime
    statement: int | None


def payment_out(p: Payment) -> dict[str, Any]:
    return {
        "id": p.pk,
        "merchant": p.merchant_id,
        "points": points_out(p.points),
        "refunded": points_out(p.refunded),
        "refundable": points_out(p.refundable),
        "via": p.via,
        "payer": mask_name(p.household.head_name),
        "created_at": p.created_at,
        "statement": p.statement_id,
    }


def _cashier_merchant(request: HttpRequest, merchant_id: str) -> Merchant:
    """The caller's own shop (else 404), and the caller one of its cashiers (else 403)."""
    actor = _actor(request)
    merchant = merchant_for(actor, merchant_id)
    require_cashier(actor, merchant)
    return merchant


@router.post("/{merchant_id}/payments", response={201: PaymentOut, 429: ErrorOut, **KEYED_ERRORS})
def take_payment(
    request: HttpRequest, merchant_id: str, body: PaymentIn, idempotency_key: IdempotencyKey = None
) -> JsonResponse:
    """Take points from a payment code, or from a printed card with its PIN.

    Invalid codes and unknown cards are limited per cashier and per merchant (by default 10
    and 30 in 10 minutes): past the limit every payment of that till is refused with 429
    ``too_many_invalid_codes`` until the oldest failures are out of the window."""
    actor = _actor(request)
    merchant = _cashier_merchant(request, merchant_id)
    payload = body.model_dump(mode="json", exclude={"pin"})

    def act(key: str, slot: Slot) -> Payment:
        return payment_take(
            actor=actor,
            merchant=merchant,
            points=parse_points(body.points),
            code=body.code or "",
            card=body.card or "",
            pin=body.pin or "",
            idempotency_key=key,
            slot=slot,
        )

    def render(payment: Payment) -> tuple[int, dict[str, Any]]:
        fresh = payments_of(merchant).get(pk=payment.pk)
        return 201, keyed_body(PaymentOut, payment_out(fresh))

    return run_keyed(request, payload=payload, action=act, render=render)


class PaymentListIn(Schema):
    date: Day | None = Field(default=None, description="营业日（缺省：今天）")
    limit: int = Field(default=200, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get(
    "/{merchant_id}/payments", response={200: list[PaymentOut], 404: ErrorOut, 422: ErrorOut}
)
def payments(
    request: HttpRequest, merchant_id: str, params: Query[PaymentListIn]
) -> list[dict[str, Any]]:
    merchant = merchant_for(_actor(request), merchant_id)
    rows = payments_on(merchant, params.date or timezone.localdate())
    return [payment_out(p) for p in rows[params.offset : params.offset + params.limit]]


class RefundIn(Schema):
    points: Points
    reason: Trimmed = Field(default="", max_length=200)


class RefundOut(Schema):
    id: int
    payment: int
    points: float
    reason: str
    created_at: dt.datetime
    payment_refunded: float
    refundable: float


def refund_out(refund: Refund, payment: Payment) -> dict[str, Any]:
    return {
        "id": refund.pk,
        "payment": payment.pk,
        "points": points_out(refund.points),
        "reason": refund.reason,
        "created_at": refund.created_at,
        "payment_refunded": points_out(payment.refunded),
        "refundable": points_out(payment.refundable),
    }


@router.post(
    "/{merchant_id}/payments/{payment_id}/refunds", response={201: RefundOut, **KEYED_ERRORS}
)
def refund(
    request: HttpRequest,
    merchant_id: str,
    payment_id: str,
    body: RefundIn,
    idempotency_key: IdempotencyKey = None,
) -> JsonResponse:
    """Give back all or part of a payment, within the scheme's window, never more than paid."""
    actor = _actor(request)
    merchant = _cashier_merchant(request, merchant_id)
    payment = payment_for(merchant, payment_id)

    def act(key: str, slot: Slot) -> Refund:
        return refund_create(
            actor=actor,
            payment=payment,
            points=parse_points(body.points),
            reason=body.reason,
            idempotency_key=key,
            slot=slot,
        )

    def render(made: Refund) -> tuple[int, dict[str, Any]]:
        fresh = payment_for(merchant, payment.pk)
        return 201, keyed_body(RefundOut, refund_out(made, fresh))

    return run_keyed(request, payload=body.model_dump(mode="json"), action=act, render=render)
