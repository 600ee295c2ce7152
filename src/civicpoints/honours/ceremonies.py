"""Certificates of confirmed titles and the 表彰大会 that hands them out.

A certificate is issued once per confirmed title (its claim posted), with what is printed on
it fixed at issue and a random code for the QR, which opens the public check page. A ceremony
gathers the winners of some campaigns (a county's ceremony holds households of many
townships), prints their certificates and the running order, and writes the prize list in the
words the store's batch redemption (``stores`` ceremony) reads: card number, prize, quantity.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import segno
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.awards.models import ClaimStatus
from civicpoints.errors import invalid
from civicpoints.honours.models import Campaign, Certificate, HonourCeremony, Nominee
from civicpoints.ledger.models import Posting
from civicpoints.schemes.models import Region, RegionLevel, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, parse_id, require_role

MAX_PROGRAMME = 4000


def certificates_issue(campaign: Campaign, *, on: dt.date | None = None) -> list[Certificate]:
    """Every confirmed title of the campaign with its certificate (issuing the missing ones;
    issuing again changes nothing). In village order, then by place."""
    day = on or timezone.localdate()
    confirmed = list(
        Nominee.objects.filter(campaign=campaign, winner=True, claim__status=ClaimStatus.POSTED)
        .select_related("household", "member", "village", "campaign__scheme")
        .order_by("village__code", "place", "pk")
    )
    have = set(
        Certificate.objects.filter(nominee__in=confirmed).values_list("nominee_id", flat=True)
    )
    for nominee in confirmed:
        if nominee.pk in have:
            continue
        try:
            with transaction.atomic():
                Certificate.objects.create(
                    scheme_id=campaign.scheme_id,
                    nominee=nominee,
                    code=secrets.token_urlsafe(9),
                    name=nominee.name,
                    title=campaign.title,
                    scheme_name=campaign.scheme.name,
                    village_name=nominee.village.name,
                    issued_on=day,
                )
        except IntegrityError:
            pass  # issued by a parallel request a moment ago: that one stands
    return list(
        Certificate.objects.filter(nominee__in=confirmed)
        .select_related("nominee__village")
        .order_by("nominee__village__code", "nominee__place", "nominee_id")
    )


def certificate_qr_svg(url: str) -> str:
    """The QR printed on a certificate: the public check page's address, 25 mm wide at least."""
    qr = segno.make_qr(url, error="m")
    scale = max(0.5, 25.0 / qr.symbol_size(border=0)[0])
    return qr.svg_inline(scale=scale, border=4, unit="mm")


def certificate_valid(certificate: Certificate) -> bool:
    """A certificate stands while its title does (a reversed title posting voids it)."""
    claim = certificate.nominee.claim
    if claim is None or claim.status != ClaimStatus.POSTED or claim.posting_id is None:
        return False
    return not Posting.objects.filter(reverses_id=claim.posting_id).exists()


# --- ceremonies ------------------------------------------------------------------------------


def ceremony_create(
    *,
    actor: Actor,
    scheme: Scheme,
    region: Region,
    name: str,
    held_on: dt.date,
    place: str = "",
    campaign_ids: Iterable[object] = (),
    programme: str = "",
) -> HonourCeremony:
    """A 表彰大会 of ``region`` (admins of it) for campaigns whose region lies within it."""
    if region.level not in (RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE):
        raise invalid(_("表彰大会的范围只能是县、乡镇或村"), field="region")
    require_role(
        actor,
        roles=ADMIN_ROLES,
        scheme_id=scheme.pk,
        region_path=region.path,
        action="ceremony.create",
    )
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise invalid(_("请填写大会名称（最多100个字）"), field="name")
    place = (place or "").strip()
    if len(place) > 100:
        raise invalid(_("地点太长（最多100个字）"), field="place")
    programme = (programme or "").strip()
    if len(programme) > MAX_PROGRAMME:
        raise invalid(_("议程太长（最多4000个字）"), field="programme")
    ids = {parse_id(c) for c in campaign_ids}
    if not ids or None in ids:
        raise invalid(_("请选择至少一个评比"), field="campaigns")
    campaigns = list(
        Campaign.objects.filter(pk__in=ids, scheme=scheme, region__path__startswith=region.path)
    )
    if len(campaigns) != len(ids):
        raise invalid(_("所选评比不在这次大会的范围内"), field="campaigns")
    with transaction.atomic():
        ceremony = HonourCeremony.objects.create(
            scheme=scheme,
            region=region,
            name=name,
            held_on=held_on,
            place=place,
            programme=programme or default_programme(campaigns),
            created_by_id=actor.user_id,
        )
        ceremony.campaigns.set(campaigns)
    return ceremony


def default_programme(campaigns: list[Campaign]) -> str:
    """The usual running order of a 表彰大会, one line a step, a reading for each title."""
    steps = [_("主持人宣布大会开始，奏唱国歌"), _("领导讲话")]
    steps += [_("宣读“%(title)s”表彰名单，颁发证书和奖品") % {"title": c.title} for c in campaigns]
    steps += [_("获奖代表发言"), _("主持人宣布大会结束")]
    return "\n".join(steps)


@dataclass(frozen=True)
class Honoured:
    nominee: Nominee
    campaign: Campaign
    confirmed: bool


def ceremony_honoured(ceremony: HonourCeremony) -> list[Honoured]:
    """The winners of the ceremony's campaigns, campaign by campaign, village by village;
    only confirmed titles get a certificate and a prize, the others are listed as waiting."""
    campaigns = list(ceremony.campaigns.order_by("pk"))
    rows = (
        Nominee.objects.filter(campaign__in=campaigns, winner=True)
        .select_related("household", "member", "village", "claim", "campaign", "certificate")
        .order_by("campaign_id", "village__code", "place", "pk")
    )
    return [
        Honoured(n, n.campaign, n.claim is not None and n.claim.status == ClaimStatus.POSTED)
        for n in rows
    ]


def ceremony_prize_list(honoured: list[Honoured]) -> str:
    """The prize list for the store's batch redemption: "卡号<TAB>奖品<TAB>1" a line, for
    confirmed titles of campaigns with a prize."""
    return "\n".join(
        f"{h.nominee.household.card_code}\t{h.campaign.prize}\t1"
        for h in honoured
        if h.confirmed and h.campaign.prize
    )
