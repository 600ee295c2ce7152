"""Reading the audit log: who may, and which rows they see. Never writes.

County admins and auditors read the events of their schemes under the regions they are
granted (``schemes.scope``). An event on the whole scheme (no region: a rule, a fund, a
settlement) is seen by those whose grant covers the scheme's own region; a staff login (no
scheme) by those who may see a grant of that member of staff. Village and township admins
do not read the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.calendar import day_bounds, day_start
from civicpoints.errors import invalid
from civicpoints.schemes.models import Region, RegionLevel, Role, RoleGrant, Scheme, User
from civicpoints.schemes.scope import Actor, parse_id, scope_q
from civicpoints.schemes.selectors import schemes_governed, schemes_granted

AUDIT_READERS = frozenset({Role.COUNTY_ADMIN, Role.AUDITOR})


def may_read_audit(actor: Actor) -> bool:
    return bool(actor.grants_for(AUDIT_READERS))


def audit_schemes(actor: Actor) -> list[Scheme]:
    """The schemes whose audit log the actor reads (any part of it)."""
    return schemes_granted(actor, AUDIT_READERS)


def _whole_schemes(actor: Actor) -> list[int]:
    """Schemes where a grant covers the scheme's own region (so its scheme-wide events)."""
    return [s.pk for s in schemes_governed(actor, AUDIT_READERS)]


def audit_visible(actor: Actor) -> QuerySet[AuditEvent]:
    """Every audit event the actor may read."""
    if not may_read_audit(actor):
        return AuditEvent.objects.none()
    staff_in_scope = RoleGrant.objects.filter(
        scope_q(actor, region_path_field="region__path", roles=AUDIT_READERS)
    ).values("user_id")
    visible = (
        scope_q(actor, region_path_field="region__path", roles=AUDIT_READERS)
        | Q(region__isnull=True, scheme_id__in=_whole_schemes(actor))
        | Q(scheme__isnull=True, actor_id__in=staff_in_scope)
    )
    return AuditEvent.objects.filter(visible)


def audit_regions(actor: Actor) -> list[Region]:
    """Townships and villages the actor reads the log of (the choices of the region filter)."""
    grants = actor.grants_for(AUDIT_READERS)
    if not grants:
        return []
    inside = Q(pk__in=[])
    for g in grants:
        inside |= Q(path__startswith=g.region_path)
    return list(
        Region.objects.filter(
            inside, level__in=[RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
        ).order_by("path")
    )


def audit_actors(actor: Actor) -> list[User]:
    """Staff granted a role inside the actor's regions (the choices of the actor filter)."""
    ids = RoleGrant.objects.filter(
        scope_q(actor, region_path_field="region__path", roles=AUDIT_READERS)
    ).values("user_id")
    return list(User.objects.filter(pk__in=ids).order_by("display_name", "username"))


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    action: AuditAction | None = None
    region: Region | None = None
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive


def _day(raw: str, field: str) -> dt.date | None:
    raw = (raw or "").strip()[:10]
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise invalid(_("日期应写成 2026-11-02 这样的格式"), field=field) from None


def audit_filter(actor: Actor, params: dict[str, str]) -> AuditFilter:
    """The filter from a page's query (``actor``, ``action``, ``region``, ``from``, ``to``).

    An unknown action or a region outside the actor's is a clear error (never ignored, so
    nobody reads an unfiltered list believing it filtered)."""
    action = (params.get("action") or "").strip()
    if action and action not in AuditAction.values:
        raise invalid(_("没有这种操作"), field="action")
    who = (params.get("actor") or "").strip()
    actor_id = parse_id(who) if who else None
    if who and actor_id is None:
        raise invalid(_("操作人无效"), field="actor")
    region = None
    code = (params.get("region") or "").strip()
    if code:
        region = next((r for r in audit_regions(actor) if r.code == code), None)
        if region is None:
            raise invalid(_("只能按您管辖范围内的乡镇或村筛选"), field="region")
    since, until = _day(params.get("from", ""), "from"), _day(params.get("to", ""), "to")
    if since and until and since > until:
        raise invalid(_("开始日期不能晚于结束日期"), field="from")
    return AuditFilter(
        actor_id=actor_id,
        action=AuditAction(action) if action else None,
        region=region,
        since=since,
        until=until,
    )


def audit_events(actor: Actor, wanted: AuditFilter) -> QuerySet[AuditEvent]:
    """The events the actor may read that match ``wanted``, newest first."""
    rows = audit_visible(actor)
    if wanted.actor_id is not None:
        rows = rows.filter(actor_id=wanted.actor_id)
    if wanted.action is not None:
        rows = rows.filter(action=wanted.action)
    if wanted.region is not None:
        rows = rows.filter(region__path__startswith=wanted.region.path)
    if wanted.since is not None:
        rows = rows.filter(created_at__gte=day_start(wanted.since))
    if wanted.until is not None:
        rows = rows.filter(created_at__lt=day_bounds(wanted.until)[1])
    return rows.order_by("-created_at", "-pk")
