"""Commands texted in by residents without a smartphone (through the SMS gateway's webhook).

The gateway POSTs JSON ``{"phone": "139...", "text": "积分", "timestamp": <unix seconds>}`` and
signs the raw body: ``X-Signature: <hex HMAC-SHA256 of the body with SMS_WEBHOOK_SECRET>``.
A request is answered only when the signature matches (constant-time compare), the signed
timestamp is within five minutes, the phone is on file, the same body was not answered before
(the reply's notification key is the body's digest) and the phone has sent fewer than
``SMS_INBOUND_LIMIT`` commands in the current ``SMS_INBOUND_WINDOW`` (a counter row updated
with a guarded ``UPDATE ... WHERE count < limit``). Replies go out through the SMS backend
after commit.

Commands (any case, spaces ignored, full-width letters too): ``积分`` / ``JF`` -> available
balance and points on notice; ``明细`` / ``MX`` -> the last three entries; anything else ->
a short help text.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import logging
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civicpoints.awards.resident_selectors import household_on_notice
from civicpoints.households.models import Household, HouseholdStatus, mask_phone
from civicpoints.households.phones import normalize
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance, household_history
from civicpoints.notifications.events import LANGUAGE, SIGN
from civicpoints.notifications.models import InboundCounter, Notification
from civicpoints.notifications.services import notify

log = logging.getLogger("civicpoints.notifications")

MAX_SKEW = dt.timedelta(minutes=5)
MAX_BODY = 4096
# What residents text in: the words of each command (Chinese, or its pinyin initials).
COMMANDS = {"balance": frozenset({"积分", "JF"}), "history": frozenset({"明细", "MX"})}


class Outcome(enum.Enum):
    """What became of one inbound request (the webhook turns it into an HTTP status)."""

    REPLIED = "replied"
    DUPLICATE = "duplicate"  # this very request was answered before: nothing sent again
    UNKNOWN_PHONE = "unknown_phone"
    BAD_REQUEST = "bad_request"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale_timestamp"
    RATE_LIMITED = "rate_limited"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class Inbound:
    phone: str
    text: str
    timestamp: dt.datetime


def signature_for(body: bytes, secret: str | None = None) -> str:
    """The signature a gateway sends for ``body`` (tests and the docs' example use it)."""
    key = (secret if secret is not None else settings.SMS_WEBHOOK_SECRET).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _parse(body: bytes) -> Inbound | None:
    try:
        data = json.loads(body.decode("utf-8"))
        phone, text, stamp = data["phone"], data["text"], data["timestamp"]
        if not isinstance(phone, str) or not isinstance(text, str):
            return None
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return None
        at = dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
    except (ValueError, KeyError, TypeError, OverflowError, OSError, UnicodeDecodeError):
        return None
    return Inbound(phone=phone[:30], text=text[:200], timestamp=at)


def _household_for_phone(raw: str) -> Household | None:
    try:
        phone = normalize(raw)
    except ValueError:
        return None
    if not phone:
        return None
    live = Household.objects.exclude(status=HouseholdStatus.CLOSED)
    own = live.filter(phone=phone).order_by("pk").first()
    if own is not None:
        return own
    return live.filter(Q(members__phone=phone)).order_by("pk").first()


def _take_slot(household: Household, phone: str, now: dt.datetime) -> bool:
    """Count one command for this phone in the current window; False when over the limit."""
    window = int(settings.SMS_INBOUND_WINDOW)
    start = dt.datetime.fromtimestamp(int(now.timestamp()) // window * window, tz=dt.UTC)
    mine = InboundCounter.objects.filter(scheme_id=household.scheme_id, phone=phone)
    mine.filter(window_start__lt=start).delete()
    InboundCounter.objects.bulk_create(
        [InboundCounter(scheme_id=household.scheme_id, phone=phone, window_start=start)],
        ignore_conflicts=True,
    )
    taken = mine.filter(window_start=start, count__lt=settings.SMS_INBOUND_LIMIT).update(
        count=F("count") + 1
    )
    return taken == 1


def sms_inbound(*, body: bytes, signature: str, now: dt.datetime | None = None) -> Outcome:
    """Check, count and answer one inbound text; every refusal sends nothing."""
    now = now or timezone.now()
    secret = getattr(settings, "SMS_WEBHOOK_SECRET", "")
    if not secret:
        return Outcome.NOT_CONFIGURED
    given = (signature or "").strip().lower().removeprefix("sha256=")
    if len(body) > MAX_BODY or not hmac.compare_digest(
        signature_for(body, secret).encode(), given.encode()
    ):
        log.warning("inbound SMS refused: bad signature")
        return Outcome.BAD_SIGNATURE
    inbound = _parse(body)
    if inbound is None:
        return Outcome.BAD_REQUEST
    if abs(now - inbound.timestamp) > MAX_SKEW:
        log.warning("inbound SMS refused: stale timestamp")
        return Outcome.STALE
    household = _household_for_phone(inbound.phone)
    if household is None:
        log.info("inbound SMS from a phone not on file")
        return Outcome.UNKNOWN_PHONE
    phone = normalize(inbound.phone)
    key = f"sms_reply:{hashlib.sha256(body).hexdigest()}"
    if Notification.objects.filter(scheme_id=household.scheme_id, event_key=key).exists():
        return Outcome.DUPLICATE
    with transaction.atomic():
        if not _take_slot(household, phone, now):
            log.info("inbound SMS from %s over the limit", mask_phone(phone))
            return Outcome.RATE_LIMITED
        sent = notify(
            scheme_id=household.scheme_id,
            household_id=household.pk,
            event_key=key,
            text=reply_for(household, inbound.text),
            phone=phone,
        )
    return Outcome.REPLIED if sent else Outcome.DUPLICATE


def command_of(text: str) -> str:
    """积分 / JF -> "balance", 明细 / MX -> "history", else "help"."""
    word = "".join(unicodedata.normalize("NFKC", text or "").split()).upper()
    return next((command for command, words in COMMANDS.items() if word in words), "help")


def reply_for(household: Household, text: str) -> str:
    with translation.override(LANGUAGE):
        command = command_of(text)
        if command == "balance":
            return SIGN + _balance_text(household)
        if command == "history":
            return SIGN + _history_text(household)
        return SIGN + _("回复“积分”或“JF”查积分，回复“明细”查最近三笔记录。")


def _balance_text(household: Household) -> str:
    balance = household_balance(household_id=household.pk)
    text = _("您家可用积分 %(points)s 分") % {"points": format_points(balance.available)}
    if balance.held:
        text += _("（另有 %(points)s 分冻结待取货）") % {"points": format_points(balance.held)}
    coming = household_on_notice(household_id=household.pk)
    if coming.award:
        ends = [timezone.localtime(line.ends_at) for line in coming.lines if not line.is_deduction]
        last = max(ends)
        text += _("；公示中 +%(points)s 分，%(m)d月%(d)d日前入账") % {
            "points": format_points(coming.award),
            "m": last.month,
            "d": last.day,
        }
    else:
        text += _("；暂无公示中的积分")
    if coming.deduction:
        text += _("；公示中扣分 %(points)s 分") % {"points": format_points(coming.deduction)}
    return text + _("。")


def _history_text(household: Household) -> str:
    lines = household_history(household_id=household.pk, limit=3)
    if not lines:
        return _("还没有积分记录。")
    parts = []
    for line in lines:
        day = timezone.localtime(line.created_at)
        parts.append(
            _("%(m)d月%(d)d日 %(title)s %(points)s")
            % {"m": day.month, "d": day.day, "title": line.title, "points": line.signed_points}
        )
    return _("最近三笔：") + _("；").join(parts) + _("。")
