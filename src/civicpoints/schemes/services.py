"""Writes for regions, schemes, grants, staff login (throttle and lockout) and API tokens.

Staff login counts a try before it checks a password and never lifts a lock it did not take;
API tokens end when they expire, are revoked, or their user's password changes.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, LockedOut, invalid
from civicpoints.prepared import PreparedStatement
from civicpoints.schemes.models import (
    ApiToken,
    Region,
    RegionLevel,
    RoleGrant,
    Scheme,
    StaffSession,
    UnknownLogin,
    User,
)
from civicpoints.schemes.scope import Actor, Grant
from civicpoints.schemes.throttle import (
    address_allowed,
    address_retry_after,
    forget_account_failures,
    forget_address_failures,
)

# How long one login try holds its account while its password is checked (a killed worker's
# hold runs out by itself); other tries meanwhile are refused like a lock.
LOGIN_CHECK_LEASE_SECONDS = 10


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


def staff_login(*, request: HttpRequest, username: str, password: str) -> User:
    """Check a staff password: the address is throttled first, then the account's try is
    counted (and, at the limit, the lock taken) in a committed UPDATE before the password is
    hashed, one check per account at a time. An unknown username gets the same answers: its
    tries are counted and locked on a row of its own (``UnknownLogin``) the same way.
    """
    if not address_allowed(request, username):
        raise LockedOut(address_retry_after(request, username))
    now = timezone.now()
    user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    if user_id is None:
        unknown = UnknownLogin.objects.filter(name_hash=_name_hash(username))
        counted = _count_try(unknown, now, first=_first_unknown_try(username))
        # Unknown users are hashed too (ModelBackend runs a dummy hash), so both take as long;
        # the axes backend and its failure signal count the address either way.
        authenticate(request, username=username, password=password)
        _ours(unknown, counted, now).update(login_check_until=None)
        raise ApplicationError(ErrorCode.LOGIN_FAILED)
    rows = User.objects.filter(pk=user_id)
    counted = _count_try(rows, now)
    authenticated = authenticate(request, username=username, password=password)
    if authenticated is None:
        _try_failed(user_id, counted, now)
        raise ApplicationError(ErrorCode.LOGIN_FAILED)
    _try_passed(authenticated, counted, now)
    forget_address_failures(request, username)
    return authenticated


def _count_try(
    rows: QuerySet[Any], now: datetime, *, first: Callable[[datetime], object] | None = None
) -> int:
    """Take one of the row's tries and return the failures it counts; while the row is locked
    or another try of it is being checked, raise ``LockedOut`` with the wait. Failures older
    than the window, or from before an expired lock, are forgotten. ``first`` makes the row
    (counting one try) when there is none yet."""
    limit = settings.LOGIN_FAILURE_LIMIT
    fresh = (
        Q(login_tried_at__isnull=True)
        | Q(login_tried_at__lt=now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS))
        | Q(locked_until__isnull=False)  # an expired lock (a live one is excluded below)
    )
    reaches_limit = Q(pk__isnull=False) if limit <= 1 else ~fresh & Q(failed_logins__gte=limit - 1)
    with transaction.atomic(durable=True):  # committed before any password is hashed
        taken = (
            rows.exclude(locked_until__gt=now)
            .exclude(login_check_until__gt=now)
            .update(
                failed_logins=Case(When(fresh, then=Value(1)), default=F("failed_logins") + 1),
                # The try that reaches the limit locks before it is checked; if its password
                # is right, _try_passed lifts the lock it took.
                locked_until=Case(
                    When(reaches_limit, then=Value(_lock_end(now))),
                    default=Value(None),
                    output_field=DateTimeField(),
                ),
                login_tried_at=now,
                login_check_until=now + timedelta(seconds=LOGIN_CHECK_LEASE_SECONDS),
            )
        )
        if taken:
            return int(rows.values_list("failed_logins", flat=True).get())
        waits = rows.values_list("locked_until", "login_check_until").first()
        if waits is None and first is not None:
            try:
                with transaction.atomic():
                    first(now)
                return 1
            except IntegrityError:  # a twin's first try made the row: it is being checked
                waits = rows.values_list("locked_until", "login_check_until").first()
    ends = [t for t in waits or () if t is not None and t > now]
    wait = (max(ends) - now).total_seconds() if ends else LOGIN_CHECK_LEASE_SECONDS
    raise LockedOut(math.ceil(wait))


def _lock_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def _name_hash(username: str) -> str:
    return salted_hmac(
        "civicpoints.schemes.unknown_login", username, algorithm="sha256"
    ).hexdigest()


def _first_unknown_try(username: str) -> Callable[[datetime], object]:
    """Make an unknown name's row as its first counted try (what ``_count_try``'s UPDATE
    would have written on a fresh row), after deleting rows no try would still count."""

    def make(now: datetime) -> object:
        window = max(settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_LOCKOUT_SECONDS)
        stale = now - timedelta(seconds=window + LOGIN_CHECK_LEASE_SECONDS)
        UnknownLogin.objects.filter(login_tried_at__lt=stale).delete()
        return UnknownLogin.objects.create(
            name_hash=_name_hash(username),
            failed_logins=1,
            locked_until=_lock_end(now) if settings.LOGIN_FAILURE_LIMIT <= 1 else None,
            login_tried_at=now,
            login_check_until=now + timedelta(seconds=LOGIN_CHECK_LEASE_SECONDS),
        )

    return make


def _ours(rows: QuerySet[Any], counted: int, now: datetime) -> QuerySet[Any]:
    """The row while it still holds the try we counted (an unlock or a later try after our
    lease ran out changes it): every write after the check compares on it."""
    return rows.filter(failed_logins=counted, login_tried_at=now)


def _try_failed(user_id: int, counted: int, now: datetime) -> None:
    with transaction.atomic():
        _ours(User.objects.filter(pk=user_id), counted, now).update(login_check_until=None)
        audit_record(
            actor_id=user_id,
            scheme_id=None,
            action=AuditAction.STAFF_LOGIN_FAILED,
            detail={"failures": counted},
        )
        if counted >= settings.LOGIN_FAILURE_LIMIT:
            locked = User.objects.filter(pk=user_id).values_list("locked_until", flat=True).get()
            audit_record(
                actor_id=user_id,
                scheme_id=None,
                action=AuditAction.STAFF_LOCKED,
                detail={"locked_until": locked.isoformat() if locked else None},
            )


def _try_passed(user: User, counted: int, now: datetime) -> None:
    with transaction.atomic():
        _ours(User.objects.filter(pk=user.pk), counted, now).update(
            failed_logins=0, locked_until=None, login_tried_at=None, login_check_until=None
        )
        audit_record(actor_id=user.pk, scheme_id=None, action=AuditAction.STAFF_LOGIN)


def staff_unlock(*, actor_id: int | None, user: User) -> None:
    """Lift an account's lock and forget its failures, from every address."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            failed_logins=0, locked_until=None, login_tried_at=None, login_check_until=None
        )
        forget_account_failures(user.username)
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
    row = ApiToken.objects.create(
        user=user,
        key_hash=_token_hash(token),
        password_mark=user.get_session_auth_hash(),
        expires_at=expires,
    )
    return token, row


