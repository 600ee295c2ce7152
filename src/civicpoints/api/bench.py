"""Trivial operations for ``civicpoints bench api-auth``: the same small answer without and with
bearer authentication, so that the difference between them is what authenticating a request
costs (benchmarks/api_auth.py); ``/session`` is the counter page's session, the offline
sync's floor (benchmarks/counter_offline.py); ``/auth`` is also the floor ``civicpoints bench counter`` measures
the counter redemption against (benchmarks/counter_http.py). They answer 404 unless the server runs with
``CIVICPOINTS_BENCH=1`` (like ``/bench/floor/``) and are never in the OpenAPI schema.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest
from ninja import Router

from civicpoints.api.security import CounterSession

router = Router(tags=["bench"])


def _bench_only() -> None:
    if not settings.BENCH_FLOOR:
        raise Http404


@router.get("/floor", auth=None, include_in_schema=False)
def floor(request: HttpRequest) -> dict:
    _bench_only()
    return {"grants": 0}


@router.get("/db", auth=None, include_in_schema=False)
def database_floor(request: HttpRequest) -> dict:
    """The floor plus the cheapest query: a connection from the pool and one round trip."""
    _bench_only()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 0")
        (grants,) = cursor.fetchone()
    return {"grants": grants}


@router.get("/auth", include_in_schema=False)
def authenticated(request: HttpRequest) -> dict:
    """Bearer authentication (a staff or a resident token) and nothing else."""
    _bench_only()
    return {"grants": len(request.actor.grants)}  # type: ignore[attr-defined]


@router.get("/session", auth=CounterSession(), include_in_schema=False)
def session_authenticated(request: HttpRequest) -> dict:
    """The counter page's session (the offline sync's authentication) and nothing else: the
    floor ``benchmarks/counter_offline.py`` sets beside the bearer token's."""
    _bench_only()
    return {"grants": len(request.actor.grants)}  # type: ignore[attr-defined]
