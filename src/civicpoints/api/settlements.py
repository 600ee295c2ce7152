"""T+1 settlement over HTTP: run a business day, the statements (with the overdue flag), mark
one paid with the bank's reference, the bank's payout file and the reconciliation report.

Running a day again and marking a statement paid again are refused or change nothing by
design (each payment and refund lands in exactly one statement; a paid statement cannot be
paid twice), so none of these calls takes an Idempotency-Key. The payout file carries full
bank account numbers: county admins only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from civicpoints.api.schemas import Day, ErrorOut, QueryId, Trimmed, file_response, points_out
from civicpoints.errors import PermissionDenied
from civicpoints.merchants.models import Statement, StatementStatus
from civicpoints.merchants.selectors import statement_for, statements_visible
from civicpoints.merchants.settlement import (
    overdue,
    payout_csv,
    payout_rows,
    payout_xlsx,
    reconcile,
    settle,
    statement_mark_paid,
)
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import Actor
from civicpoints.schemes.selectors import schemes_governed

router = Router(tags=["settlements"])
ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
RECONCILERS = (Role.COUNTY_ADMIN, Role.AUDITOR)


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined,no-any-return]


def _governed(request: HttpRequest, roles: tuple[str, ...], action: str) -> list[Scheme]:
    """The schemes the caller governs as a whole (settlement is scheme-wide), or 403."""
    schemes = schemes_governed(_actor(request), roles=roles)
    if not schemes:
        raise PermissionDenied(action)
    return schemes


class RunIn(Schema):
    date: Day = Field(description="营业日（北京时间 00:00-24:00），须已结束")


class RunOut(Schema):
    date: dt.date
    created: int = Field(description="本次新生成的结算单数（重复运行为 0）")
    statements: int = Field(description="该营业日的结算单总数")
    carried_forward: list[int] = Field(description="退款多于收款、顺延到下一日的商家")


@router.post("/run", response={200: RunOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
def run(request: HttpRequest, body: RunIn) -> dict[str, Any]:
    """Settle a business day for every merchant (county admins). Running it again changes
    nothing: each payment and refund lands in exactly one statement."""
    actor = _actor(request)
    schemes = _governed(request, (Role.COUNTY_ADMIN,), "settlement.run")
    created = 0
    carried: list[int] = []
    for scheme in schemes:
        result = settle(scheme=scheme, day=body.date, actor_id=actor.user_id)
        created += len(result.statements)
        carried += result.carried
    total = statements_visible(actor).filter(scheme__in=schemes, business_date=body.date).count()
    return {"date": body.date, "created": created, "statements": total, "carried_forward": carried}


class StatementOut(Schema):
    id: int
    reference: str
    merchant: int
    merchant_name: str
    business_date: dt.date
    payment_count: int
    refund_count: int
    gross: float = Field(description="收款积分")
    refunds: float = Field(description="退款积分")
    net: float = Field(description="净额积分")
    yuan_per_point: float
    yuan: float = Field(description="应付金额（元）")
    status: str
    overdue: bool = Field(description="生成后超过24小时仍未付款")
    bank_reference: str
    paid_at: dt.datetime | None
    created_at: dt.datetime


def statement_out(s: Statement, *, is_overdue: bool) -> dict[str, Any]:
    return {
        "id": s.pk,
        "reference": s.reference,
        "merchant": s.merchant_id,
        "merchant_name": s.merchant.shop_name,
        "business_date": s.business_date,
        "payment_count": s.payment_count,
        "refund_count": s.refund_count,
        "gross": points_out(s.gross),
        "refunds": points_out(s.refunds_total),
        "net": points_out(s.net),
        "yuan_per_point": float(s.yuan_per_point),
        "yuan": points_out(s.amount_fen),
        "status": s.status,
        "overdue": is_overdue,
        "bank_reference": s.bank_reference,
        "paid_at": s.paid_at,
        "created_at": s.created_at,
    }


class StatementListIn(Schema):
    date: Day | None = Field(default=None, description="营业日（缺省：全部）")
    status: StatementStatus | None = None
    overdue: bool | None = Field(default=None, description="只看逾期未付")
    merchant: QueryId | None = None
    limit: int = Field(default=200, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10**7)


@router.get("", response={200: list[StatementOut], 422: ErrorOut})
def statements(request: HttpRequest, params: Query[StatementListIn]) -> list[dict[str, Any]]:
    """Statements the caller may see: a merchant's clerks their own, county staff all."""
    rows = statements_visible(_actor(request))
    if params.date:
        rows = rows.filter(business_date=params.date)
    if params.status:
        rows = rows.filter(status=params.status)
    if params.merchant:
        rows = rows.filter(merchant_id=params.merchant)
    late = overdue(rows)
    if params.overdue is not None:
        rows = rows.filter(pk__in=late) if params.overdue else rows.exclude(pk__in=late)
    page = list(
        rows.order_by("-business_date", "merchant_id")[params.offset : params.offset + params.limit]
    )
    late_ids = set(late.filter(pk__in=[s.pk for s in page]).values_list("pk", flat=True))
    return [statement_out(s, is_overdue=s.pk in late_ids) for s in page]


