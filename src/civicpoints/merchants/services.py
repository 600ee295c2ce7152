"""Every write for signed merchants: signing, payment codes, payments and refunds.

A payment is one posting household -> merchant_payable. In one transaction the payment code is
spent by a guarded ``UPDATE ... WHERE used_at IS NULL`` (a code shown once pays once however
many cashiers scan it at the same moment), the points are posted, and the payment row is
written; its unique idempotency key makes a retry return the first payment. Two copies of the
same keyed request racing each other: one pays, the other gets ``payment_code_used`` (the API's
own key handling answers such a twin with 409 while the first is running).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from functools import cache

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households import crypto
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.services import household_verify_pin
from civicpoints.households.standing import disqualified_on
from civicpoints.ledger.amounts import MAX_HUNDREDTHS, format_points
from civicpoints.ledger.idempotency import Slot, idempotency_fail, idempotency_succeed
from civicpoints.ledger.idempotency import request_hash as hash_request
from civicpoints.ledger.models import Account, AccountKind, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, system_account
from civicpoints.merchants.guessing import guess_failed, guessing_check
from civicpoints.merchants.models import (
    GuessKind,
    Merchant,
    MerchantStatus,
    Payment,
    PaymentCode,
    PaymentVia,
    Refund,
)
from civicpoints.schemes.models import Region, Role
from civicpoints.schemes.scope import Actor, require_role
from civicpoints.schemes.selectors import staff_holding

MERCHANT_MANAGERS = (Role.COUNTY_ADMIN,)
CODE_PREFIX = "88"
CODE_RANDOM_DIGITS = 10
CODE_MAC_DIGITS = 6
CODE_LIFETIME = dt.timedelta(seconds=60)
# Memos written into the ledger stay Chinese whatever the caller's language.
STORED_TEXT = {"payment": "%(shop)s 消费", "refund": "%(shop)s 退款"}


# --- signing merchants -----------------------------------------------------------------------


def _clean_account_number(raw: str) -> str:
    digits = "".join((raw or "").split()).replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 30):
        raise invalid(_("银行账号应为8-30位数字"), field="bank_account")
    return digits


def merchant_create(
    *,
    actor: Actor,
    scheme_id: int,
    legal_name: str,
    shop_name: str,
    bank_name: str,
    account_name: str,
    bank_account: str,
    regions: list[Region],
    contact_name: str = "",
    contact_phone: str = "",
    address: str = "",
    clerk_ids: list[int] | None = None,
) -> Merchant:
    """Sign a merchant; the bank account is stored encrypted and shown masked. Its cashiers
    (``clerk_ids``) must be merchant clerks in the actor's scope; a refusal writes nothing."""
    if not regions:
        raise invalid(_("请选择服务区域"), field="regions")
    for region in regions:
        require_role(
            actor,
            roles=MERCHANT_MANAGERS,
            scheme_id=scheme_id,
            region_path=region.path,
            action="merchant.create",
        )
    fields = {
        "legal_name": (legal_name or "").strip(),
        "shop_name": (shop_name or "").strip(),
        "bank_name": (bank_name or "").strip(),
        "account_name": (account_name or "").strip(),
    }
    for field, value in fields.items():
        if not value:
            raise invalid(_("请填写所有必填项"), field=field)
    number = _clean_account_number(bank_account)
    cashiers = sorted(set(clerk_ids or ()))
    if cashiers:
        allowed = set(
            staff_holding(
                actor, role=Role.MERCHANT_CLERK, over_roles=MERCHANT_MANAGERS, scheme_id=scheme_id
            )
            .filter(pk__in=cashiers)
            .values_list("pk", flat=True)
        )
        if unknown := [pk for pk in cashiers if pk not in allowed]:
            raise invalid(
                _("不是您管辖范围内的商家收银员：%(who)s")
                % {"who": _("、").join(map(str, unknown))},
                field="cashiers",
                unknown=unknown,
            )
    with transaction.atomic():
        merchant = Merchant.objects.create(
            scheme_id=scheme_id,
            contact_name=contact_name.strip()[:40],
            contact_phone=contact_phone.strip()[:20],
            address=address.strip()[:200],
            bank_account_encrypted=crypto.encrypt(number),
            bank_account_last4=number[-4:],
            **{k: v[:100] for k, v in fields.items()},
        )
        merchant.regions.set(regions)
        if cashiers:
            merchant.clerks.set(cashiers)
        merchant_account(merchant)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme_id,
            action=AuditAction.MERCHANT_CREATE,
            obj=merchant,
        )
    return merchant


