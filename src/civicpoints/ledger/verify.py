"""Checks every ledger invariant and the hash chain; names the first broken ``seq``.

Read-only. Each check is one set-based query except the chain walk, which streams links in
``seq`` order in batches, so a county's ledger verifies in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from civicpoints.ledger.chain import GENESIS, link_hash
from civicpoints.ledger.models import (
    Account,
    AccountKind,
    ChainLink,
    Entry,
    Hold,
    HoldStatus,
    Posting,
)

BATCH = 2000


@dataclass
class Problem:
    check: str
    message: str
    seq: int | None = None
    posting: int | None = None
    account: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Report:
    scheme_id: int
    postings: int = 0
    chained: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def lag(self) -> int:
        return self.postings - self.chained

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme_id,
            "ok": self.ok,
            "postings": self.postings,
            "chained": self.chained,
            "lag": self.lag,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_bad_seq": self.first_bad_seq,
            "problems": [p.as_dict() for p in self.problems],
        }


def verify(*, scheme_id: int, limit: int = 20) -> Report:
    report = Report(scheme_id=scheme_id)
    report.postings = Posting.objects.filter(scheme_id=scheme_id).count()
    _check_postings_balance(report, scheme_id, limit)
    _check_household_balances(report, scheme_id, limit)
    _check_entry_accounts(report, scheme_id, limit)
    _check_total(report, scheme_id)
    _check_reversals(report, scheme_id, limit)
    _check_chain(report, scheme_id)
    return report


def _check_postings_balance(report: Report, scheme_id: int, limit: int) -> None:
    bad = (
        Posting.objects.filter(scheme_id=scheme_id)
        .annotate(total=Coalesce(Sum("entries__amount"), Value(0)), legs=Count("entries"))
        .filter(~Q(total=0) | Q(legs__lt=2))
        .order_by("pk")
        .values("pk", "total", "legs")[:limit]
    )
    for row in bad:
        report.problems.append(
            Problem(
                "posting_sums_to_zero",
                _("记账 #%(posting)s 分录合计 %(total)s（%(legs)s 条），应为 0")
                % {"posting": row["pk"], "total": row["total"], "legs": row["legs"]},
                posting=row["pk"],
            )
        )


def _check_household_balances(report: Report, scheme_id: int, limit: int) -> None:
    sums = (
        Entry.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    accounts = Account.objects.filter(scheme_id=scheme_id, kind=AccountKind.HOUSEHOLD).annotate(
        total=Coalesce(Subquery(sums), Value(0))
    )
    mismatched = accounts.filter(~Q(balance=F("total"))).values("pk", "balance", "total")[:limit]
    for row in mismatched:
        report.problems.append(
            Problem(
                "balance_equals_entries",
                _("账户 %(account)s 余额 %(balance)s 与分录合计 %(total)s 不符")
                % {"account": row["pk"], "balance": row["balance"], "total": row["total"]},
                account=row["pk"],
            )
        )
    active = (
        Hold.objects.filter(account=OuterRef("pk"), status=HoldStatus.ACTIVE)
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    holds = accounts.annotate(active=Coalesce(Subquery(active), Value(0)))
    for row in holds.filter(~Q(held=F("active"))).values("pk", "held", "active")[:limit]:
        report.problems.append(
            Problem(
                "held_equals_active_holds",
                _("账户 %(account)s 冻结 %(held)s 与未处理的冻结单合计 %(active)s 不符")
                % {"account": row["pk"], "held": row["held"], "active": row["active"]},
                account=row["pk"],
            )
        )
    negative = accounts.filter(Q(balance__lt=0) | Q(held__lt=0) | Q(held__gt=F("balance")))
    for row in negative.values("pk", "balance", "held")[:limit]:
        report.problems.append(
            Problem(
                "no_negative_balance",
                _("账户 %(account)s 余额 %(balance)s、冻结 %(held)s：可用积分为负")
                % {"account": row["pk"], "balance": row["balance"], "held": row["held"]},
                account=row["pk"],
            )
        )


def _check_entry_accounts(report: Report, scheme_id: int, limit: int) -> None:
    """Entries have no database FK to accounts (no hot rows): every one must name an account
    of the same scheme."""
    own = Account.objects.filter(pk=OuterRef("account_id"), scheme_id=scheme_id)
    orphans = (
        Entry.objects.filter(scheme_id=scheme_id)
        .exclude(Exists(own))
        .order_by("posting_id")
        .values("pk", "posting_id", "account_id")[:limit]
    )
    for row in orphans:
        report.problems.append(
            Problem(
                "entry_account_in_scheme",
                _("记账 #%(posting)s 的分录 %(entry)s 指向不属于本方案的账户 %(account)s")
                % {"posting": row["posting_id"], "entry": row["pk"], "account": row["account_id"]},
                posting=row["posting_id"],
                account=row["account_id"],
            )
        )


def _check_total(report: Report, scheme_id: int) -> None:
    total = Entry.objects.filter(scheme_id=scheme_id).aggregate(t=Sum("amount"))["t"] or 0
    if total != 0:
        message = _("全账本合计 %(total)s，应为 0") % {"total": total}
        report.problems.append(Problem("ledger_sums_to_zero", message))


def _check_reversals(report: Report, scheme_id: int, limit: int) -> None:
    twice = (
        Posting.objects.filter(scheme_id=scheme_id, reverses__isnull=False)
        .values("reverses")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)[:limit]
    )
    for row in twice:
        report.problems.append(
            Problem(
                "reversed_at_most_once",
                _("记账 #%(posting)s 被冲正 %(n)s 次")
                % {"posting": row["reverses"], "n": row["n"]},
                posting=row["reverses"],
            )
        )


def _check_chain(report: Report, scheme_id: int, upto: int | None = None) -> None:
    """Walk the chain from seq 1 (up to ``upto`` when given), recomputing every hash."""
    # Lag is postings without a link, whatever the walk below finds wrong with the links.
    report.chained = ChainLink.objects.filter(scheme_id=scheme_id).count()
    expected_seq = 1
    prev = GENESIS
    last_seq = 0
    while True:
        window = ChainLink.objects.filter(scheme_id=scheme_id, seq__gt=last_seq)
        if upto is not None:
            window = window.filter(seq__lte=upto)
        links = list(window.select_related("posting").order_by("seq")[:BATCH])
        if not links:
            break
        entries: dict[int, list[Entry]] = {link.posting_id: [] for link in links}
        for entry in Entry.objects.filter(posting_id__in=entries.keys()):
            entries[entry.posting_id].append(entry)
        for link in links:
            if link.seq != expected_seq:
                report.problems.append(
                    Problem(
                        "chain_gapless",
                        _("哈希链序号 %(seq)s 缺失") % {"seq": expected_seq},
                        seq=expected_seq,
                    )
                )
                return
            if link.prev_hash != prev:
                report.problems.append(
                    Problem(
                        "chain_linked",
                        _("哈希链序号 %(seq)s 的前序哈希不符") % {"seq": link.seq},
                        seq=link.seq,
                    )
                )
                return
            if link.posting.scheme_id != scheme_id:
                report.problems.append(
                    Problem(
                        "chain_scheme",
                        _("哈希链序号 %(seq)s 指向其他方案") % {"seq": link.seq},
                        seq=link.seq,
                    )
                )
                return
            recomputed = link_hash(prev, link.posting, entries[link.posting_id])
            if recomputed != link.hash:
                report.problems.append(
                    Problem(
                        "chain_hash",
                        _("哈希链序号 %(seq)s（记账 #%(posting)s）的哈希与内容不符")
                        % {"seq": link.seq, "posting": link.posting_id},
                        seq=link.seq,
                        posting=link.posting_id,
                    )
                )
                return
            prev = link.hash
            expected_seq += 1
            report.head_seq, report.head_hash = link.seq, link.hash
        last_seq = links[-1].seq


# --- a published head -----------------------------------------------------------------------

HEX = frozenset("0123456789abcdef")


@dataclass
class HeadCheck:
    """The answer to "does this published head (seq, hash) still verify?"."""

    ok: bool
    seq: int
    hash: str
    message: str
    scheme_id: int | None = None
    at: datetime | None = None  # when that link was appended
    first_bad_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seq": self.seq,
            "hash": self.hash,
            "scheme": self.scheme_id,
            "date": self.at.isoformat() if self.at else None,
            "first_bad_seq": self.first_bad_seq,
            "message": self.message,
        }


class BadHead(ValueError):
    """A head that is not one: ``field`` names the part at fault (``seq``, ``hash``, or
    ``head`` for the whole text)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_head(text: str) -> tuple[int, str]:
    """``"SEQ:HASH"`` as printed on a notice board -> (seq, lower-case hash); BadHead else."""
    seq_text, sep, digest = (text or "").strip().partition(":")
    if not sep:
        raise BadHead(_("链头应写成 序号:校验码，例如 128:3f9a…（64位）"), field="head")
    return check_head(seq_text.strip(), digest.strip())