# A token's "last used" time is written at most this often (one guarded UPDATE).
TOKEN_USE_RECORD_SECONDS = 300

# The user's columns the bearer query reads, in the order of the model's fields (``from_db``
# wants them so); every other field of the ``User`` it builds is deferred.
_TOKEN_USER_FIELDS = tuple(
    f.attname
    for f in User._meta.concrete_fields
    if f.attname in {"id", "password", "username", "is_active"}
)


def _with_user_and_grants(first: str, source: str, where: str) -> PreparedStatement:
    """``first`` columns, then the user's (``_TOKEN_USER_FIELDS``) and a grant's, from
    ``source`` (which calls the user ``u``) with the user's grants joined: one row per grant,
    one with NULL grant columns when the user has none. Only table and column names from the
    models are formatted in; every value is a parameter."""
    grant, region = RoleGrant._meta.db_table, Region._meta.db_table
    user_columns = ", ".join(f"u.{name}" for name in _TOKEN_USER_FIELDS)
    return PreparedStatement(
        sql=(
            f"SELECT {first}{user_columns}, g.scheme_id, g.region_id, r.path, g.role "  # noqa: S608
            f"FROM {source} "
            f"LEFT JOIN {grant} g ON g.user_id = u.id LEFT JOIN {region} r ON r.id = g.region_id "
            f"WHERE {where} ORDER BY g.id"
        ),
    )


def _token_statement() -> PreparedStatement:
    """Token, user and grants in one statement; no row when the token is unknown or expired or
    the user inactive."""
    token, user = ApiToken._meta.db_table, User._meta.db_table
    return _with_user_and_grants(
        "t.id, t.password_mark, (t.last_used_at IS NULL OR t.last_used_at < %s), ",
        f"{token} t JOIN {user} u ON u.id = t.user_id",
        "t.key_hash = %s AND t.expires_at > %s AND u.is_active",
    )


_TOKEN_STATEMENT = _token_statement()


