"""Budgets: funds in (grants, donations) and each village's yearly quota of award points."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.models import Fund, FundKind, VillageQuota
from civicpoints.errors import invalid
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.schemes.models import Region, RegionLevel, Role, Scheme
from civicpoints.schemes.scope import Actor, require_role

BUDGET_ROLES = frozenset({Role.COUNTY_ADMIN})
QUOTA_ROLES = frozenset({Role.COUNTY_ADMIN, Role.TOWNSHIP_ADMIN})


def fund_record(
    *,
    actor: Actor,
    scheme: Scheme,
    kind: str,
    amount_fen: int,
    source: str,
    received_on: dt.date,
    note: str = "",
) -> Fund:
    require_role(
        actor,
        roles=BUDGET_ROLES,
        scheme_id=scheme.pk,
        region_path=scheme.operator_region.path,
        action="budget.fund",
    )
    if kind not in FundKind.values:
        raise invalid(_("资金来源无效"), field="kind")
    if not isinstance(amount_fen, int) or not 0 < amount_fen <= 10**14:
        raise invalid(_("金额必须为正数"), field="amount")
    source = (source or "").strip()
    if not source or len(source) > 100:
        raise invalid(_("请填写拨款单位或捐赠人（最多100个字）"), field="source")
    with transaction.atomic():
        fund = Fund.objects.create(
            scheme=scheme,
            kind=kind,
            amount_fen=amount_fen,
            source=source,
            received_on=received_on,
            note=note[:200],
            created_by_id=actor.user_id,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.BUDGET_FUND,
            obj=fund,
            detail={"amount_fen": amount_fen, "kind": kind},
        )
    return fund


def quota_set(
    *, actor: Actor, scheme: Scheme, village: Region, year: int, points: int
) -> VillageQuota:
    require_role(
        actor,
        roles=QUOTA_ROLES,
        scheme_id=scheme.pk,
        region_path=village.path,
        action="budget.quota",
    )
    if village.level != RegionLevel.VILLAGE or not village.path.startswith(
        scheme.operator_region.path
    ):
        raise invalid(_("只能给本方案的村设定额度"), field="village")
    if not 2000 <= year <= 2100:
        raise invalid(_("年度无效"), field="year")
    if not isinstance(points, int) or not 0 <= points <= MAX_HUNDREDTHS:
        raise invalid(_("额度必须为非负数"), field="points")
    with transaction.atomic():
        quota, _created = VillageQuota.objects.update_or_create(
            scheme=scheme, village=village, year=year, defaults={"points": points}
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.BUDGET_QUOTA,
            obj=quota,
            detail={"village": village.code, "year": year, "points": points},
        )
    return quota
