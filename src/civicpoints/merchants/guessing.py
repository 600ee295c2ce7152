"""Limits on guessing payer credentials at a till: invalid payment codes and unknown cards.

Every invalid credential is a ``CodeFailure`` row; a sliding window counts them per cashier
(at every shop they work) and per merchant. Before a code or card is looked at, one indexed
query counts the window (``guessing_check``): at the limit the till is refused with
``too_many_invalid_codes`` (429) until the oldest failures age out. A failure is recorded
(``guess_failed``) under a per-cashier and a per-merchant advisory lock on PostgreSQL (SQLite
serialises writers anyway), so parallel guesses that all passed the check are counted one by
one: those past the limit are answered as refused too, and the crossing writes exactly one
``merchant.code_guessing`` audit row (the risk flags read it). A valid code costs the count only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.merchants.models import CodeFailure, GuessLimits, Merchant

DEFAULTS = {"per_cashier": 10, "per_merchant": 30, "window_minutes": 10}
MAX_WINDOW = dt.timedelta(days=1)  # the longest window a scheme may set
_ANY_SINCE = (
    "SELECT EXISTS (SELECT 1 FROM merchants_codefailure WHERE merchant_id = %s AND at >= %s)"
    " OR EXISTS (SELECT 1 FROM merchants_codefailure WHERE cashier_id = %s AND at >= %s)"
)
_CASHIER_LOCK = 0x6367  # "cg": advisory lock namespaces (cashier, merchant)
_MERCHANT_LOCK = 0x6D67  # "mg"


@dataclass(frozen=True)
class Limits:
    per_cashier: int
    per_merchant: int
    window: dt.timedelta


def guess_limits(scheme_id: int) -> Limits:
    """The scheme's own limits, else ``settings.PAYMENT_CODE_GUESSING``, else the defaults."""
    own = GuessLimits.objects.filter(scheme_id=scheme_id).first()
    if own is not None:
        values = {
            "per_cashier": own.per_cashier,
            "per_merchant": own.per_merchant,
            "window_minutes": own.window_minutes,
        }
    else:
        values = {**DEFAULTS, **getattr(settings, "PAYMENT_CODE_GUESSING", {})}
    return Limits(
        per_cashier=int(values["per_cashier"]),
        per_merchant=int(values["per_merchant"]),
        window=min(dt.timedelta(minutes=int(values["window_minutes"])), MAX_WINDOW),
    )


def guess_limits_set(
    *,
    actor_id: int | None,
    scheme_id: int,
    per_cashier: int,
    per_merchant: int,
    window_minutes: int,
) -> GuessLimits:
    """A scheme's own limits (the Django admin), with an audit row."""
    values = {
        "per_cashier": per_cashier,
        "per_merchant": per_merchant,
        "window_minutes": window_minutes,
    }
    if not all(isinstance(v, int) and v > 0 for v in values.values()):
        raise invalid(_("上限和时长须为正整数"), field="per_cashier")
    if window_minutes > MAX_WINDOW.total_seconds() // 60:
        raise invalid(_("统计时长不能超过24小时"), field="window_minutes")
    with transaction.atomic():
        limits, _created = GuessLimits.objects.update_or_create(
            scheme_id=scheme_id, defaults=values
        )
        audit_record(
            actor_id=actor_id,
            scheme_id=scheme_id,
            action=AuditAction.MERCHANT_GUESS_LIMITS,
            obj=limits,
            detail=values,
        )
    return limits


def _counts(*, merchant_id: int, cashier_id: int, since: dt.datetime) -> tuple[int, int]:
    """(the cashier's failures, the merchant's failures) since ``since``: one query."""
    found = CodeFailure.objects.filter(
        Q(merchant_id=merchant_id) | Q(cashier_id=cashier_id), at__gte=since
    ).aggregate(
        cashier=Count("pk", filter=Q(cashier_id=cashier_id)),
        merchant=Count("pk", filter=Q(merchant_id=merchant_id)),
    )
    return found["cashier"], found["merchant"]


