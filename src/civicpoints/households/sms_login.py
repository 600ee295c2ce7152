"""Residents log in with a phone number on file and a 6-digit code sent by text message.

A code works once and for 5 minutes; at most one code a minute per phone; 5 wrong codes lock
the phone for 15 minutes. Every number gets the same answer whether or not it is on file (a
code is made, rate-limited and counted for every number; only numbers on file are texted), so
the login tells nobody who is registered. Only keyed digests of the number and of the code are
stored, and every try is counted by a guarded UPDATE before the code is compared.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households import crypto, phones
from civicpoints.households.models import Household, HouseholdStatus, SmsLogin
from civicpoints.households.sms import send_sms

CODE_TTL = timedelta(minutes=5)
RESEND_AFTER = timedelta(minutes=1)
CODE_FAILURE_LIMIT = 5
CODE_LOCKOUT = timedelta(minutes=15)


def clean_mobile(raw: Any) -> str:
    """An 11-digit mainland mobile number, or a Chinese message at the field ``phone``."""
    try:
        number = phones.normalize(raw if isinstance(raw, str) else "")
    except ValueError as exc:
        raise invalid(str(exc), field="phone") from None
    if not number:
        raise invalid(_("请填写手机号"), field="phone")
    if not (len(number) == 11 and number.startswith("1")):
        raise invalid(_("请填写11位手机号"), field="phone")
    return number


def clean_code(raw: Any) -> str:
    code = "".join(raw.split()) if isinstance(raw, str) else ""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise invalid(_("验证码是短信里的6位数字"), field="code")
    return code


def households_for_phone(phone: str) -> QuerySet[Household]:
    """Households (not closed) whose head or any member has this phone on file."""
    ids = Household.objects.filter(Q(phone=phone) | Q(members__phone=phone)).values("pk")
    return (
        Household.objects.filter(pk__in=ids)
        .exclude(status=HouseholdStatus.CLOSED)
        .select_related("village", "village__parent")
        .order_by("pk")
    )


def _code_hash(phone_digest: str, code: str) -> str:
    key = crypto.derived_key("sms-login-code")
    return hmac.new(key, f"{phone_digest}:{code}".encode(), hashlib.sha256).hexdigest()


def _minutes(until: datetime, now: datetime) -> int:
    return max(math.ceil((until - now).total_seconds() / 60), 1)


def _locked(until: datetime, now: datetime) -> ApplicationError:
    minutes = _minutes(until, now)
    return ApplicationError(
        ErrorCode.LOCKED_OUT,
        _("验证码错误次数过多，这个手机号已锁定，请%(m)d分钟后再试") % {"m": minutes},
        {"retry_after": math.ceil((until - now).total_seconds())},
    )


def sms_text(code: str) -> str:
    return _("【文明积分】您的登录验证码是%(code)s，5分钟内有效。请勿告诉他人。") % {"code": code}


def sms_code_request(*, phone: Any) -> str:
    """Make and (for a number on file) text a login code. Returns the cleaned number.

    Refused the same way for every number: while the phone is locked, or within a minute of
    the last code (the message says how long to wait).
    """
    number = clean_mobile(phone)
    digest = crypto.digest(number)
    now = timezone.now()
    code = f"{secrets.randbelow(10**6):06d}"
    rows = SmsLogin.objects.filter(phone_digest=digest)
    with transaction.atomic():
        SmsLogin.objects.get_or_create(phone_digest=digest)
        sent = (
            rows.exclude(locked_until__gt=now)
            .exclude(sent_at__gt=now - RESEND_AFTER)
            .update(code_hash=_code_hash(digest, code), code_expires_at=now + CODE_TTL, sent_at=now)
        )
        if sent and households_for_phone(number).exists():
            transaction.on_commit(partial(send_sms, phone=number, text=sms_text(code)))
    if not sent:
        locked_until, sent_at = rows.values_list("locked_until", "sent_at").get()
        if locked_until and locked_until > now:
            raise _locked(locked_until, now)
        # (sent_at is set unless a lock ended in between: then "wait a second" is right too)
        last = sent_at if sent_at is not None else now - RESEND_AFTER
        wait = max(math.ceil((last + RESEND_AFTER - now).total_seconds()), 1)
        raise ApplicationError(
            ErrorCode.LOCKED_OUT,
            _("验证码刚发过，请%(s)d秒后再获取") % {"s": wait},
            {"retry_after": wait, "field": "phone"},
        )
    return number


@dataclass
class SmsLoginResult:
    """Every household the phone is on file in, and the one logged in (None: let them choose)."""

    households: list[Household] = field(default_factory=list)
    chosen: Household | None = None


def sms_code_check(
    *, phone: Any, code: Any, household_id: int | None = None, keep_code_to_choose: bool = False
) -> SmsLoginResult:
    """Check a login code; a right one is used up, a wrong one counts toward the lock.

    When the phone is on file in several households and none is named: with
    ``keep_code_to_choose`` (the API) the code stays valid and the refusal lists the
    households; without it (the pages, which keep the choice in the session) the code is
    used up and ``chosen`` is None.
    """
    number = clean_mobile(phone)
    typed = clean_code(code)
    digest = crypto.digest(number)
    now = timezone.now()
    rows = SmsLogin.objects.filter(phone_digest=digest)
    outcome = "wrong"
    left = 0
    result = SmsLoginResult()
    with transaction.atomic():
        taken = (
            rows.filter(failures__lt=CODE_FAILURE_LIMIT)
            .exclude(locked_until__gt=now)
            .update(failures=F("failures") + 1)
        )
        if not taken:
            outcome = (
                "locked"
                if rows.filter(
                    Q(locked_until__gt=now) | Q(failures__gte=CODE_FAILURE_LIMIT)
                ).exists()
                else "wrong"
            )
        else:
            failures, stored, expires = rows.values_list(
                "failures", "code_hash", "code_expires_at"
            ).get()
            good = bool(
                stored
                and expires
                and expires > now
                and hmac.compare_digest(stored, _code_hash(digest, typed))
            )
            households = list(households_for_phone(number)) if good else []
            if households:
                result.households = households
                outcome = _choose(result, household_id, keep_code_to_choose)
                if outcome == "ok":
                    rows.update(failures=0, code_hash="", code_expires_at=None)
                else:  # the code is right: no failure, and it stays valid for the choice
                    rows.update(failures=0)
            else:
                left = max(CODE_FAILURE_LIMIT - failures, 0)
                if failures >= CODE_FAILURE_LIMIT:
                    rows.update(failures=0, locked_until=now + CODE_LOCKOUT, code_hash="")
    if outcome == "ok":
        return result
    if outcome == "locked":
        until = rows.values_list("locked_until", flat=True).first()
        raise _locked(until if until and until > now else now + CODE_LOCKOUT, now)
    if outcome == "choose":
        raise invalid(
            _("这个手机号登记在多户，请选择要登录的一户"),
            field="household",
            households=[
                {"household": h.pk, "head_name": h.head_name, "village_name": h.village.name}
                for h in result.households
            ],
        )
    if outcome == "not_yours":
        raise invalid(_("这个手机号没有登记在所选的户"), field="household")
    raise ApplicationError(
        ErrorCode.LOGIN_FAILED,
        _("验证码不对或已过期"),
        {"attempts_left": left, "field": "code"},
    )


def _choose(result: SmsLoginResult, household_id: int | None, keep_code: bool) -> str:
    if household_id is not None:
        result.chosen = next((h for h in result.households if h.pk == household_id), None)
        return "ok" if result.chosen else "not_yours"
    if len(result.households) == 1:
        result.chosen = result.households[0]
        return "ok"
    return "choose" if keep_code else "ok"