def merchant_set_status(*, actor: Actor, merchant: Merchant, status: str, reason: str) -> Merchant:
    require_merchant_manager(actor, merchant, "merchant.status")
    if status not in MerchantStatus.values:
        raise invalid(_("状态无效"), field="status")
    if not (reason or "").strip():
        raise invalid(_("请填写原因"), field="reason")
    with transaction.atomic():
        Merchant.objects.filter(pk=merchant.pk).update(status=status)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=merchant.scheme_id,
            action=AuditAction.MERCHANT_STATUS,
            obj=merchant,
            detail={"from": merchant.status, "to": status, "reason": reason.strip()},
        )
    merchant.refresh_from_db()
    return merchant


def require_merchant_manager(actor: Actor, merchant: Merchant, action: str) -> None:
    operator_path = merchant.scheme.operator_region.path
    require_role(
        actor,
        roles=MERCHANT_MANAGERS,
        scheme_id=merchant.scheme_id,
        region_path=operator_path,
        action=action,
    )


def require_cashier(actor: Actor, merchant: Merchant) -> None:
    """Who may take payments: the merchant's own clerks (a county admin only reads)."""
    if actor.user_id is None or not merchant.clerks.filter(pk=actor.user_id).exists():
        raise ApplicationError(ErrorCode.PERMISSION_DENIED, detail={"action": "merchant.cashier"})


def merchant_account(merchant: Merchant) -> Account:
    return system_account(
        scheme_id=merchant.scheme_id,
        kind=AccountKind.MERCHANT_PAYABLE,
        owner_ref=f"merchant:{merchant.pk}",
    )


def bank_account_number(merchant: Merchant) -> str:
    """The full account number, for the bank's payout file only."""
    return crypto.decrypt(merchant.bank_account_encrypted)


# --- payment codes ---------------------------------------------------------------------------


@cache
def _code_key() -> bytes:
    return crypto.derived_key("payment-code")


def _mac(body: str) -> str:
    digest = hmac.new(_code_key(), body.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_MAC_DIGITS:0{CODE_MAC_DIGITS}d}"


def _code_signed(code: str) -> bool:
    if len(code) != 18 or not (code.isascii() and code.isdigit()):
        return False
    if not code.startswith(CODE_PREFIX):
        return False
    body, mac = code[:-CODE_MAC_DIGITS], code[-CODE_MAC_DIGITS:]
    return hmac.compare_digest(_mac(body), mac)


def payment_code_issue(*, household: Household, at: dt.datetime | None = None) -> PaymentCode:
    """A fresh single-use code for the resident's phone: 18 digits, valid 60 seconds.

    Two prefix digits, ten random digits, six digits of HMAC over them: a typed or guessed
    code fails the signature before it reaches the database.
    """
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    now = at or timezone.now()
    for _attempt in range(5):
        body = CODE_PREFIX + f"{secrets.randbelow(10**CODE_RANDOM_DIGITS):0{CODE_RANDOM_DIGITS}d}"
        try:
            with transaction.atomic():
                return PaymentCode.objects.create(
                    scheme_id=household.scheme_id,
                    household=household,
                    code=body + _mac(body),
                    created_at=now,
                    expires_at=now + CODE_LIFETIME,
                )
        except IntegrityError:
            continue  # one in ten billion: draw again
    raise RuntimeError("could not draw a unique payment code")


def _spend_code(merchant: Merchant, raw: str, now: dt.datetime) -> PaymentCode:
    code = "".join((raw or "").split())
    if not _code_signed(code):
        raise ApplicationError(ErrorCode.PAYMENT_CODE_INVALID)
    # A code is unique in its scheme (docs/scaling.md): the merchant's scheme first; looking
    # in the others only tells the clerk why the code is refused.
    found = PaymentCode.objects.filter(scheme_id=merchant.scheme_id, code=code).first()
    if found is None:
        if PaymentCode.objects.filter(code=code).exists():
            raise ApplicationError(ErrorCode.PAYMENT_CODE_OTHER_SCHEME)
        raise ApplicationError(ErrorCode.PAYMENT_CODE_INVALID)
    if found.used_at is not None:
        raise ApplicationError(ErrorCode.PAYMENT_CODE_USED)
    if now >= found.expires_at:
        raise ApplicationError(ErrorCode.PAYMENT_CODE_EXPIRED)
    spent = PaymentCode.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=now)
    if spent != 1:
        raise ApplicationError(ErrorCode.PAYMENT_CODE_USED)
    return found


# --- payments and refunds --------------------------------------------------------------------


