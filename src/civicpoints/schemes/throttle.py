"""Login throttling per client address (django-axes), in front of the per-account lockout.

Axes records every failed staff login by (address, username). ``LoginThrottle`` gives each
entry of ``AXES_LOCKOUT_PARAMETERS`` its own limit (``LOGIN_THROTTLE_LIMITS``): a few
failures per account from one address, more in all from one address. It never locks an
account: ``services.staff_login`` does that, and asks ``address_allowed`` first so that an
address that is throttled cannot spend the account's tries.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class LoginThrottle(AxesDatabaseHandler):
    """Axes' database handler with one limit per lockout parameter.

    Axes compares one number with ``AXES_FAILURE_LIMIT``; here that number is how many times
    over its own limit the worst parameter is, so ``AXES_FAILURE_LIMIT = 1`` means "any
    parameter at its limit".
    """

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        limits = settings.LOGIN_THROTTLE_LIMITS
        worst = 0
        for attempts, limit in zip(
            self.get_user_attempts(request, credentials), limits, strict=True
        ):
            failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            worst = max(worst, failures // limit)
        return worst

    def retry_after(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """Seconds until every limit this request is at has lifted: the oldest failures run
        out first, each record ``AXES_COOLOFF_TIME`` after its last failure."""
        cool_off = get_cool_off(request) or timedelta(0)
        now = request.axes_attempt_time  # type: ignore[attr-defined]  # set by axes
        wait = 0.0
        for attempts, limit in zip(
            self.get_user_attempts(request, credentials),
            settings.LOGIN_THROTTLE_LIMITS,
            strict=True,
        ):
            rows = attempts.order_by("attempt_time").values_list(
                "attempt_time", "failures_since_start"
            )
            left = sum(n for _at, n in rows)
            for at, n in rows:
                if left < limit:
                    break
                left -= n
                wait = max(wait, (at + cool_off - now).total_seconds())
        return max(1, math.ceil(wait))


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind ``TRUSTED_PROXY_COUNT`` proxies the entry
    of X-Forwarded-For that the nearest trusted proxy saw (entries further left are the
    client's to forge)."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [a for a in forwarded if a]
    return forwarded[-count] if len(forwarded) >= count else remote


def address_allowed(request: Any, username: str) -> bool:
    return AxesProxyHandler.is_allowed(request, {"username": username})


def address_retry_after(request: Any, username: str) -> int:
    """Seconds until a throttled address may try this username again."""
    AxesProxyHandler.update_request(request)
    handler = AxesProxyHandler.get_implementation()
    assert isinstance(handler, LoginThrottle)
    return handler.retry_after(request, {"username": username})


def forget_address_failures(request: Any, username: str) -> None:
    """After a good password: this address's failures for this account only (its failures
    for other accounts still count, so one's own login cannot reset a guessing address)."""
    AxesProxyHandler.update_request(request)
    AxesProxyHandler.reset_attempts(ip_address=request.axes_ip_address, username=username)


def forget_account_failures(username: str) -> None:
    """An admin's unlock: every address's failures for this account."""
    AxesProxyHandler.reset_attempts(username=username)
