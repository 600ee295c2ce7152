"""Writes for regions, schemes, grants and staff login (with lockout)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.schemes.models import ApiToken, Region, RegionLevel, RoleGrant, Scheme, User


def region_path(code: str, parent: Region | None) -> str:
    return f"{parent.path if parent else ''}{code}/"


def region_create(*, code: str, name: str, level: int, parent: Region | None = None) -> Region:
    if not (len(code) == 12 and code.isascii() and code.isdigit()):
        raise invalid(_("行政区划代码应为12位数字"), field="code")
    if parent is not None and parent.level >= level:
        raise invalid(_("下级区划的级别必须低于上级"), field="level")
    region = Region(
        code=code, name=name, level=level, parent=parent, path=region_path(code, parent)
    )
    region.full_clean()
    region.save()
    return region


def region_get_or_create(*, code: str, name: str, level: int, parent: Region | None) -> Region:
    existing = Region.objects.filter(code=code).first()
    return existing or region_create(code=code, name=name, level=level, parent=parent)


def scheme_create(
    *,
    name: str,
    operator_region: Region,
    yuan_per_point: Decimal = Decimal("1.00"),
    notice_days: int = 3,
) -> Scheme:
    if operator_region.level > RegionLevel.VILLAGE:
        raise invalid(_("运营区域无效"), field="operator_region")
    scheme = Scheme(
        name=name,
        operator_region=operator_region,
        yuan_per_point=yuan_per_point,
        notice_days=notice_days,
    )
    scheme.full_clean()
    scheme.save()
    return scheme


def role_grant(*, user: User, scheme: Scheme, region: Region, role: str) -> RoleGrant:
    if not region.path.startswith(scheme.operator_region.path):
        raise invalid(_("授权区域不在该方案的运营区域内"), field="region")
    grant, _created = RoleGrant.objects.get_or_create(
        user=user, scheme=scheme, region=region, role=role
    )
    return grant


def staff_login(*, username: str, password: str) -> User:
    """Check a staff password, counting failures; a locked account waits, whatever it sends."""
    now = timezone.now()
    user = User.objects.filter(username=username).first()
    if user is not None and user.locked_until and user.locked_until > now:
        raise ApplicationError(
            ErrorCode.LOCKED_OUT, detail={"locked_until": user.locked_until.isoformat()}
        )
    authenticated = authenticate(username=username, password=password)
    if authenticated is None:
        if user is not None:
            _count_failure(user, now)
        raise ApplicationError(ErrorCode.LOGIN_FAILED)
    with transaction.atomic():
        if authenticated.failed_logins or authenticated.locked_until:
            User.objects.filter(pk=authenticated.pk).update(failed_logins=0, locked_until=None)
        audit_record(actor_id=authenticated.pk, scheme_id=None, action=AuditAction.STAFF_LOGIN)
    return authenticated


def _count_failure(user: User, now: datetime) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
        user.refresh_from_db(fields=["failed_logins"])
        audit_record(
            actor_id=user.pk,
            scheme_id=None,
            action=AuditAction.STAFF_LOGIN_FAILED,
            detail={"failures": user.failed_logins},
        )
        if user.failed_logins >= settings.LOGIN_FAILURE_LIMIT:
            lock = now + timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
            User.objects.filter(pk=user.pk).update(locked_until=lock, failed_logins=0)
            audit_record(
                actor_id=user.pk,
                scheme_id=None,
                action=AuditAction.STAFF_LOCKED,
                detail={"locked_until": lock.isoformat()},
            )


def staff_unlock(*, actor_id: int | None, user: User) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        audit_record(
            actor_id=actor_id,
            scheme_id=None,
            action=AuditAction.STAFF_UNLOCK,
            detail={"user": user.pk},
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_issue(*, user: User) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    expires = timezone.now() + timedelta(seconds=settings.API_TOKEN_TTL_SECONDS)
    row = ApiToken.objects.create(user=user, key_hash=_token_hash(token), expires_at=expires)
    return token, row


def api_token_user(*, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(token), expires_at__gt=timezone.now())
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    return row.user
