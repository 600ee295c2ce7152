"""The events residents are texted about, and their words (short, plain, no internal codes).

Each function is called by the domain service inside the event's transaction; the text is
built in Chinese whatever language the acting staff member's page is in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civicpoints.ledger.amounts import format_points
from civicpoints.notifications.services import Message, notify, notify_many

if TYPE_CHECKING:
    from civicpoints.awards.models import Claim
    from civicpoints.stores.models import Delivery, Order

SIGN = "【文明积分】"  # the signature registered with the SMS carrier
LANGUAGE = "zh-hans"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return _("%(m)d月%(d)d日") % {"m": local.month, "d": local.day}


def claim_rejected(claim: Claim, *, reason: str) -> bool:
    with translation.override(LANGUAGE):
        text = SIGN + _("您家申报的「%(rule)s」没有通过审核。原因：%(reason)s") % {
            "rule": claim.rule.name,
            "reason": _short(reason),
        }
    return notify(
        scheme_id=claim.scheme_id,
        household_id=claim.household_id,
        event_key=f"claim_rejected:{claim.pk}",
        text=text,
    )


def claim_objected(claim: Claim, *, event_id: int) -> bool:
    with translation.override(LANGUAGE):
        text = SIGN + _(
            "您家「%(rule)s」在公示期间有人提出异议，村里会重新审核，审核后再公示。"
        ) % {"rule": claim.rule.name}
    return notify(
        scheme_id=claim.scheme_id,
        household_id=claim.household_id,
        event_key=f"claim_objected:{event_id}",
        text=text,
    )


def claims_posted(claims: Sequence[Claim], owed: dict[int, int]) -> int:
    """One message per household for the claims a finalize run posted (``owed``: claim id ->
    points the balance could not cover). The key names the household's first claim of the
    run: a claim is posted once, so the key never comes back."""
    by_household: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_household[claim.household_id].append(claim)
    messages = []
    with translation.override(LANGUAGE):
        for household_id, mine in sorted(by_household.items()):
            mine.sort(key=lambda c: c.pk)
            messages.append(
                Message(
                    scheme_id=mine[0].scheme_id,
                    household_id=household_id,
                    event_key=f"posted:{mine[0].pk}",
                    text=SIGN + _posted_text(mine, owed),
                )
            )
    return notify_many(messages)


def _posted_text(claims: Sequence[Claim], owed: dict[int, int]) -> str:
    awards = [c for c in claims if not c.is_deduction]
    deductions = [c for c in claims if c.is_deduction]
    parts = []
    if len(claims) == 1:
        claim = claims[0]
        values = {"rule": claim.rule.name, "points": format_points(claim.points)}
        if claim.is_deduction:
            parts.append(_("您家「%(rule)s」扣 %(points)s 分已公示期满入账") % values)
        else:
            parts.append(_("您家「%(rule)s」%(points)s 分已公示期满入账") % values)
    else:
        if awards:
            parts.append(
                _("您家「%(rule)s」等 %(n)d 项共 %(points)s 分已公示期满入账")
                % {
                    "rule": awards[0].rule.name,
                    "n": len(awards),
                    "points": format_points(sum(c.points for c in awards)),
                }
            )
        if deductions:
            parts.append(
                _("「%(rule)s」等 %(n)d 项扣 %(points)s 分已入账")
                % {
                    "rule": deductions[0].rule.name,
                    "n": len(deductions),
                    "points": format_points(sum(c.points for c in deductions)),
                }
            )
    left = sum(owed.get(c.pk, 0) for c in deductions)
    if left:
        parts.append(
            _("其中 %(points)s 分余额不足，将从以后的积分中扣除") % {"points": format_points(left)}
        )
    return _("，").join(parts) + _("。")


def order_ready(order: Order) -> bool:
    with translation.override(LANGUAGE):
        values = {
            "store": order.store.name,
            "day": _day(order.expires_at),
            "points": format_points(order.points),
        }
        if order.delivery:
            text = (
                _("您在%(store)s的订单已备好货（冻结 %(points)s 分），店里会安排送货上门。")
                % values
            )
        else:
            text = (
                _("您在%(store)s的订单已备好货（冻结 %(points)s 分），请在%(day)s前到店取货。")
                % values
            )
    return notify(
        scheme_id=order.scheme_id,
        household_id=order.household_id,
        event_key=f"order_ready:{order.pk}",
        text=SIGN + text,
    )


def delivery_out(delivery: Delivery) -> bool:
    """Each dispatch is an event (a failed delivery can go out again): keyed by its time."""
    assert delivery.out_at is not None
    household_id = delivery.redemption.household_id
    with translation.override(LANGUAGE):
        text = SIGN + _("您在%(store)s兑换的物品已出发送货上门，请留意接收。") % {
            "store": delivery.store.name
        }
    return notify(
        scheme_id=delivery.scheme_id,
        household_id=household_id,
        event_key=f"delivery_out:{delivery.pk}:{int(delivery.out_at.timestamp())}",
        text=text,
    )


def points_expiring(
    *, scheme_id: int, due: Sequence[tuple[int, int]], last_day: dt.date, year_end: bool = True
) -> int:
    """Households whose points expire at the year end or at a monthly expiry day (``due``:
    household id, hundredths), told once per expiry day: the key names the household and the
    last day."""
    with translation.override(LANGUAGE):
        day = _("%(m)d月%(d)d日") % {"m": last_day.month, "d": last_day.day}
        messages = [
            Message(
                scheme_id=scheme_id,
                household_id=household_id,
                event_key=f"expiring:{last_day.isoformat()}:{household_id}",
                text=SIGN
                + (
                    _("您家有 %(points)s 分积分将于 %(day)s 后清零，请在此之前到爱心超市兑换使用。")
                    if year_end
                    else _(
                        "您家有 %(points)s 分积分已满期限，将于 %(day)s 后过期，请在此之前到爱心超市兑换使用。"
                    )
                )
                % {"points": format_points(points), "day": day},
            )
            for household_id, points in due
        ]
    return notify_many(messages)


def credit_consent_granted(
    *, scheme_id: int, household_id: int, consent_id: int, lender: str, until: dt.datetime
) -> bool:
    """文明积分贷: the household let a lender read its record (sent on every grant, so a grant
    made by someone else who knew the PIN does not go unnoticed)."""
    with translation.override(LANGUAGE):
        text = SIGN + _(
            "您家已授权「%(lender)s」查看积分记录，到%(until)s为止。不是您本人办理的，"
            "请登录后撤销或到村委会反映。"
        ) % {"lender": _short(lender, 30), "until": _day(until)}
    return notify(
        scheme_id=scheme_id,
        household_id=household_id,
        event_key=f"credit_consent_granted:{consent_id}",
        text=text,
    )


def credit_consent_revoked(
    *, scheme_id: int, household_id: int, consent_id: int, lender: str
) -> bool:
    with translation.override(LANGUAGE):
        text = SIGN + _("您家对「%(lender)s」的积分查看授权已撤销，对方不能再查看。") % {
            "lender": _short(lender, 30)
        }
    return notify(
        scheme_id=scheme_id,
        household_id=household_id,
        event_key=f"credit_consent_revoked:{consent_id}",
        text=text,
    )
