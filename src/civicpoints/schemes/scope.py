"""Who may see and touch what: the one place that turns role grants into query filters.

Every selector takes an ``Actor`` and narrows its queryset with ``scoped()``; an object outside
the result is reported as not found (404), never as forbidden, so ids of other villages and
schemes reveal nothing. Role checks for actions inside the scope raise ``PermissionDenied``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db.models import F, Model, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Concat

from civicpoints.errors import NotFound, PermissionDenied
from civicpoints.schemes.models import Role, RoleGrant

M = TypeVar("M", bound=Model)

MAX_ID = 2**62  # ids beyond this cannot exist (BIGINT) and must not reach the database
STAFF_ROLES = frozenset(Role.values)
ADMIN_ROLES = frozenset({Role.COUNTY_ADMIN, Role.TOWNSHIP_ADMIN, Role.VILLAGE_ADMIN})
# Who may read households (counter staff find residents; auditors read everything).
# Merchants identify a payer by a payment code, never by browsing households (privacy).
HOUSEHOLD_READERS = STAFF_ROLES - {Role.MERCHANT_CLERK}


@dataclass(frozen=True)
class Grant:
    scheme_id: int
    region_id: int
    region_path: str
    role: str


@dataclass(frozen=True)
class Actor:
    """The person acting: a staff user with grants (or later a resident with a household)."""

    user_id: int | None
    username: str = ""
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    def grants_for(self, roles: Iterable[str]) -> list[Grant]:
        wanted = set(roles)
        return [g for g in self.grants if g.role in wanted]

    @property
    def scheme_ids(self) -> set[int]:
        return {g.scheme_id for g in self.grants}

    def covers(self, *, roles: Iterable[str], scheme_id: int, region_path: str) -> bool:
        return any(
            g.scheme_id == scheme_id and region_path.startswith(g.region_path)
            for g in self.grants_for(roles)
        )


def actor_for_user(user: Any) -> Actor:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Actor(user_id=None)
    rows = RoleGrant.objects.filter(user_id=user.pk).values_list(
        "scheme_id", "region_id", "region__path", "role"
    )
    return Actor(
        user_id=user.pk,
        username=user.username,
        grants=tuple(Grant(*row) for row in rows),
    )


def scope_q(actor: Actor, *, region_path_field: str, roles: Iterable[str] = STAFF_ROLES) -> Q:
    """A filter matching rows in the actor's schemes under the regions granted for ``roles``."""
    q = Q(pk__in=[])
    for g in actor.grants_for(roles):
        q |= Q(scheme_id=g.scheme_id, **{f"{region_path_field}__startswith": g.region_path})
    return q


def ancestor_paths(path: str) -> list[str]:
    """ "a/b/c/" -> ["a/", "a/b/", "a/b/c/"]: the region and every region above it."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def reach_q(actor: Actor, *, roles: Iterable[str], region_path_field: str = "region__path") -> Q:
    """Rows of a region under one of the actor's grants or above it (a county's activity or
    campaign reaches the staff of every village in it)."""
    q = Q(pk__in=[])
    for g in actor.grants_for(roles):
        q |= Q(scheme_id=g.scheme_id) & (
            Q(**{f"{region_path_field}__startswith": g.region_path})
            | Q(**{f"{region_path_field}__in": ancestor_paths(g.region_path)})
        )
    return q


def scope_key(*, region_path_field: str) -> Concat:
    """``"<scheme id>:<region path>"`` of a row, for ``scope_key_q``."""
    return Concat(
        Cast("scheme_id", output_field=TextField()),
        Value(":"),
        F(region_path_field),
        output_field=TextField(),
    )


def scope_key_q(actor: Actor, *, key_field: str, roles: Iterable[str] = STAFF_ROLES) -> Q:
    """The rows of ``scope_q`` as one filter on a ``scope_key`` alias, which no index serves.

    For a query that must be driven by an index of its own (a search): without column
    statistics PostgreSQL takes ``scheme_id = 1`` for 0.5 % of the rows and a path filter on
    the regions for one row, and would read every row in scope through the scheme or the
    (scheme, village) index. As one expression over both, the scope is checked on the rows the
    other index finds. Lists of the whole scope want ``scope_q`` (the indexes then help).
    """
    q = Q(pk__in=[])
    for g in actor.grants_for(roles):
        q |= Q(**{f"{key_field}__startswith": f"{g.scheme_id}:{g.region_path}"})
    return q


def scoped(
    actor: Actor,
    queryset: QuerySet[M],
    *,
    region_path_field: str,
    roles: Iterable[str] = STAFF_ROLES,
) -> QuerySet[M]:
    return queryset.filter(scope_q(actor, region_path_field=region_path_field, roles=roles))


def parse_id(value: object) -> int | None:
    """An id from a path or a body, or None: only plain ASCII digits, only ids that can exist.

    ``int()`` alone would also take "１２" (full-width), " 12", "1_2" and "+12" for 12.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        pk = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        pk = int(value)
    else:
        return None
    return pk if 0 < pk < MAX_ID else None


def one_or_404(queryset: QuerySet[M], pk: Any, what: str) -> M:
    """The row with this id from an already scoped queryset, or NotFound (never a 403)."""
    parsed = parse_id(pk)
    found = queryset.filter(pk=parsed).first() if parsed is not None else None
    if found is None:
        raise NotFound(what)
    return found


def get_scoped(
    actor: Actor,
    queryset: QuerySet[M],
    pk: Any,
    *,
    region_path_field: str,
    roles: Iterable[str] = STAFF_ROLES,
    what: str = "",
) -> M:
    parsed = parse_id(pk)
    if parsed is None:
        raise NotFound(what)
    obj = scoped(actor, queryset, region_path_field=region_path_field, roles=roles).filter(
        pk=parsed
    )
    found = obj.first()
    if found is None:
        raise NotFound(what)
    return found


def require_role(
    actor: Actor, *, roles: Iterable[str], scheme_id: int, region_path: str, action: str
) -> None:
    if not actor.covers(roles=roles, scheme_id=scheme_id, region_path=region_path):
        raise PermissionDenied(action)