def api_token_authenticate(*, token: str) -> tuple[User, Actor] | None:
    """The active user a live token belongs to and the actor with their grants, from ONE query;
    None when the token is unknown, expired, revoked (its row is deleted), issued before the
    user's password last changed, or the user is inactive.

    Nothing is cached: every request reads the token row, so a revocation, a password change
    or a deactivation takes effect on the very next request. The returned ``User`` holds the
    columns read (id, username, password, is_active); any other field loads when touched.
    """
    if not token or len(token) > 200:
        return None
    now = timezone.now()
    stale = now - timedelta(seconds=TOKEN_USE_RECORD_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    rows = _TOKEN_STATEMENT.fetchall([adapt(stale), _token_hash(token), adapt(now)])
    if not rows:
        return None
    token_id, mark, not_recorded_lately = rows[0][:3]
    user_values = list(rows[0][3 : 3 + len(_TOKEN_USER_FIELDS)])
    user_values[_TOKEN_USER_FIELDS.index("is_active")] = True  # SQLite reads 1; the query checked
    user = User.from_db(connection.alias, list(_TOKEN_USER_FIELDS), user_values)
    if not constant_time_compare(mark, user.get_session_auth_hash()):
        return None
    if not_recorded_lately:
        ApiToken.objects.filter(pk=token_id).exclude(last_used_at__gte=stale).update(
            last_used_at=now
        )
    first_grant = 3 + len(_TOKEN_USER_FIELDS)
    grants = tuple(Grant(*row[first_grant:]) for row in rows if row[first_grant] is not None)
    return user, Actor(user_id=user.pk, username=user.username, grants=grants)


def _session_statement() -> PreparedStatement:
    """A user and their grants in one statement (the counter page's session, api/security.py);
    no row when the user is inactive or gone."""
    return _with_user_and_grants("", f"{User._meta.db_table} u", "u.id = %s AND u.is_active")


_SESSION_STATEMENT = _session_statement()


def _session_auth_hash(user: User, secret: str | bytes) -> str:
    """``AbstractBaseUser.get_session_auth_hash`` under ``secret`` (Django's own salt)."""
    salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
    return salted_hmac(salt, user.password, secret=secret, algorithm="sha256").hexdigest()


def sessions_clear_expired(now: datetime | None = None) -> int:
    """Delete the page sessions past their expiry (the scheduler's ``sessions_clear``, as
    Django's ``clearsessions`` would): an expired row is never read again, only kept."""
    now = now or timezone.now()
    deleted, _by_model = StaffSession.objects.filter(expire_date__lt=now).delete()
    return deleted


def session_load_statement() -> PreparedStatement:
    """A page session's row by its key, unexpired, with its signed-in user (active) and their
    grants (schemes/session_store.py): the session's data, then the columns
    ``session_user_authenticate`` reads. Parameters: the session key, now."""
    session, user = StaffSession._meta.db_table, User._meta.db_table
    return _with_user_and_grants(
        "s.session_data, ",
        f"{session} s LEFT JOIN {user} u ON u.id = s.user_id AND u.is_active",
        "s.session_key = %s AND s.expire_date > %s",
    )


def session_user_authenticate(
    *, user_id: int, session_hash: str, read: list[tuple[Any, ...]] | None = None
) -> tuple[User, Actor] | None:
    """The active user a staff session names and the actor with their grants, in ONE query, as
    ``django.contrib.auth.get_user`` decides it: None when the user is gone or inactive, or the
    session's hash no longer matches (the password changed since the login). ``read``: the
    user and grant columns the session's own read brought (``session_load_statement``), when
    they are this user's: then no query at all."""
    rows = read if read and read[0][0] == user_id else _SESSION_STATEMENT.fetchall([user_id])
    if not rows:
        return None
    user_values = list(rows[0][: len(_TOKEN_USER_FIELDS)])
    user_values[_TOKEN_USER_FIELDS.index("is_active")] = True
    user = User.from_db(connection.alias, list(_TOKEN_USER_FIELDS), user_values)
    if not any(
        constant_time_compare(session_hash, _session_auth_hash(user, secret))
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ):
        return None
    first_grant = len(_TOKEN_USER_FIELDS)
    grants = tuple(Grant(*row[first_grant:]) for row in rows if row[first_grant] is not None)
    return user, Actor(user_id=user.pk, username=user.username, grants=grants)


def api_token_revoke(*, token: str) -> int:
    """Logout: the presented token ends now. Returns how many tokens ended (0 or 1)."""
    with transaction.atomic():
        row = ApiToken.objects.filter(key_hash=_token_hash(token)).first()
        if row is None:
            return 0
        row.delete()
        audit_record(actor_id=row.user_id, scheme_id=None, action=AuditAction.STAFF_LOGOUT)
        return 1


def api_tokens_revoke_all(*, actor_id: int | None, user_id: int, reason: str) -> int:
    """Every API token of one user ends now (logout everywhere, an admin's revoke, a password
    change, a deactivation). Returns how many ended."""
    with transaction.atomic():
        count, _deleted = ApiToken.objects.filter(user_id=user_id).delete()
        if count:
            audit_record(
                actor_id=actor_id,
                scheme_id=None,
                action=AuditAction.STAFF_TOKENS_REVOKED,
                detail={"user": user_id, "count": count, "reason": reason},
            )
        return count


def api_tokens_revoke(*, actor_id: int | None, tokens: Any) -> int:
    """Chosen tokens end now (the admin's list). ``tokens``: a queryset of ApiToken."""
    with transaction.atomic():
        rows = list(tokens.values_list("pk", "user_id"))
        count, _deleted = ApiToken.objects.filter(pk__in=[pk for pk, _u in rows]).delete()
        for pk, user_id in rows:
            audit_record(
                actor_id=actor_id,
                scheme_id=None,
                action=AuditAction.STAFF_TOKENS_REVOKED,
                detail={"user": user_id, "token": pk, "reason": "admin"},
            )
        return count
