"""POST /auth/token: a staff bearer token from username and password (throttled per client
address, then a per-account lockout; see docs/security.md). POST /auth/logout ends the
presented token; POST /auth/logout-all ends every token of its user (or household).

POST /auth/resident-token: a resident's bearer token from the card code and PIN (the same
lockout as the phone pages: 5 wrong PINs lock the card for 15 minutes).

POST /auth/sms-code and /auth/resident-sms-token: the same token from a phone on file and a
texted code (one code a minute per phone, 5 minutes valid, used once; 5 wrong codes lock the
phone 15 minutes). The answer to sms-code is the same whether or not the phone is on file.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Printable
from civicpoints.households.models import ResidentToken
from civicpoints.households.services import (
    resident_token_create,
    resident_token_issue,
    resident_token_revoke,
    resident_tokens_revoke_all,
)
from civicpoints.households.sms_login import (
    CODE_TTL,
    RESEND_AFTER,
    sms_code_check,
    sms_code_request,
)
from civicpoints.schemes.models import RoleGrant
from civicpoints.schemes.services import (
    api_token_issue,
    api_token_revoke,
    api_tokens_revoke_all,
    staff_login,
)

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
    """A staff token. 401 alike for a wrong password and a name with no account; 429 while the
    address is throttled or the name locked (whether or not it exists), with ``Retry-After``
    in seconds."""
    user = staff_login(request=request, username=body.username, password=body.password)
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


class RevokedOut(Schema):
    revoked: int = Field(description="结束的令牌数")


def _presented_token(request: HttpRequest) -> str:
    """The bearer token of this request, read as ninja's HttpBearer reads it."""
    parts = request.headers.get("Authorization", "").split(" ")
    return " ".join(parts[1:]) if parts[0].lower() == "bearer" else ""


@router.post("/logout", response={200: RevokedOut, 401: ErrorOut})
def logout(request: HttpRequest) -> dict:
    """End the token this request carries (staff or resident)."""
    raw = _presented_token(request)
    if getattr(request, "household", None) is not None:
        return {"revoked": resident_token_revoke(token=raw)}
    return {"revoked": api_token_revoke(token=raw)}


@router.post("/logout-all", response={200: RevokedOut, 401: ErrorOut})
def logout_all(request: HttpRequest) -> dict:
    """End every token of the caller: all of a staff user's, or all of a household's."""
    household = getattr(request, "household", None)
    if household is not None:
        return {"revoked": resident_tokens_revoke_all(household=household)}
    user = request.auth  # type: ignore[attr-defined]
    return {
        "revoked": api_tokens_revoke_all(actor_id=user.pk, user_id=user.pk, reason="logout_all")
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
    return _resident_token_response(raw, row)


def _resident_token_response(raw: str, row: ResidentToken) -> JsonResponse:
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


class SmsCodeIn(Schema):
    phone: Printable = Field(min_length=1, max_length=32, description="11位手机号")


class SmsCodeOut(Schema):
    message: str
    expires_in: int = Field(description="验证码有效秒数")
    retry_after: int = Field(description="多少秒后才能再获取")


@router.post("/sms-code", auth=None, response={200: SmsCodeOut, 422: ErrorOut, 429: ErrorOut})
def sms_code(request: HttpRequest, body: SmsCodeIn) -> dict:
    """Text a login code to a phone on file. The same answer for a number not on file."""
    sms_code_request(phone=body.phone)
    return {
        "message": _("如果该手机号已登记，验证码已发送，5分钟内有效"),
        "expires_in": int(CODE_TTL.total_seconds()),
        "retry_after": int(RESEND_AFTER.total_seconds()),
    }


class ResidentSmsTokenIn(Schema):
    phone: Printable = Field(min_length=1, max_length=32, description="11位手机号")
    code: Printable = Field(min_length=1, max_length=12, description="短信里的6位验证码")
    household: int | None = Field(
        None,
        ge=1,
        description="手机号登记在多户时要登录的户；不填时返回 422 并在 detail.households 列出可选的户（验证码仍有效）",
    )


@router.post(
    "/resident-sms-token",
    auth=None,
    response={200: ResidentTokenOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def resident_sms_token(request: HttpRequest, body: ResidentSmsTokenIn) -> JsonResponse:
    result = sms_code_check(
        phone=body.phone, code=body.code, household_id=body.household, keep_code_to_choose=True
    )
    assert result.chosen is not None  # keep_code_to_choose: several households raise instead
    raw, row = resident_token_create(household=result.chosen)
    return _resident_token_response(raw, row)
