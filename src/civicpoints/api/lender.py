"""The lender API (``/api/v1/lender/...``): a registered lender reads the records households
consented to share with it, read only, with its own ``l.`` key.

Thin: ``credit`` authenticates the key, resolves consents and builds records; this module
parses and renders. Staff and resident tokens are 401 here, and a lender key is 401 everywhere
else (``BearerToken`` refuses ``l.`` tokens).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.security import HttpBearer

from civicpoints.credit.lenders import lender_key_authenticate
from civicpoints.schemes.scope import Actor


class LenderKey(HttpBearer):
    """``Authorization: Bearer l.…``: a lender's key, issued by the county (one query, nothing
    cached: a revoked or expired key, or a suspended lender, is 401 on the next request)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = lender_key_authenticate(token=token)
        if key is None:
            return None
        request.lender_key = key  # type: ignore[attr-defined]
        request.lender = key.lender  # type: ignore[attr-defined]
        request.actor = Actor(user_id=None)  # type: ignore[attr-defined]
        request.household = None  # type: ignore[attr-defined]
        return key


router = Router(tags=["lender"], auth=LenderKey())


class LenderMeOut(Schema):
    name: str
    code: str
    scheme: str
    key_prefix: str
    key_expires_at: dt.datetime


@router.get("/me", response={200: LenderMeOut}, summary="本机构与所用密钥")
def me(request: HttpRequest) -> dict[str, Any]:
    key = request.lender_key  # type: ignore[attr-defined]
    return {
        "name": key.lender.name,
        "code": key.lender.code,
        "scheme": key.lender.scheme.name,
        "key_prefix": key.prefix,
        "key_expires_at": key.expires_at,
    }
