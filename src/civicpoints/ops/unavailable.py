"""503 with ``Retry-After`` while the database is away (a restart, a failover, a full pool).

A request that meets ``OperationalError`` or ``InterfaceError`` (no server, a connection cut
mid-query, a pool that gave no connection in time) gets 503 instead of a 500: the error JSON
under ``/api/``, a short Chinese page elsewhere. Nothing here touches the database, and it
never hides other errors: an ``IntegrityError`` or a bug is still a 500.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error

from civicpoints.errors import ApplicationError, ErrorCode

log = logging.getLogger("civicpoints.ops")

RETRY_AFTER_SECONDS = 10
DATABASE_AWAY = (OperationalError, InterfaceError)


def database_away(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_AWAY)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 for a request that could not reach the database."""
    log.warning("database unavailable: %s %s answered 503", request.method, request.path)
    response: HttpResponse
    if request.path.startswith("/api/"):
        error = ApplicationError(
            ErrorCode.SERVICE_UNAVAILABLE, detail={"retry_after": RETRY_AFTER_SECONDS}
        )
        response = JsonResponse(error.as_json(), status=503)
    else:
        # Rendered without the request: the context processors would query the database.
        html = render_to_string("ops/unavailable.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]  # the warning above says it
    return response


class DatabaseUnavailableMiddleware:
    """Turns a view's (or a template's) lost database into a 503 (handler500 below catches
    the same errors raised by other middleware, e.g. saving a session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if database_away(exc):
            return unavailable_response(request)
        return None


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 view, except when the error being handled is the database being away."""
    if database_away(sys.exc_info()[1]):
        return unavailable_response(request)
    return server_error(request)
