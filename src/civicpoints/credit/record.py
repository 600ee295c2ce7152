"""The record a lender reads under a live consent: points per year and category, deductions,
owed points, 一票否决 periods (dates only), stars, titles and the ledger's chain head.

``record_fetch`` is the lender API's one read: the consent is locked and checked (this lender's,
live, the household not closed), the record built, and the use written for the household to
see, in one transaction; any failure is one identical NotFound and writes nothing. The ID
number, phone and address are in the record only when the consent has their line.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from civicpoints.audit.models import AuditAction
from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.selectors import owed_total
from civicpoints.credit.consents import normalize_ref, record_use
from civicpoints.credit.models import Consent, ConsentUseKind, Lender, LenderKey
from civicpoints.errors import NotFound
from civicpoints.honours.models import StarRating
from civicpoints.honours.selectors import titles_of_household
from civicpoints.households import crypto
from civicpoints.households.models import (
    Disqualification,
    Household,
    HouseholdStatus,
    Member,
    Relation,
)
from civicpoints.ledger.chain import chain_head
from civicpoints.ledger.models import Posting
from civicpoints.reports.models import HouseholdDay

log = logging.getLogger(__name__)
YEARS = 4  # this year and the three before
ADULT = 18


def points_text(hundredths: int) -> str:
    """Points as a decimal string with two places ("127.50"): no floats in a signed record."""
    return str((Decimal(hundredths) / 100).quantize(Decimal("0.01")))


def utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def live_consent(*, lender: Lender, ref: object, lock: bool = False) -> Consent:
    """This lender's live consent with this 授权码; NotFound (always the same) otherwise."""
    wanted = normalize_ref(ref)
    rows = Consent.objects.filter(
        scheme_id=lender.scheme_id,
        lender=lender,
        ref=wanted,
        revoked_at__isnull=True,
        ends_at__gt=timezone.now(),
    ).exclude(household__status=HouseholdStatus.CLOSED)
    if lock:
        rows = rows.select_for_update(of=("self",))
    found = rows.first() if wanted else None
    if found is None:
        raise NotFound("consent")
    return found


def lender_consents(*, lender: Lender, after: int = 0, limit: int = 50) -> list[Consent]:
    """The lender's live consents (ref, dates, field names), in id order after ``after``."""
    return list(
        Consent.objects.filter(
            scheme_id=lender.scheme_id,
            lender=lender,
            revoked_at__isnull=True,
            ends_at__gt=timezone.now(),
            pk__gt=after,
        )
        .exclude(household__status=HouseholdStatus.CLOSED)
        .order_by("pk")[:limit]
    )


def _years(household: Household, today: dt.date) -> list[dict[str, Any]]:
    first = today.year - YEARS + 1
    net: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        HouseholdDay.objects.filter(
            scheme_id=household.scheme_id,
            household_id=household.pk,
            day__gte=dt.date(first, 1, 1),
            day__lte=dt.date(today.year, 12, 31),
        )
        .values_list("day__year", "category")
        .annotate(total=Sum("points"))
    )
    for year, category, total in rows:
        net[year][category or ""] = net[year].get(category or "", 0) + int(total or 0)
    reversed_ = Posting.objects.filter(reverses_id=OuterRef("posting_id"))
    deducted: dict[int, dict[str, int]] = defaultdict(dict)
    claims = (
        Claim.objects.filter(
            scheme_id=household.scheme_id,
            household_id=household.pk,
            is_deduction=True,
            status=ClaimStatus.POSTED,
            occurred_on__year__gte=first,
        )
        .exclude(Exists(reversed_))
        .values_list("occurred_on__year", "rule__category")
        .annotate(total=Sum("points"))
    )
    for year, category, total in claims:
        deducted[year][category or ""] = deducted[year].get(category or "", 0) + abs(
            int(total or 0)
        )
    return [
        {
            "year": year,
            "net_by_category": {k: points_text(v) for k, v in sorted(net[year].items())},
            "deducted_by_category": {k: points_text(v) for k, v in sorted(deducted[year].items())},
            "net_total": points_text(sum(net[year].values())),
        }
        for year in range(first, today.year + 1)
    ]


def _member_words(member: Member | None, today: dt.date) -> str:
    if member is None:
        return ""
    if member.birth_year and today.year - member.birth_year >= ADULT:
        return member.name
    return str(Relation(member.relation).label) if member.relation else ""


def household_record(consent: Consent) -> dict[str, Any]:
    """What the consent lets its lender read, as plain JSON (no floats, UTC times)."""
    household = Household.objects.select_related("village").get(pk=consent.household_id)
    today = timezone.localdate()
    people: dict[str, Any] = {
        "head_name": household.head_name,
        "village": {"code": household.village.code, "name": household.village.name},
    }
    if consent.share_id_number:
        head = (
            Member.objects.filter(household=household, relation=Relation.HEAD)
            .exclude(id_number_encrypted="")
            .order_by("pk")
            .first()
        )
        people["id_number"] = crypto.decrypt(head.id_number_encrypted) if head else ""
    if consent.share_phone:
        people["phone"] = household.phone
    if consent.share_address:
        people["address"] = household.address
    bans = Disqualification.objects.filter(household=household).order_by("starts_on", "pk")
    stars = StarRating.objects.filter(household=household).order_by("year")
    titles = []
    for nominee in titles_of_household(household):
        published = nominee.campaign.published_at
        certificate = getattr(nominee, "certificate", None)
        titles.append(
            {
                "title": nominee.campaign.title,
                "published_on": f"{timezone.localtime(published):%Y-%m-%d}" if published else None,
                "member": _member_words(nominee.member, today),
                "certificate": certificate.code if certificate else None,
            }
        )
    chained = chain_head(scheme_id=consent.scheme_id)
    return {
        "consent": {
            "ref": consent.ref,
            "starts_at": utc(consent.starts_at),
            "ends_at": utc(consent.ends_at),
            "fields": consent.fields,
        },
        "household": people,
        "years": _years(household, today),
        "owed": points_text(owed_total(household_id=household.pk)),
        "disqualifications": [
            {
                "starts_on": b.starts_on.isoformat(),
                "ends_on": b.ends_on.isoformat(),
                "lifted_on": f"{timezone.localtime(b.lifted_at):%Y-%m-%d}" if b.lifted_at else None,
            }
            for b in bans
        ],
        "stars": [
            {"year": s.year, "stars": s.stars, "points": points_text(s.points)} for s in stars
        ],
        "titles": titles,
        "ledger": {"seq": chained["seq"], "hash": chained["hash"]},
    }


def record_fetch(*, key: LenderKey, ref: object) -> dict[str, Any]:
    """The live record under this lender's consent ``ref``, and the household's use row and the
    audit row for it; NotFound (and nothing written) for anything else."""
    try:
        with transaction.atomic(durable=True):
            consent = live_consent(lender=key.lender, ref=ref, lock=True)
            record = household_record(consent)
            record_use(
                consent=consent,
                kind=ConsentUseKind.RECORD_FETCH,
                action=AuditAction.CREDIT_RECORD_FETCH,
                actor_id=None,
                detail={"key": key.prefix},
            )
            return record
    except NotFound:
        log.warning("lender record fetch not found (key %s)", key.prefix)
        raise
