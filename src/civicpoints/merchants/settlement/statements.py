"""T+1 statements: settling a business day (statements and their postings), marking a
statement paid (its payout posting), and which statements are overdue.

``settle(scheme, D)`` is set-based: a handful of statements for the whole day, whatever the
number of payments (docs/spending.md). It claims, for every merchant, the payments and refunds
not yet in any statement whose time is before the end of D (24:00 Asia/Shanghai). A payment or
refund that commits after D's run (its transaction was still open) is claimed by D+1's: each
row lands in exactly one statement. Re-running a day finds nothing left to claim.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.bulk import update_many
from civicpoints.calendar import day_bounds
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.ledger.models import Account, AccountKind, PostingKind
from civicpoints.ledger.services import Leg, Transfer, post, post_transfers, system_account
from civicpoints.merchants.models import (
    Merchant,
    Payment,
    Refund,
    Statement,
    StatementStatus,
)
from civicpoints.merchants.services import merchant_account, require_merchant_manager
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor

OVERDUE_AFTER = dt.timedelta(hours=24)

# Memos written into the ledger stay Chinese whatever the caller's language.
STORED_TEXT = {
    "settle": "%(day)s 结算 %(shop)s",
    "payout": "付款 %(statement)s 银行流水 %(reference)s",
}


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
                    memo=STORED_TEXT["settle"]
                    % {"day": f"{day:%Y-%m-%d}", "shop": merchants[s.merchant_id].shop_name},
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
            memo=STORED_TEXT["payout"]
            % {"statement": statement.reference, "reference": reference[:60]},
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
