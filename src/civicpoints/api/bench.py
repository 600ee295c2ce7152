"""Two trivial operations for ``civicpoints bench api-auth``: the same small answer with and
without bearer authentication, so that the difference between them is what authenticating a
request costs (benchmarks/api_auth.py). Mounted only when the server runs with
``CIVICPOINTS_BENCH=1`` (like ``/bench/floor/``) and never in the OpenAPI schema.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

router = Router(tags=["bench"])


@router.get("/floor", auth=None, include_in_schema=False)
def floor(request: HttpRequest) -> dict:
    return {"grants": 0}


@router.get("/auth", include_in_schema=False)
def authenticated(request: HttpRequest) -> dict:
    return {"grants": len(request.actor.grants)}  # type: ignore[attr-defined]
