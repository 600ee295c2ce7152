"""The benchmark floor of the API: the cheapest call a bearer token can make.

``civicpoints bench counter`` measures the counter redemption against it on the same server:
it goes through the middleware, django-ninja and the bearer token (the token, its user and
the user's grants), then answers ``{"ok": true}``. It answers 404 unless the server runs with
``CIVICPOINTS_BENCH=1`` and is left out of the OpenAPI schema, so a deployment exposes nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from ninja import Router

router = Router(tags=["bench"])


@router.get("/floor", include_in_schema=False)
def floor(request: HttpRequest) -> dict[str, Any]:
    if not settings.BENCH_FLOOR:
        raise Http404
    return {"ok": True}
