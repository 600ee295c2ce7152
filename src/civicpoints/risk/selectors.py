"""Reading risk flags: the reviewer's scope, each flag explained in words, and its rows.

Explanations are written at read time from a flag's figures (so they follow the reader's
language); names of staff, households and merchants are looked up for a whole page at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import Claim
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.merchants.models import Merchant, Payment, Refund
from civicpoints.risk.models import EvidenceKind, RiskFlag, RiskRule, RiskSettings
from civicpoints.risk.services import RISK_REVIEWERS, RISK_SETTERS, settings_for
from civicpoints.schemes.models import Scheme, User
from civicpoints.schemes.scope import Actor, get_scoped, scoped
from civicpoints.schemes.selectors import schemes_governed
from civicpoints.stores.models import Redemption, StockMove


def flags_visible(actor: Actor) -> QuerySet[RiskFlag]:
    return scoped(
        actor, RiskFlag.objects.all(), region_path_field="region__path", roles=RISK_REVIEWERS
    )


def flag_for(actor: Actor, flag_id: Any) -> RiskFlag:
    return get_scoped(
        actor,
        RiskFlag.objects.select_related("region", "scheme", "closed_by"),
        flag_id,
        region_path_field="region__path",
        roles=RISK_REVIEWERS,
        what="risk_flag",
    )


def schemes_reviewed(actor: Actor) -> list[Scheme]:
    """Schemes where the actor reviews flags over the whole scheme (scan button, settings)."""
    return schemes_governed(actor, RISK_REVIEWERS)


def schemes_set(actor: Actor) -> list[Scheme]:
    """Schemes whose risk thresholds the actor sets (county admins over the whole scheme)."""
    return schemes_governed(actor, RISK_SETTERS)


def scheme_settings(scheme: Scheme) -> RiskSettings:
    return settings_for(scheme.pk)


# --- words -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    staff: dict[int, str]
    households: dict[int, str]
    merchants: dict[int, str]

    def of_staff(self, pk: Any) -> str:
        return self.staff.get(pk, _("（未知工作人员）"))

    def of_household(self, pk: Any) -> str:
        return self.households.get(pk, _("（未知农户）"))

    def of_merchant(self, pk: Any) -> str:
        return self.merchants.get(pk, _("（未知商家）"))


def names_for(details: Iterable[dict[str, Any]]) -> Names:
    staff: set[int] = set()
    households: set[int] = set()
    merchants: set[int] = set()
    for d in details:
        for key, bucket in (
            ("staff", staff),
            ("household", households),
            ("paid_by", households),
            ("refunded_to", households),
            ("merchant", merchants),
        ):
            if isinstance(d.get(key), int):
                bucket.add(d[key])
    return Names(
        staff={u.pk: str(u) for u in User.objects.filter(pk__in=staff)},
        households=dict(Household.objects.filter(pk__in=households).values_list("pk", "head_name")),
        merchants=dict(Merchant.objects.filter(pk__in=merchants).values_list("pk", "shop_name")),
    )


def _pts(value: Any) -> str:
    return format_points(int(value or 0))


# How a figure of a flag's detail is read into its sentence: (kind, key in the detail).
Figure = tuple[str, str] | Callable[[dict[str, Any], Names], object]
_READ: dict[str, Callable[[Any, Names], object]] = {
    "staff": lambda v, names: names.of_staff(v),
    "household": lambda v, names: names.of_household(v),
    "merchant": lambda v, names: names.of_merchant(v),
    "points": lambda v, names: _pts(v),
    "text": lambda v, names: v or "",
    "number": lambda v, names: v or 0,
}


def _own_how(d: dict[str, Any], names: Names) -> str:
    return _("本人所在户") if d.get("how") == "own" else _("与本人同一住址的户")


def _bunching_parts(d: dict[str, Any], names: Names) -> str:
    parts = []
    if d.get("cap_hit"):
        parts.append(_("%(k)s 笔正好在细则上限") % {"k": d.get("at_cap", 0)})
    if d.get("end_hit"):
        parts.append(
            _("%(k)s 笔集中在月底最后 %(days)s 天")
            % {"k": d.get("at_end", 0), "days": d.get("month_end_days", 0)}
        )
    return _("，").join(parts)


def _writeoff_reason(d: dict[str, Any], names: Names) -> str:
    return d.get("reason") or _("（空）")


# Each rule's sentence (translated when read) and where each of its placeholders comes from.
SENTENCES: dict[str, tuple[str, dict[str, Figure]]] = {
    RiskRule.OWN_HOUSEHOLD: (
        gettext_noop(
            "%(staff)s 在 %(month)s 审核通过了%(how)s「%(household)s」的 %(n)s 笔申报，"
            "共 %(points)s 分。工作人员不应审核自己家或同住户的积分。"
        ),
        {
            "staff": ("staff", "staff"),
            "month": ("text", "month"),
            "how": _own_how,
            "household": ("household", "household"),
            "n": ("number", "claims"),
            "points": ("points", "points"),
        },
    ),
    RiskRule.SPLIT_CLAIMS: (
        gettext_noop(
            "「%(household)s」在 %(week)s 起的一周内同一细则有 %(n)s 笔申报，每笔都未超过"
            "乡镇复核门槛 %(threshold)s 分，合计 %(points)s 分已超过门槛：可能是拆分申报以免乡镇复核。"
        ),
        {
            "household": ("household", "household"),
            "week": ("text", "week_start"),
            "n": ("number", "claims"),
            "threshold": ("points", "threshold"),
            "points": ("points", "points"),
        },
    ),
    RiskRule.APPROVER_BUNCHING: (
        gettext_noop(
            "%(staff)s 在 %(month)s 审核的 %(n)s 笔奖励中，%(parts)s（提示线：%(pct)s%%）。"
        ),
        {
            "staff": ("staff", "staff"),
            "month": ("text", "month"),
            "n": ("number", "claims"),
            "parts": _bunching_parts,
            "pct": ("number", "share_pct"),
        },
    ),
    RiskRule.ASSISTED_SHARE: (
        gettext_noop(
            "店员 %(staff)s 在 %(month)s 的 %(n)s 笔柜台兑换中有 %(k)s 笔是代办（农户未输密码），"
            "超过 %(pct)s%%。"
        ),
        {
            "staff": ("staff", "staff"),
            "month": ("text", "month"),
            "n": ("number", "redemptions"),
            "k": ("number", "assisted"),
            "pct": ("number", "share_pct"),
        },
    ),
    RiskRule.ROUND_PAYMENTS: (
        gettext_noop(
            "%(month)s 有 %(h)s 户在「%(merchant)s」消费整数金额（%(unit)s 分的整倍数），"
            "都在 %(low)s 至 %(limit)s 分之间，贴近单笔关注额 %(limit)s 分，共 %(n)s 笔 %(points)s 分："
            "可能是积分套现。"
        ),
        {
            "month": ("text", "month"),
            "h": ("number", "households"),
            "merchant": ("merchant", "merchant"),
            "unit": ("points", "round_unit"),
            "low": ("points", "low"),
            "limit": ("points", "limit"),
            "n": ("number", "payments"),
            "points": ("points", "points"),
        },
    ),
    RiskRule.REFUND_TRANSFER: (
        gettext_noop(
            "「%(payer)s」在「%(merchant)s」付了 %(points)s 分，%(minutes)s 分钟内商家把同样 "
            "%(points)s 分退给了另一户「%(taker)s」：积分可能经商家转给了别人。"
        ),
        {
            "payer": ("household", "paid_by"),
            "merchant": ("merchant", "merchant"),
            "points": ("points", "points"),
            "minutes": ("number", "minutes"),
            "taker": ("household", "refunded_to"),
        },
    ),
    RiskRule.MERCHANT_OUTLIER: (
        gettext_noop(
            "「%(merchant)s」%(month)s 收款 %(points)s 分，是其他 %(peers)s 家商家中位数"
            "（%(median)s 分）的 %(factor)s 倍以上。"
        ),
        {
            "merchant": ("merchant", "merchant"),
            "month": ("text", "month"),
            "points": ("points", "points"),
            "peers": ("number", "peers"),
            "median": ("points", "peer_median"),
            "factor": ("number", "factor"),
        },
    ),
    RiskRule.WRITEOFF_NO_REASON: (
        gettext_noop(
            "%(staff)s 盘点核减「%(product)s」%(q)s 件（值 %(points)s 分），原因只写了“%(reason)s”。"
        ),
        {
            "staff": ("staff", "staff"),
            "product": ("text", "product"),
            "q": ("number", "quantity"),
            "points": ("points", "points"),
            "reason": _writeoff_reason,
        },
    ),
    RiskRule.CODE_GUESSING: (
        gettext_noop(
            "%(at)s 收银员 %(staff)s 在「%(merchant)s」连续输入了 %(n)s 个无效付款码：可能在猜付款码。"
        ),
        {
            "at": ("text", "at"),
            "staff": ("staff", "staff"),
            "merchant": ("merchant", "merchant"),
            "n": ("number", "count"),
        },
    ),
}


def explain(flag: RiskFlag, names: Names) -> str:
    """What the flag says, in a sentence a discipline officer can act on."""
    rule = flag.rule
    if rule not in SENTENCES:
        return str(RiskRule(rule).label) if rule in RiskRule.values else ""
    sentence, figures = SENTENCES[rule]
    d = flag.detail
    values = {
        name: figure(d, names) if callable(figure) else _READ[figure[0]](d.get(figure[1]), names)
        for name, figure in figures.items()
    }
    return _(sentence) % values


def explained(flags: list[RiskFlag]) -> list[tuple[RiskFlag, str]]:
    names = names_for(f.detail for f in flags)
    return [(f, explain(f, names)) for f in flags]


# --- the rows a flag points at ---------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRow:
    kind: str
    kind_label: str
    object_id: int
    text: str
    # What page shows the row: ("claim", id), ("household", id), ("store", id), ("merchants", None)
    page: tuple[str, int | None] | None


def evidence_rows(flag: RiskFlag) -> list[EvidenceRow]:
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, object_id in flag.evidence.order_by("kind", "object_id").values_list(
        "kind", "object_id"
    ):
        by_kind[kind].append(object_id)
    label = dict(EvidenceKind.choices)
    rows: list[EvidenceRow] = []

    def add(kind: str, pk: int, text: str, page: tuple[str, int | None] | None) -> None:
        rows.append(EvidenceRow(kind, str(label.get(kind, kind)), pk, text, page))

    scheme_id = flag.scheme_id
    for u in User.objects.filter(pk__in=by_kind[EvidenceKind.STAFF]).order_by("pk"):
        add(EvidenceKind.STAFF, u.pk, str(u), None)
    for h in Household.objects.filter(
        scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.HOUSEHOLD]
    ).select_related("village"):
        name = _("%(name)s（%(village)s）") % {"name": h.head_name, "village": h.village.name}
        add(EvidenceKind.HOUSEHOLD, h.pk, name, ("household", h.pk))
    for c in (
        Claim.objects.filter(scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.CLAIM])
        .select_related("household", "rule")
        .order_by("pk")
    ):
        add(
            EvidenceKind.CLAIM,
            c.pk,
            _("%(day)s %(household)s「%(rule)s」%(points)s 分，%(status)s")
            % {
                "day": f"{c.occurred_on:%Y-%m-%d}",
                "household": c.household.head_name,
                "rule": c.rule.name,
                "points": format_points(c.points),
                "status": c.get_status_display(),
            },
            ("claim", c.pk),
        )
    for r in (
        Redemption.objects.filter(scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.REDEMPTION])
        .select_related("household")
        .order_by("pk")
    ):
        add(
            EvidenceKind.REDEMPTION,
            r.pk,
            _("%(at)s 小票 %(no)s %(household)s %(points)s 分，%(mode)s：%(reason)s")
            % {
                "at": f"{timezone.localtime(r.created_at):%Y-%m-%d %H:%M}",
                "no": r.receipt_no,
                "household": r.household.head_name,
                "points": format_points(r.points),
                "mode": r.get_mode_display(),
                "reason": r.assisted_reason or "-",
            },
            ("store", r.store_id),
        )
    for p in (
        Payment.objects.filter(scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.PAYMENT])
        .select_related("household", "merchant")
        .order_by("pk")
    ):
        add(
            EvidenceKind.PAYMENT,
            p.pk,
            _("%(at)s %(household)s 在「%(merchant)s」付 %(points)s 分")
            % {
                "at": f"{timezone.localtime(p.created_at):%Y-%m-%d %H:%M}",
                "household": p.household.head_name,
                "merchant": p.merchant.shop_name,
                "points": format_points(p.points),
            },
            ("household", p.household_id),
        )
    for f in (
        Refund.objects.filter(scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.REFUND])
        .select_related("payment__household", "merchant")
        .order_by("pk")
    ):
        add(
            EvidenceKind.REFUND,
            f.pk,
            _("%(at)s「%(merchant)s」退 %(points)s 分给 %(household)s，原因：%(reason)s")
            % {
                "at": f"{timezone.localtime(f.created_at):%Y-%m-%d %H:%M}",
                "merchant": f.merchant.shop_name,
                "points": format_points(f.points),
                "household": f.payment.household.head_name,
                "reason": f.reason or "-",
            },
            ("household", f.payment.household_id),
        )
    for m in (
        StockMove.objects.filter(scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.STOCK_MOVE])
        .select_related("product", "store")
        .order_by("pk")
    ):
        add(
            EvidenceKind.STOCK_MOVE,
            m.pk,
            _("%(at)s「%(store)s」%(product)s %(q)s，原因：%(reason)s")
            % {
                "at": f"{timezone.localtime(m.created_at):%Y-%m-%d %H:%M}",
                "store": m.store.name,
                "product": m.product.name,
                "q": m.quantity,
                "reason": m.reason or "-",
            },
            ("store", m.store_id),
        )
    for merchant in Merchant.objects.filter(
        scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.MERCHANT]
    ).order_by("pk"):
        add(EvidenceKind.MERCHANT, merchant.pk, merchant.shop_name, ("merchants", None))
    for a in (
        AuditEvent.objects.filter(scheme_id=scheme_id, pk__in=by_kind[EvidenceKind.AUDIT])
        .select_related("actor")
        .order_by("pk")
    ):
        add(
            EvidenceKind.AUDIT,
            a.pk,
            _("%(at)s %(actor)s 的操作记录")
            % {
                "at": f"{timezone.localtime(a.created_at):%Y-%m-%d %H:%M}",
                "actor": str(a.actor) if a.actor else "-",
            },
            None,
        )
    return rows
