"""Claims of a month (for a village, a township or the whole scheme) as the evaluation sheet.

The same columns as the template plus the card code (so the file imports again even with
masked IDs), points and status. ID numbers and phones are shown in full only to admins of the
claim's village (county, township or village admin); everyone else who may read claims gets
them masked. Rows are streamed in chunks; every export is audited.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.awards.importing.sheet import write_csv, write_xlsx
from civicpoints.awards.models import ClaimStatus
from civicpoints.awards.selectors import CLAIM_READERS, claims_visible
from civicpoints.errors import NotFound, invalid
from civicpoints.households import crypto
from civicpoints.households.models import Member, Relation, mask_phone
from civicpoints.ledger.amounts import format_points
from civicpoints.schemes.models import Region, RegionLevel, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor

CHUNK = 2000
EXPORTED = (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED, ClaimStatus.ON_NOTICE, ClaimStatus.POSTED)
STATUS_LABEL = dict(ClaimStatus.choices)
MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
FIELDS = (
    "pk",
    "village__parent__name",
    "village__name",
    "village__path",
    "household_id",
    "household__head_name",
    "household__phone",
    "household__card_code",
    "member_id",
    "member__name",
    "member__id_number_encrypted",
    "member__id_number_masked",
    "rule__code",
    "rule__name",
    "quantity",
    "occurred_on",
    "note",
    "witness",
    "points",
    "is_deduction",
    "status",
)


@dataclass(frozen=True)
class ExportResult:
    rows: int
    full_ids: int  # rows whose ID number was written in full


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    found = MONTH.match((text or "").strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise invalid(_("月份应写成 2026-11 这样的格式"), field="month")
    first = dt.date(int(found.group(1)), int(found.group(2)), 1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, last


def export_region(scheme: Scheme, code: str | None) -> Region:
    """The village or township named by its division code (the whole scheme if none)."""
    top = scheme.operator_region
    if not code:
        return top
    region = Region.objects.filter(code=code.strip()).first()
    if region is None or not region.path.startswith(top.path):
        raise NotFound("region")
    return region


def _quantity(value: Decimal) -> Decimal:
    return value.to_integral_value() if value == value.to_integral_value() else value.normalize()


class _Rows:
    def __init__(self, actor: Actor, scheme: Scheme) -> None:
        self.actor = actor
        self.scheme = scheme
        self.admin: dict[str, bool] = {}
        self.full_ids = 0

    def is_admin(self, path: str) -> bool:
        if path not in self.admin:
            self.admin[path] = self.actor.covers(
                roles=ADMIN_ROLES, scheme_id=self.scheme.pk, region_path=path
            )
        return self.admin[path]

    def rows(self, values: Iterator[tuple[Any, ...]]) -> Iterator[list[Any]]:
        chunk: list[dict[str, Any]] = []
        for value in values:
            chunk.append(dict(zip(FIELDS, value, strict=True)))
            if len(chunk) == CHUNK:
                yield from self._chunk(chunk)
                chunk = []
        yield from self._chunk(chunk)

    def _chunk(self, chunk: list[dict[str, Any]]) -> Iterator[list[Any]]:
        # One query per chunk for the heads of households whose claims name no member.
        heads = {
            household_id: (name, encrypted, masked)
            for household_id, name, encrypted, masked in Member.objects.filter(
                household_id__in={c["household_id"] for c in chunk if c["member_id"] is None},
                relation=Relation.HEAD,
            )
            .order_by("-pk")
            .values_list("household_id", "name", "id_number_encrypted", "id_number_masked")
        }
        for c in chunk:
            if c["member_id"] is not None:
                name = c["member__name"]
                encrypted, masked = c["member__id_number_encrypted"], c["member__id_number_masked"]
            else:
                name = c["household__head_name"]
                _, encrypted, masked = heads.get(c["household_id"], ("", "", ""))
            full = self.is_admin(c["village__path"])
            if full and encrypted:
                id_number = crypto.decrypt(encrypted)
                self.full_ids += 1
            else:
                id_number = masked
            phone = c["household__phone"]
            yield [
                c["village__parent__name"] or "",
                c["village__name"],
                name,
                id_number,
                phone if full else mask_phone(phone),
                c["rule__code"],
                c["rule__name"],
                _quantity(c["quantity"]),
                c["occurred_on"],
                c["note"],
                c["witness"],
                c["household__card_code"],
                _signed_points(c["points"], c["is_deduction"]),
                str(STATUS_LABEL.get(c["status"], c["status"])),
            ]


def claims_export(
    *,
    actor: Actor,
    scheme: Scheme,
    month: str,
    region_code: str | None = None,
    fmt: str = "xlsx",
    out: io.BytesIO | Any,
) -> ExportResult:
    """Write the month's claims in the actor's scope to ``out`` (xlsx, or CSV as utf-8-sig)."""
    if fmt not in ("xlsx", "csv"):
        raise invalid(_("格式只能是 xlsx 或 csv"), field="format")
    if not any(g.scheme_id == scheme.pk for g in actor.grants):
        raise NotFound("scheme")
    first, last = parse_month(month)
    region = export_region(scheme, region_code)
    claims = (
        claims_visible(actor)
        .filter(
            scheme_id=scheme.pk,
            village__path__startswith=region.path,
            occurred_on__range=(first, last),
            status__in=EXPORTED,
        )
        .order_by("village__code", "household_id", "occurred_on", "rule__code", "pk")
        .values_list(*FIELDS)
    )
    builder = _Rows(actor, scheme)
    with transaction.atomic():
        rows = builder.rows(claims.iterator(chunk_size=CHUNK))
        if fmt == "csv":
            text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
            count = write_csv(rows, text)
            text.flush()
            text.detach()
        else:
            count = write_xlsx(rows, out)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.CLAIM_EXPORT,
            region_id=region.pk,
            detail={
                "month": f"{first:%Y-%m}",
                "region": region.code,
                "format": fmt,
                "rows": count,
                "full_ids": builder.full_ids,
            },
        )
    return ExportResult(rows=count, full_ids=builder.full_ids)


def _signed_points(hundredths: int, deduction: bool) -> Decimal:
    """Points as a number (a deduction negative), so a sheet can add them up."""
    points = Decimal(format_points(hundredths))
    return -points if deduction else points


def export_regions(actor: Actor, scheme: Scheme) -> list[Region]:
    """Townships and villages of the scheme the actor may export (for a choice on the page)."""
    paths = [g.region_path for g in actor.grants_for(CLAIM_READERS) if g.scheme_id == scheme.pk]
    if not paths:
        return []
    inside = Q(pk__in=[])
    for path in paths:
        inside |= Q(path__startswith=path)
    return list(
        Region.objects.filter(
            inside,
            path__startswith=scheme.operator_region.path,
            level__in=[RegionLevel.TOWNSHIP, RegionLevel.VILLAGE],
        ).order_by("code")
    )