def _any_since(*, merchant_id: int, cashier_id: int, since: dt.datetime) -> bool:
    """Whether the till has any failure since ``since``: the hot path's one query, in plain SQL
    (two index probes, no ORM building), about as cheap as a primary-key lookup."""
    with connection.cursor() as cursor:
        cursor.execute(_ANY_SINCE, [merchant_id, since, cashier_id, since])
        row = cursor.fetchone()
    return bool(row and row[0])


def _refusal(*, scope: str, limits: Limits) -> ApplicationError:
    minutes = int(limits.window.total_seconds() // 60)
    if scope == "cashier":
        message = _(
            "无效付款码或卡号输入次数过多（%(minutes)s 分钟内 %(limit)s 次），"
            "请稍后再试；如有疑问请联系县文明办"
        ) % {"minutes": minutes, "limit": limits.per_cashier}
    else:
        message = _(
            "本店无效付款码或卡号次数过多（%(minutes)s 分钟内 %(limit)s 次），"
            "暂停扫码收款，请稍后再试；如有疑问请联系县文明办"
        ) % {"minutes": minutes, "limit": limits.per_merchant}
    limit = limits.per_cashier if scope == "cashier" else limits.per_merchant
    return ApplicationError(
        ErrorCode.TOO_MANY_INVALID_CODES,
        message,
        {"scope": scope, "limit": limit, "window_seconds": int(limits.window.total_seconds())},
    )


def guessing_check(*, scheme_id: int, merchant_id: int, cashier_id: int, now: dt.datetime) -> None:
    """Refuse a till at its limit. One indexed query when nothing failed in the longest window
    a scheme may set (the usual case); the limits are read only when there is something to
    compare."""
    if not _any_since(merchant_id=merchant_id, cashier_id=cashier_id, since=now - MAX_WINDOW):
        return
    limits = guess_limits(scheme_id)
    by_cashier, by_merchant = _counts(
        merchant_id=merchant_id, cashier_id=cashier_id, since=now - limits.window
    )
    if by_cashier >= limits.per_cashier:
        raise _refusal(scope="cashier", limits=limits)
    if by_merchant >= limits.per_merchant:
        raise _refusal(scope="merchant", limits=limits)


def _lock(cashier_id: int, merchant_id: int) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already serialises every writer
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CASHIER_LOCK, cashier_id])
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_MERCHANT_LOCK, merchant_id])


def guess_failed(
    *, scheme_id: int, merchant_id: int, cashier_id: int, kind: str, now: dt.datetime
) -> ApplicationError | None:
    """Record one invalid credential for good (call it outside the refused transaction).

    Returns the refusal to answer instead of "invalid" when this guess came in past the limit
    (it passed ``guessing_check`` alongside others); writes the audit row when it crosses.
    """
    limits = guess_limits(scheme_id)
    with transaction.atomic():
        _lock(cashier_id, merchant_id)
        by_cashier, by_merchant = _counts(
            merchant_id=merchant_id, cashier_id=cashier_id, since=now - limits.window
        )
        CodeFailure.objects.create(
            scheme_id=scheme_id, merchant_id=merchant_id, cashier_id=cashier_id, kind=kind, at=now
        )
        window = int(limits.window.total_seconds())
        for scope, before, limit in (
            ("cashier", by_cashier, limits.per_cashier),
            ("merchant", by_merchant, limits.per_merchant),
        ):
            if before + 1 == limit:
                audit_record(
                    actor_id=cashier_id,
                    scheme_id=scheme_id,
                    action=AuditAction.MERCHANT_CODE_GUESSING,
                    obj=Merchant(pk=merchant_id, scheme_id=scheme_id),  # names the shop
                    detail={
                        "merchant": merchant_id,
                        "cashier": cashier_id,
                        "scope": scope,
                        "count": limit,
                        "window_seconds": window,
                    },
                )
    if by_cashier >= limits.per_cashier:
        return _refusal(scope="cashier", limits=limits)
    if by_merchant >= limits.per_merchant:
        return _refusal(scope="merchant", limits=limits)
    return None
