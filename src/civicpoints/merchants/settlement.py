"""T+1 settlement: daily statements, their postings, payout files, paying and reconciling.

``settle(scheme, D)`` is set-based: a handful of statements for the whole day, whatever the
number of payments (docs/merchants.md). It claims, for every merchant, the payments and refunds
not yet in any statement whose time is before the end of D (24:00 Asia/Shanghai). A payment or
refund that commits after D's run (its transaction was still open) is claimed by D+1's: each
row lands in exactly one statement. Re-running a day finds nothing left to claim.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import xlsxwriter
from django.db import transaction
from django.db.models import Count, Min, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.bulk import update_many
from civicpoints.calendar import day_bounds
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.exports import csv_writer, xlsx_row, xlsx_write
from civicpoints.ledger.models import Account, AccountKind, Entry, PostingKind
from civicpoints.ledger.services import Leg, Transfer, post, post_transfers, system_account
from civicpoints.merchants.models import (
    Merchant,
    Payment,
    Refund,
    Statement,
    StatementStatus,
)
from civicpoints.merchants.services import (
    bank_account_number,
    merchant_account,
    require_merchant_manager,
)
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor

OVERDUE_AFTER = dt.timedelta(hours=24)


def yuan_fen(net: int, rate: Decimal) -> int:
    """Hundredths of a point x yuan per point = fen, rounded half up."""
    return int((Decimal(net) * rate).to_integral_value(ROUND_HALF_UP))


@dataclass
class SettleResult:
    day: dt.date
    statements: list[int] = field(default_factory=list)
    carried: list[int] = field(default_factory=list)  # merchants whose net was negative

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "statements": len(self.statements),
            "carried_forward": self.carried,
        }


def settle(*, scheme: Scheme, day: dt.date, actor_id: int | None = None) -> SettleResult:
    """Settle business day ``day`` for every merchant of the scheme; safe to run again."""
    end = day_bounds(day)[1]
    if timezone.now() < end:
        raise ApplicationError(ErrorCode.DAY_NOT_OVER, detail={"date": day.isoformat()})
    result = SettleResult(day=day)
    with transaction.atomic():
        # One settlement run per scheme at a time (the scheduler and a staff click may race).
        # NO KEY: a plain FOR UPDATE conflicts with the FOR KEY SHARE every committing
        # payment or refund takes on its scheme row (foreign-key check), so they would stall
        # behind the run, and deadlock when the run waits for a payment row they hold.
        Scheme.objects.select_for_update(no_key=True).filter(pk=scheme.pk).first()
        done = set(
            Statement.objects.filter(scheme=scheme, business_date=day).values_list(
                "merchant_id", flat=True
            )
        )
        pending = set(_unclaimed(Payment, scheme, end).values_list("merchant_id", flat=True))
        pending |= set(_unclaimed(Refund, scheme, end).values_list("merchant_id", flat=True))
        merchant_ids = sorted(pending - done)
        if not merchant_ids:
            return result
        rate = scheme.yuan_per_point
        now = timezone.now()
        statements = Statement.objects.bulk_create(
            [
                Statement(
                    scheme=scheme,
                    merchant_id=m,
                    business_date=day,
                    yuan_per_point=rate,
                    status=StatementStatus.UNPAID,
                    created_at=now,
                )
                for m in merchant_ids
            ]
        )
        ids = [s.pk for s in statements]
        # Claim first, then count what was claimed: a row committed meanwhile is either in
        # both or in neither.
        for model in (Payment, Refund):
            mine = Statement.objects.filter(pk__in=ids, merchant_id=OuterRef("merchant_id")).values(
                "pk"
            )[:1]
            _unclaimed(model, scheme, end).filter(merchant_id__in=merchant_ids).update(
                statement_id=Subquery(mine)
            )
        totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for model, prefix in ((Payment, "pay"), (Refund, "ref")):
            rows = (
                model.objects.filter(statement_id__in=ids)
                .values("statement_id")
                .annotate(n=Count("pk"), s=Sum("points"))
            )
            for row in rows:
                totals[row["statement_id"]][f"{prefix}_n"] = row["n"]
                totals[row["statement_id"]][f"{prefix}_s"] = row["s"]
        carried: list[Statement] = []
        for s in statements:
            t = totals[s.pk]
            s.payment_count, s.gross = t["pay_n"], t["pay_s"]
            s.refund_count, s.refunds_total = t["ref_n"], t["ref_s"]
            s.net = s.gross - s.refunds_total
            s.amount_fen = yuan_fen(s.net, rate) if s.net > 0 else 0
            if s.net < 0:
                carried.append(s)
            elif s.net == 0:
                s.status = StatementStatus.NOTHING_DUE
        if carried:
            # More refunds than payments: nothing to pay; the rows wait for the next day.
            gone = [s.pk for s in carried]
            Payment.objects.filter(statement_id__in=gone).update(statement_id=None)
            Refund.objects.filter(statement_id__in=gone).update(statement_id=None)
            Statement.objects.filter(pk__in=gone).delete()
            result.carried = [s.merchant_id for s in carried]
        kept = [s for s in statements if s.net >= 0]
        due = [s for s in kept if s.net > 0]
        clearing = system_account(scheme_id=scheme.pk, kind=AccountKind.SETTLEMENT_CLEARING)
        merchants = {m.pk: m for m in Merchant.objects.filter(pk__in=[s.merchant_id for s in due])}
        payables = {
            a.owner_ref: a
            for a in Account.objects.filter(
                scheme=scheme,
                kind=AccountKind.MERCHANT_PAYABLE,
                owner_ref__in=[f"merchant:{s.merchant_id}" for s in due],
            )
        }
        posting_ids = post_transfers(
            scheme_id=scheme.pk,
            kind=PostingKind.SETTLEMENT,
            actor_id=actor_id,
            transfers=[
                Transfer(
                    source=payables.get(f"merchant:{s.merchant_id}")
                    or merchant_account(merchants[s.merchant_id]),
                    target=clearing,
                    amount=s.net,
                    idempotency_key=f"settle:{s.pk}",
                    memo=f"{day:%Y-%m-%d} 结算 {merchants[s.merchant_id].shop_name}",
                    ref=("statement", s.pk),
                )
                for s in due
            ],
        )
        for s, posting_id in zip(due, posting_ids, strict=True):
            s.posting_id = posting_id
        # One UPDATE ... FROM (VALUES ...) for all statements (Django's bulk_update was most
        # of a settlement's time: docs/performance.md).
        update_many(
            Statement,
            kept,
            [
                "payment_count",
                "gross",
                "refund_count",
                "refunds_total",
                "net",
                "amount_fen",
                "status",
                "posting",
            ],
        )
        result.statements = [s.pk for s in kept]
        if not kept:
            return result
        audit_record(
            actor_id=actor_id,
            scheme_id=scheme.pk,
            action=AuditAction.SETTLEMENT_RUN,
            detail={"date": day.isoformat(), **result.as_dict()},
        )
    return result


def _unclaimed(model: type[Payment] | type[Refund], scheme: Scheme, end: dt.datetime) -> QuerySet:
    return model.objects.filter(scheme=scheme, statement__isnull=True, created_at__lt=end)


# Days this process has already settled, per scheme: the scheduler runs every few seconds and
# need not look again until the next midnight (a re-run would change nothing anyway).
_settled_through: dict[int, dt.date] = {}


def settle_due(*, now: dt.datetime | None = None) -> int:
    """Settle every finished day that still has unclaimed rows, oldest first (the scheduler).

    After downtime each missed day gets its own statements, in order.
    """
    now = now or timezone.now()
    yesterday = timezone.localdate(now) - dt.timedelta(days=1)
    made = 0
    for scheme in Scheme.objects.all():
        if _settled_through.get(scheme.pk) == yesterday:
            continue
        oldest = [
            model.objects.filter(scheme=scheme, statement__isnull=True).aggregate(
                t=Min("created_at")
            )["t"]
            for model in (Payment, Refund)
        ]
        found = [t for t in oldest if t is not None]
        day = timezone.localdate(min(found)) if found else yesterday + dt.timedelta(days=1)
        while day <= yesterday:
            made += len(settle(scheme=scheme, day=day).statements)
            day += dt.timedelta(days=1)
        _settled_through[scheme.pk] = yesterday
    return made


def statement_mark_paid(*, actor: Actor, statement: Statement, bank_reference: str) -> Statement:
    """The bank has paid: record its reference; points move settlement_clearing -> funds."""
    require_merchant_manager(actor, statement.merchant, "settlement.pay")
    reference = (bank_reference or "").strip()
    if not reference:
        raise invalid(_("请填写银行付款流水号"), field="bank_reference")
    if statement.status == StatementStatus.NOTHING_DUE:
        raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("该结算单无需付款"))
    with transaction.atomic():
        now = timezone.now()
        marked = Statement.objects.filter(pk=statement.pk, status=StatementStatus.UNPAID).update(
            status=StatementStatus.PAID,
            bank_reference=reference[:100],
            paid_at=now,
            paid_by_id=actor.user_id,
        )
        if marked != 1:
            raise ApplicationError(ErrorCode.ALREADY_PAID)
        scheme_id = statement.scheme_id
        posting = post(
            scheme_id=scheme_id,
            kind=PostingKind.PAYOUT,
            legs=[
                Leg(
                    system_account(scheme_id=scheme_id, kind=AccountKind.SETTLEMENT_CLEARING),
                    -statement.net,
                ),
                Leg(system_account(scheme_id=scheme_id, kind=AccountKind.FUNDS), statement.net),
            ],
            actor_id=actor.user_id,
            memo=f"付款 {statement.reference} 银行流水 {reference[:60]}",
            idempotency_key=f"payout:{statement.pk}",
            ref=("statement", statement.pk),
        )
        Statement.objects.filter(pk=statement.pk).update(payout_posting=posting)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme_id,
            action=AuditAction.SETTLEMENT_PAID,
            obj=statement,
            detail={"bank_reference": reference, "amount_fen": statement.amount_fen},
        )
    statement.refresh_from_db()
    return statement


def overdue(
    queryset: QuerySet[Statement], *, now: dt.datetime | None = None
) -> QuerySet[Statement]:
    """Statements still unpaid 24 hours after they were made."""
    now = now or timezone.now()
    return queryset.filter(status=StatementStatus.UNPAID, created_at__lt=now - OVERDUE_AFTER)


# --- payout files ----------------------------------------------------------------------------

PAYOUT_HEADERS = ["序号", "收款户名", "收款账号", "开户行", "金额(元)", "用途", "参考号"]


@dataclass(frozen=True)
class PayoutRow:
    statement: Statement
    account_name: str
    account_number: str
    bank_name: str
    amount: Decimal  # yuan
    purpose: str

    def masked(self) -> str:
        return f"**** {self.account_number[-4:]}"


def payout_rows(statements: QuerySet[Statement]) -> list[PayoutRow]:
    """What the bank pays: every unpaid statement with something due."""
    rows = []
    for s in (
        statements.filter(status=StatementStatus.UNPAID, amount_fen__gt=0)
        .select_related("merchant")
        .order_by("business_date", "merchant_id")
    ):
        m = s.merchant
        rows.append(
            PayoutRow(
                statement=s,
                account_name=m.account_name,
                account_number=bank_account_number(m),
                bank_name=m.bank_name,
                amount=(Decimal(s.amount_fen) / 100).quantize(Decimal("0.01")),
                purpose=f"文明积分结算 {s.business_date:%Y-%m-%d}",
            )
        )
    return rows


def _cells(number: int, row: PayoutRow) -> list[Any]:
    return [
        number,
        row.account_name,
        row.account_number,
        row.bank_name,
        row.amount,
        row.purpose,
        row.statement.reference,
    ]


def payout_csv(rows: list[PayoutRow]) -> bytes:
    """CSV in utf-8-sig (Excel opens it with the Chinese intact); no cell runs as a formula."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(PAYOUT_HEADERS)
    for number, row in enumerate(rows, start=1):
        writer.writerow(_cells(number, row))
    return out.getvalue().encode("utf-8-sig")