def _check_payer(merchant: Merchant, household: Household, today: dt.date) -> None:
    if household.status == HouseholdStatus.CLOSED:
        raise ApplicationError(ErrorCode.HOUSEHOLD_CLOSED)
    paths = [r.path for r in merchant.regions.all()]
    if not any(household.village.path.startswith(p) for p in paths):
        raise ApplicationError(ErrorCode.NOT_SERVED, _("该户不在本店的服务区域内"))
    ban = disqualified_on(household_id=household.pk, day=today)
    if ban is not None:
        raise ApplicationError(
            ErrorCode.DISQUALIFIED,
            _("该户处于一票否决期内（至 %(end)s），不能消费积分") % {"end": ban.ends_on},
        )


def payment_request_hash(*, merchant_id: int, code: str, card: str, points: int) -> str:
    return hash_request({"merchant": merchant_id, "code": code, "card": card, "points": points})


def _replay_payment(scheme_id: int, key: str, digest: str) -> Payment | None:
    earlier = (
        Payment.objects.filter(scheme_id=scheme_id, idempotency_key=key)
        .select_related("posting")
        .first()
    )
    if earlier is not None and earlier.posting.request_hash != digest:
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return earlier


def payment_take(
    *,
    actor: Actor,
    merchant: Merchant,
    points: int,
    code: str = "",
    card: str = "",
    pin: str = "",
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
    slot: Slot | None = None,
) -> Payment:
    """Take points at a merchant from a payment code, or a printed card with its PIN.

    With a ``slot`` (a keyed API call) the response is stored in the payment's own durable
    transaction; an invalid credential's count is written after the attempt rolled back,
    together with the stored refusal (``_counted_guess``)."""
    require_cashier(actor, merchant)
    now = at or timezone.now()
    code = "".join((code or "").split())
    card = "".join((card or "").split()).upper()
    digest = payment_request_hash(merchant_id=merchant.pk, code=code, card=card, points=points)
    if idempotency_key:
        earlier = _replay_payment(merchant.scheme_id, idempotency_key, digest)
        if earlier is not None:
            return earlier
    if not isinstance(points, int) or not 0 < points <= MAX_HUNDREDTHS:
        raise invalid(_("积分必须大于0"), field="points")
    if merchant.status != MerchantStatus.ACTIVE:
        raise ApplicationError(ErrorCode.MERCHANT_NOT_ACTIVE)
    if bool(code) == bool(card):
        raise invalid(_("请扫付款码，或输入积分卡号和密码"), field="code")
    assert actor.user_id is not None  # require_cashier
    guessing_check(
        scheme_id=merchant.scheme_id, merchant_id=merchant.pk, cashier_id=actor.user_id, now=now
    )
    try:
        return _take(
            actor=actor,
            merchant=merchant,
            points=points,
            code=code,
            card=card,
            pin=pin,
            idempotency_key=idempotency_key,
            digest=digest,
            now=now,
            slot=slot,
        )
    except ApplicationError as exc:
        kind = _guess_kind(exc)
        if kind is None:
            raise
        counted = _counted_guess(
            exc, merchant=merchant, cashier_id=actor.user_id, kind=kind, now=now, slot=slot
        )
        raise counted from None


def _guess_kind(exc: ApplicationError) -> str | None:
    """A credential that matched nothing counts towards the till's guessing limit."""
    if exc.code == ErrorCode.PAYMENT_CODE_INVALID:
        return GuessKind.CODE
    if exc.code == ErrorCode.NOT_FOUND and exc.detail.get("field") == "card":
        return GuessKind.CARD
    return None


def _counted_guess(
    exc: ApplicationError,
    *,
    merchant: Merchant,
    cashier_id: int,
    kind: str,
    now: dt.datetime,
    slot: Slot | None,
) -> ApplicationError:
    """Record the failure for good, after the attempt's transaction rolled back, in one small
    transaction with the keyed request's stored refusal; returns the refusal to raise (a
    stronger one when this guess came in past the limit)."""
    with transaction.atomic(durable=True):
        refusal = (
            guess_failed(
                scheme_id=merchant.scheme_id,
                merchant_id=merchant.pk,
                cashier_id=cashier_id,
                kind=kind,
                now=now,
            )
            or exc
        )
        idempotency_fail(slot=slot, error=refusal)
    return refusal