class PayoutIn(Schema):
    date: Day | None = Field(default=None, description="营业日（缺省：所有待付款）")
    format: Literal["csv", "xlsx"] = "csv"


PAYOUT_TYPES = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.get(
    "/payouts",
    response={403: ErrorOut, 422: ErrorOut},
    openapi_extra=file_response(PAYOUT_TYPES, description="银行批量代付文件（CSV 或 xlsx）"),
)
def payouts(request: HttpRequest, params: Query[PayoutIn]) -> HttpResponse:
    """The bank's batch payment file for unpaid statements, with full account numbers:
    county admins only. CSV in utf-8-sig, or xlsx with account numbers as text."""
    schemes = _governed(request, (Role.COUNTY_ADMIN,), "settlement.payouts")
    rows = statements_visible(_actor(request)).filter(scheme__in=schemes)
    if params.date:
        rows = rows.filter(business_date=params.date)
    lines = payout_rows(rows)
    name = f"payouts-{params.date.isoformat() if params.date else 'unpaid'}.{params.format}"
    if params.format == "xlsx":
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response = HttpResponse(payout_xlsx(lines), content_type=content_type)
    else:
        response = HttpResponse(payout_csv(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


class ReconcileIn(Schema):
    date: Day


class CheckOut(Schema):
    name: str
    expected: float
    actual: float
    difference: float


class ReconcileOut(Schema):
    scheme: int
    date: dt.date
    ok: bool
    checks: list[CheckOut] = Field(description="积分（金额一项为元）；差额应全部为 0")


@router.get("/reconciliation", response={200: list[ReconcileOut], 403: ErrorOut, 422: ErrorOut})
def reconciliation(request: HttpRequest, params: Query[ReconcileIn]) -> list[dict[str, Any]]:
    """Ledger vs statements vs payouts for one day (county admins and auditors)."""
    out = []
    for scheme in _governed(request, RECONCILERS, "settlement.reconcile"):
        checks = reconcile(scheme=scheme, day=params.date)
        out.append(
            {
                "scheme": scheme.pk,
                "date": params.date,
                "ok": all(c.difference == 0 for c in checks),
                "checks": [
                    {
                        "name": c.name,
                        "expected": points_out(c.expected),
                        "actual": points_out(c.actual),
                        "difference": points_out(c.difference),
                    }
                    for c in checks
                ],
            }
        )
    return out


class PaidIn(Schema):
    bank_reference: Trimmed = Field(min_length=1, max_length=100)


@router.post("/{statement_id}/paid", response={200: StatementOut, **ERRORS})
def paid(request: HttpRequest, statement_id: str, body: PaidIn) -> dict[str, Any]:
    """The bank has paid (county admins): the reference is recorded and the payout posted.
    Marking it again is refused (409 statement_already_paid), so a retry cannot pay twice."""
    actor = _actor(request)
    statement = statement_mark_paid(
        actor=actor,
        statement=statement_for(actor, statement_id),
        bank_reference=body.bank_reference,
    )
    return statement_out(statement_for(actor, statement.pk), is_overdue=False)
