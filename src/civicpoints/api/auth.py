"""POST /auth/token: a staff bearer token from username and password (with lockout)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Printable
from civicpoints.schemes.models import RoleGrant
from civicpoints.schemes.services import api_token_issue, staff_login

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: Printable = Field(min_length=1, max_length=150)
    # Any characters: a password is only hashed, never stored or searched as given.
    password: str = Field(min_length=1, max_length=200)


class GrantOut(Schema):
    scheme: int
    region: int
    region_name: str
    role: str


class TokenOut(Schema):
    token: str
    expires_at: datetime
    username: str
    grants: list[GrantOut]


@router.post("/token", auth=None, response={200: TokenOut, 401: ErrorOut, 429: ErrorOut})
def token(request: HttpRequest, body: TokenIn) -> dict:
    user = staff_login(username=body.username, password=body.password)
    raw, row = api_token_issue(user=user)
    grants = RoleGrant.objects.filter(user=user).select_related("region")
    return {
        "token": raw,
        "expires_at": row.expires_at,
        "username": user.username,
        "grants": [
            {
                "scheme": g.scheme_id,
                "region": g.region_id,
                "region_name": g.region.name,
                "role": g.role,
            }
            for g in grants
        ],
    }