def _take(
    *,
    actor: Actor,
    merchant: Merchant,
    points: int,
    code: str,
    card: str,
    pin: str,
    idempotency_key: str | None,
    digest: str,
    now: dt.datetime,
    slot: Slot | None,
) -> Payment:
    household: Household | None = None
    if card:
        household = (
            Household.objects.select_related("village")
            .filter(scheme_id=merchant.scheme_id, card_code=card)
            .first()
        )
        if household is None:
            raise ApplicationError(ErrorCode.NOT_FOUND, _("没有这张积分卡"), {"field": "card"})
        if not pin:
            raise ApplicationError(ErrorCode.PIN_REQUIRED, _("积分卡在商家消费须输入密码"))
        _check_payer(merchant, household, timezone.localdate(now))
        household_verify_pin(household=household, pin=pin, slot=slot)
    try:
        with transaction.atomic(durable=True):
            payment_code = None
            if code:
                payment_code = _spend_code(merchant, code, now)
                household = Household.objects.select_related("village").get(
                    pk=payment_code.household_id
                )
                _check_payer(merchant, household, timezone.localdate(now))
            assert household is not None
            payment = Payment.objects.create(
                scheme_id=merchant.scheme_id,
                merchant=merchant,
                household=household,
                points=points,
                via=PaymentVia.CODE if code else PaymentVia.CARD,
                payment_code=payment_code,
                idempotency_key=idempotency_key,
                actor_id=actor.user_id,
                created_at=now,
                posting=post(
                    scheme_id=merchant.scheme_id,
                    kind=PostingKind.PAYMENT,
                    legs=[
                        Leg(household_account(household=household), -points),
                        Leg(merchant_account(merchant), points),
                    ],
                    actor_id=actor.user_id,
                    memo=STORED_TEXT["payment"] % {"shop": merchant.shop_name},
                    request_hash=digest,
                    ref=("merchant", merchant.pk),
                ),
            )
            audit_record(
                actor_id=actor.user_id,
                scheme_id=merchant.scheme_id,
                action=AuditAction.MERCHANT_PAYMENT,
                obj=payment,
                detail={"household": household.pk, "points": format_points(points)},
            )
            idempotency_succeed(slot=slot, result=payment)
            return payment
    except IntegrityError:
        earlier = (
            _replay_payment(merchant.scheme_id, idempotency_key, digest)
            if idempotency_key
            else None
        )
        if earlier is None:
            raise
        return earlier


def refund_create(
    *,
    actor: Actor,
    payment: Payment,
    points: int,
    reason: str = "",
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
    slot: Slot | None = None,
) -> Refund:
    """Give back all or part of a payment, within the scheme's window, never more than paid."""
    merchant = payment.merchant
    require_cashier(actor, merchant)
    now = at or timezone.now()
    if idempotency_key:
        earlier = Refund.objects.filter(
            scheme_id=payment.scheme_id, idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            if (earlier.payment_id, earlier.points) != (payment.pk, points):
                raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
            return earlier
    if not isinstance(points, int) or not 0 < points <= MAX_HUNDREDTHS:
        raise invalid(_("退款积分必须大于0"), field="points")
    days = merchant.scheme.refund_days
    if now > payment.created_at + dt.timedelta(days=days):
        raise ApplicationError(
            ErrorCode.REFUND_WINDOW_CLOSED, _("已超过退款期限（%(days)s 天）") % {"days": days}
        )
    try:
        with transaction.atomic(durable=True):
            # The guard: refunded + points <= paid, in one statement (no read-modify-write).
            taken = Payment.objects.filter(
                pk=payment.pk, refunded__lte=F("points") - points
            ).update(refunded=F("refunded") + points)
            if taken != 1:
                left = Payment.objects.filter(pk=payment.pk).values_list("points", "refunded")[0]
                raise ApplicationError(
                    ErrorCode.REFUND_EXCEEDS_PAYMENT,
                    detail={"refundable": (left[0] - left[1]) / 100},
                )
            refund = Refund.objects.create(
                scheme_id=payment.scheme_id,
                merchant=merchant,
                payment=payment,
                points=points,
                reason=(reason or "").strip()[:200],
                idempotency_key=idempotency_key,
                actor_id=actor.user_id,
                created_at=now,
                posting=post(
                    scheme_id=payment.scheme_id,
                    kind=PostingKind.REFUND,
                    legs=[
                        Leg(merchant_account(merchant), -points),
                        Leg(household_account(household=payment.household), points),
                    ],
                    actor_id=actor.user_id,
                    memo=STORED_TEXT["refund"] % {"shop": merchant.shop_name},
                    ref=("merchant", merchant.pk),
                ),
            )
            audit_record(
                actor_id=actor.user_id,
                scheme_id=payment.scheme_id,
                action=AuditAction.MERCHANT_REFUND,
                obj=refund,
                detail={"payment": payment.pk, "points": format_points(points)},
            )
            idempotency_succeed(slot=slot, result=refund)
            return refund
    except IntegrityError:
        earlier = (
            Refund.objects.filter(
                scheme_id=payment.scheme_id, idempotency_key=idempotency_key
            ).first()
            if idempotency_key
            else None
        )
        if earlier is None:
            raise
        return earlier
