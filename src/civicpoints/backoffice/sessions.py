"""Staff sessions end 12 hours after login and after 30 idle minutes (ASVS 7.3.1, 7.3.2).

The session keeps the login time and the last time the staff member was seen, in seconds; the
last-seen time is written at most once a minute, so a busy page costs no session write per
request. Sessions without a staff login (the residents' phone pages) are left alone: they keep
Django's longer cookie life (docs/resident-access.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

LOGIN_AT = "staff_login_at"
SEEN_AT = "staff_seen_at"
SEEN_WRITE_EVERY = 60


def staff_session_started(request: HttpRequest) -> None:
    """Call right after ``login()``: the 12 hours count from here."""
    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


class StaffSessionLimits:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The session says whether someone is signed in; loading the user is left to whoever
        # needs it (the counter's sync loads it with its grants in one query).
        if request.session.get(SESSION_KEY) is not None:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = int(time.time())
        session = request.session
        login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
        if not isinstance(login_at, int) or not isinstance(seen_at, int):
            staff_session_started(request)  # logged in another way (a test's force_login)
            return
        too_old = now - login_at > settings.STAFF_SESSION_MAX_SECONDS
        idle = now - seen_at > settings.STAFF_SESSION_IDLE_SECONDS
        if too_old or idle:
            logout(request)
            messages.info(request, _("登录已超时，请重新登录"))
        elif now - seen_at >= SEEN_WRITE_EVERY:
            session[SEEN_AT] = now