def payout_xlsx(rows: list[PayoutRow]) -> bytes:
    """The same rows as .xlsx; account numbers as text so Excel keeps every digit."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("付款清单")
    text = book.add_format({"num_format": "@"})
    money = book.add_format({"num_format": "0.00"})
    xlsx_row(sheet, 0, PAYOUT_HEADERS)
    for number, row in enumerate(rows, start=1):
        for col, value in enumerate(_cells(number, row)):
            xlsx_write(sheet, number, col, value, {2: text, 4: money}.get(col))
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, 2, 24, text)
    sheet.set_column(3, 3, 24)
    sheet.set_column(5, 6, 28)
    book.close()
    return buffer.getvalue()


# --- reconciliation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    expected: int
    actual: int

    @property
    def difference(self) -> int:
        return self.actual - self.expected


def reconcile(*, scheme: Scheme, day: dt.date) -> list[Check]:
    """Ledger vs statements vs payouts for one business day; every difference must be zero.

    1. Payments and refunds in the ledger during D, adjusted for rows claimed earlier or later
       than D, equal the nets of D's statements.
    2. Each statement's rows add up to its totals.
    3. The settlement postings of D's statements carry their nets.
    4. The payout postings of D's paid statements carry their nets; paid amounts in fen match.
    """
    start, end = day_bounds(day)
    statements = Statement.objects.filter(scheme=scheme, business_date=day)
    ids = list(statements.values_list("pk", flat=True))
    payable = Entry.objects.filter(scheme=scheme, account__kind=AccountKind.MERCHANT_PAYABLE)
    # The ledger's side of D's rows: the entries of their own postings on payable accounts.
    ledger_day = _sum(
        payable.filter(
            posting__payment__created_at__gte=start, posting__payment__created_at__lt=end
        )
    ) + _sum(
        payable.filter(posting__refund__created_at__gte=start, posting__refund__created_at__lt=end)
    )

    def rows_net(**where: Any) -> int:
        pay = Payment.objects.filter(scheme=scheme, **where).aggregate(s=Sum("points"))["s"] or 0
        ref = Refund.objects.filter(scheme=scheme, **where).aggregate(s=Sum("points"))["s"] or 0
        return pay - ref

    in_day = {"created_at__gte": start, "created_at__lt": end}
    claimed_elsewhere = rows_net(**in_day) - rows_net(statement_id__in=ids, **in_day)
    claimed_from_before = rows_net(statement_id__in=ids, created_at__lt=start)
    nets = statements.aggregate(s=Sum("net"))["s"] or 0
    from_rows = rows_net(statement_id__in=ids)
    settled = -_sum(
        payable.filter(posting__kind=PostingKind.SETTLEMENT, posting__statement__in=ids)
    )
    paid = statements.filter(status=StatementStatus.PAID)
    paid_nets = paid.aggregate(s=Sum("net"))["s"] or 0
    paid_postings = _sum(
        Entry.objects.filter(
            scheme=scheme,
            account__kind=AccountKind.FUNDS,
            posting__payout_statement__in=list(paid.values_list("pk", flat=True)),
        )
    )
    fen_expected = sum(yuan_fen(s.net, s.yuan_per_point) for s in paid)
    fen_actual = paid.aggregate(s=Sum("amount_fen"))["s"] or 0
    return [
        Check(
            _("账本当日收款净额（扣除跨日结算）= 结算单净额"),
            nets,
            ledger_day - claimed_elsewhere + claimed_from_before,
        ),
        Check(_("结算单明细合计 = 结算单净额"), nets, from_rows),
        Check(_("结算记账 = 结算单净额"), nets, settled),
        Check(_("付款记账 = 已付结算单净额"), paid_nets, paid_postings),
        Check(_("已付金额(分) = 净额 × 兑换比例"), fen_expected, fen_actual),
    ]


def _sum(entries: QuerySet[Entry]) -> int:
    return int(entries.aggregate(s=Sum("amount"))["s"] or 0)