def check_head(seq: object, digest: object) -> tuple[int, str]:
    """A head's two parts, checked: seq a whole number from 1, hash 64 hexadecimal digits."""
    text = str(seq).strip() if isinstance(seq, (str, int)) and not isinstance(seq, bool) else ""
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18 and int(text) >= 1):
        raise BadHead(_("序号应为从 1 开始的整数"), field="seq")
    value = digest.strip().lower() if isinstance(digest, str) else ""
    if len(value) != 64 or not set(value) <= HEX:
        raise BadHead(_("校验码应为 64 位十六进制数字（0-9、a-f）"), field="hash")
    return int(text), value


def verify_head(*, seq: int, hash: str, scheme_id: int | None = None) -> HeadCheck:
    """Whether chain link ``seq`` has this ``hash`` and the chain 1..seq recomputes to it.

    Read-only. Without ``scheme_id`` the scheme is the one whose link ``seq`` carries the
    hash (hashes cover the scheme id, so no two schemes share one). A published head that
    still verifies proves that no posting up to it was changed, added or removed since.
    """
    digest = hash.lower()
    links = ChainLink.objects.filter(seq=seq)
    if scheme_id is not None:
        links = links.filter(scheme_id=scheme_id)
    link = links.filter(hash=digest).values_list("scheme_id", "created_at").first()
    if link is None:
        exists = links.exists()
        message = (
            _(
                "不通过：链上第 %(seq)s 条的校验码与公布的不同。公布之后账本被改动过，或者校验码抄错了。"
            )
            if exists
            else _("不通过：链上没有第 %(seq)s 条。序号抄错了，或者账本被删改过。")
        )
        return HeadCheck(
            ok=False, seq=seq, hash=digest, message=message % {"seq": seq}, scheme_id=scheme_id
        )
    found_scheme, at = link
    report = Report(scheme_id=found_scheme)
    _check_chain(report, found_scheme, upto=seq)
    if report.problems or report.head_seq != seq or report.head_hash != digest:
        bad = report.first_bad_seq
        return HeadCheck(
            ok=False,
            seq=seq,
            hash=digest,
            scheme_id=found_scheme,
            at=at,
            first_bad_seq=bad,
            message=_("不通过：从第 1 条到第 %(seq)s 条重新计算，第 %(bad)s 条对不上：%(why)s")
            % {
                "seq": seq,
                "bad": bad if bad is not None else seq,
                "why": report.problems[0].message if report.problems else "",
            },
        )
    return HeadCheck(
        ok=True,
        seq=seq,
        hash=digest,
        scheme_id=found_scheme,
        at=at,
        message=_(
            "通过：第 1 条到第 %(seq)s 条记账的哈希链完整，第 %(seq)s 条的校验码与公布的一致。"
        )
        % {"seq": seq},
    )
