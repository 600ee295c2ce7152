"""POST /auth/token: a staff bearer token from username and password (with lockout).

POST /auth/resident-token: a resident's bearer token from the card code and PIN (the same
lockout as the phone pages: 5 wrong PINs lock the card for 15 minutes).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Printable
from civicpoints.households.services import resident_token_issue
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


class ResidentTokenIn(Schema):
    card: Printable = Field(
        min_length=1, max_length=32, description="积分卡卡号（或卡上二维码的内容）"
    )
    # Only hashed and compared, never stored or searched as given.
    pin: str = Field(min_length=1, max_length=12)


class ResidentTokenOut(Schema):
    token: str
    expires_at: datetime
    household: int
    head_name: str
    village: int
    village_name: str


@router.post(
    "/resident-token",
    auth=None,
    response={200: ResidentTokenOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def resident_token(request: HttpRequest, body: ResidentTokenIn) -> JsonResponse:
    raw, row = resident_token_issue(card_code=body.card, pin=body.pin)
    household = row.household
    out = ResidentTokenOut(
        token=raw,
        expires_at=row.expires_at,
        household=household.pk,
        head_name=household.head_name,
        village=household.village_id,
        village_name=household.village.name,
    )
    response = JsonResponse(out.model_dump(mode="json"))
    response["Cache-Control"] = "no-store"
    return response
