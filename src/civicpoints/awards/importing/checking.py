"""Check award lines against the database, set-based, and build the claims.

Households are found by the keyed digest of an ID number (or by card code) a chunk of 1000 at
a time; rules, earlier claims (duplicates, caps), disqualifications and village quotas are
loaded once or per chunk, never per row. Each line is then validated by ``build_claim`` and
the limits are summed in memory, so the file's own rows count against caps and quotas.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db.models import Sum
from django.db.models.functions import ExtractYear
from django.utils.translation import gettext as _

from civicpoints.awards.importing.parsing import Line
from civicpoints.awards.importing.sheet import LABEL
from civicpoints.awards.models import (
    LIVE_STATUSES,
    Claim,
    ClaimSource,
    ClaimStatus,
    VillageQuota,
)
from civicpoints.awards.services.claims import CAP_NAMES, PROPOSERS, NewClaim, build_claim
from civicpoints.errors import ApplicationError
from civicpoints.households.importing.reading import ImportIssue
from civicpoints.households.models import Disqualification, Household, Member
from civicpoints.ledger.amounts import format_points
from civicpoints.rules.models import Rule
from civicpoints.rules.selectors import rules_in_force
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor

CHUNK = 1000
PROGRESS_EVERY = 5000
PREVIEW_ROWS = 20
# Claims that make a new one on the same household, rule and day a duplicate.
OPEN_STATUSES = (ClaimStatus.SUBMITTED, *LIVE_STATUSES)
COLUMN_ORDER = {label: i for i, label in enumerate(LABEL.values())}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Person:
    """Whom a line names: a household and, when named by ID number, the member."""

    household_id: int
    member_id: int | None
    name: str


@dataclass(frozen=True, slots=True)
class Home:
    household: Household  # enough of it for build_claim: pk, scheme, village, status
    village_path: str
    village_name: str
    township_name: str


@dataclass(frozen=True)
class PreviewLine:
    row: int
    village: str
    name: str
    id_number: str
    code: str
    rule_name: str
    quantity: str
    occurred_on: str
    points: str
    has_error: bool = False


@dataclass
class Summary:
    claims: int = 0
    households: int = 0
    award_points: int = 0  # hundredths
    deduction_points: int = 0
    needs_township: int = 0
    needs_photo: int = 0
    by_rule: list[tuple[str, str, int, str]] = field(default_factory=list)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _period_keys(household_id: int, code: str, day: dt.date) -> dict[str, tuple]:
    return {
        "day": (household_id, code, day),
        "month": (household_id, code, day.year, day.month),
        "year": (household_id, code, day.year),
    }


class Checker:
    """Everything one file needs from the database, loaded up front; then line by line."""

    def __init__(
        self,
        *,
        actor: Actor,
        scheme: Scheme,
        lines: list[Line],
        now: dt.datetime,
        approve: bool,
        lock: bool = False,
        origin_ref: str = "",
    ) -> None:
        self.actor = actor
        self.scheme = scheme
        self.now = now
        self.approve = approve
        self.origin_ref = origin_ref
        self.issues: list[ImportIssue] = []
        self.rules: dict[str, Rule] = {
            r.code.upper(): r for r in rules_in_force(scheme_id=scheme.pk, at=now)
        }
        self.retired: set[str] = set()
        if any(line.code and line.code not in self.rules for line in lines):
            self.retired = {
                c.upper() for c in Rule.objects.filter(scheme=scheme).values_list("code", flat=True)
            }
        self.by_digest: dict[str, Person] = {}
        self.by_card: dict[str, Person] = {}
        self.homes: dict[int, Home] = {}
        self._resolve(lines)
        if lock:
            # Approving: hold every household (pk order, as claim_approve does) so no other
            # approval can squeeze under a cap between our check and our insert.
            for chunk in _chunks(sorted(self.homes)):
                list(
                    Household.objects.select_for_update()
                    .filter(pk__in=chunk)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
        self._load_limits(lines, lock=lock)
        self.first_row: dict[tuple[int, str, dt.date], int] = {}
        self.running: dict[tuple, int] = defaultdict(int)
        self.quota_running: dict[tuple[int, int], int] = defaultdict(int)
        self.quota_reported: set[tuple[int, int]] = set()
        self.in_scope: dict[str, bool] = {}
        self.may_approve: dict[str, bool] = {}
        self.not_approver: dict[str, int] = {}  # village name -> first row

    # ------------------------------------------------------------------ loading

    def _resolve(self, lines: list[Line]) -> None:
        digests = sorted({line.digest for line in lines if line.digest})
        cards = sorted({line.card for line in lines if line.card})
        household_ids: set[int] = set()
        for chunk in _chunks(digests):
            found = Member.objects.filter(
                scheme_id=self.scheme.pk, id_number_digest__in=chunk
            ).values_list("id_number_digest", "household_id", "pk", "name")
            for digest, household_id, member_id, name in found:
                self.by_digest[digest] = Person(household_id, member_id, name)
                household_ids.add(household_id)
        for chunk in _chunks(cards):
            for pk, card in Household.objects.filter(
                scheme_id=self.scheme.pk, card_code__in=chunk
            ).values_list("pk", "card_code"):
                self.by_card[card] = Person(pk, None, "")
                household_ids.add(pk)
        for chunk in _chunks(sorted(household_ids)):
            rows = Household.objects.filter(pk__in=chunk).values_list(
                "pk",
                "head_name",
                "status",
                "village_id",
                "village__path",
                "village__name",
                "village__parent__name",
            )
            for pk, head, status, village_id, path, village, township in rows:
                household = Household(
                    pk=pk,
                    scheme_id=self.scheme.pk,
                    village_id=village_id,
                    head_name=head,
                    status=status,
                )
                self.homes[pk] = Home(household, path, village, township or "")
        for card, person in list(self.by_card.items()):
            self.by_card[card] = Person(
                person.household_id, None, self.homes[person.household_id].household.head_name
            )

    def _load_limits(self, lines: list[Line], *, lock: bool) -> None:
        days = [line.occurred_on for line in lines if line.occurred_on]
        codes = sorted({line.code for line in lines if line.code in self.rules})
        self.existing: dict[tuple[int, str, dt.date], int] = {}
        self.used: dict[tuple, int] = defaultdict(int)
        self.bans: dict[int, list[tuple[dt.date, dt.date, str]]] = defaultdict(list)
        self.quotas: dict[tuple[int, int], int] = {}
        self.quota_used: dict[tuple[int, int], int] = defaultdict(int)
        if not days or not codes or not self.homes:
            return
        start = min(days).replace(month=1, day=1)
        end = max(days).replace(month=12, day=31)
        for chunk in _chunks(sorted(self.homes)):
            earlier = Claim.objects.filter(
                scheme_id=self.scheme.pk,
                household_id__in=chunk,
                rule__code__in=codes,
                occurred_on__range=(start, end),
                status__in=OPEN_STATUSES,
            ).values_list("pk", "household_id", "rule__code", "occurred_on", "status", "points")
            for pk, household_id, code, day, status, points in earlier:
                key = (household_id, code.upper(), day)
                self.existing[key] = min(pk, self.existing.get(key, pk))
                if status in LIVE_STATUSES:
                    for period_key in _period_keys(household_id, code.upper(), day).values():
                        self.used[period_key] += points
            bans = Disqualification.objects.filter(
                scheme_id=self.scheme.pk,
                household_id__in=chunk,
                lifted_at__isnull=True,
                starts_on__lte=end,
                ends_on__gte=start,
            ).values_list("household_id", "starts_on", "ends_on", "reason")
            for household_id, starts_on, ends_on, reason in bans:
                self.bans[household_id].append((starts_on, ends_on, reason))
        villages = sorted({home.household.village_id for home in self.homes.values()})
        years = sorted({day.year for day in days})
        quotas = VillageQuota.objects.filter(
            scheme_id=self.scheme.pk, village_id__in=villages, year__in=years
        )
        if lock:
            quotas = quotas.select_for_update().order_by("pk")
        self.quotas = {(q.village_id, q.year): q.points for q in quotas}
        if self.quotas:
            used = (
                Claim.objects.filter(
                    scheme_id=self.scheme.pk,
                    village_id__in=sorted({v for v, _year in self.quotas}),
                    is_deduction=False,
                    status__in=LIVE_STATUSES,
                    occurred_on__year__in=years,
                )
                .annotate(year=ExtractYear("occurred_on"))
                .values("village_id", "year")
                .annotate(total=Sum("points"))
                .values_list("village_id", "year", "total")
            )
            for village_id, year, total in used:
                self.quota_used[(village_id, year)] = total or 0

    # ------------------------------------------------------------------ checking

    def bad(self, line: Line, column: str, message: str) -> None:
        self.issues.append(ImportIssue(message, line.row, column))

    def person(self, line: Line) -> Person | None:
        by_id = self.by_digest.get(line.digest) if line.digest else None
        if line.card:
            by_card = self.by_card.get(line.card)
            if by_card is None:
                self.bad(line, LABEL["card"], _("没有卡号为 %(card)s 的农户") % {"card": line.card})
                return None
            if line.digest and (by_id is None or by_id.household_id != by_card.household_id):
                self.bad(line, LABEL["id"], _("身份证号与卡号不是同一户，请核对"))
                return None
            return by_id or by_card
        if by_id is None:
            self.bad(
                line,
                LABEL["id"],
                _("本方案中没有登记这个身份证号（%(id)s）的农户") % {"id": line.masked_id},
            )
        return by_id

    def covered(self, path: str, cache: dict[str, bool], roles: frozenset[str]) -> bool:
        if path not in cache:
            cache[path] = self.actor.covers(roles=roles, scheme_id=self.scheme.pk, region_path=path)
        return cache[path]

    def check(self, line: Line) -> Claim | None:
        """The claim for a line, or None (its problems are in ``issues``)."""
        if not line.ok or line.occurred_on is None or line.quantity is None:
            return None
        before = len(self.issues)
        claim = self._check(line)
        return claim if len(self.issues) == before else None

    def _check(self, line: Line) -> Claim | None:
        assert line.occurred_on is not None and line.quantity is not None
        person = self.person(line)
        rule = self.rules.get(line.code)
        if rule is None:
            message = (
                _("细则编号 %(code)s 已停用")
                if line.code in self.retired
                else _("细则编号 %(code)s 不存在")
            )
            self.bad(line, line.column or LABEL["rule"], message % {"code": line.code})
        if person is None:
            return None
        home = self.homes[person.household_id]
        if not self.covered(home.village_path, self.in_scope, PROPOSERS):
            self.bad(line, LABEL["village"], _("该户不在您的管辖范围内"))
            return None
        if line.name != person.name.replace(" ", "").replace("\u3000", ""):
            message = (
                _("姓名“%(name)s”与该身份证号登记的姓名“%(registered)s”不一致")
                if person.member_id
                else _("姓名“%(name)s”与该卡号登记的户主姓名“%(registered)s”不一致")
            )
            self.bad(line, LABEL["name"], message % {"name": line.name, "registered": person.name})
        if (line.village and line.village != home.village_name) or (
            line.township and line.township != home.township_name
        ):
            self.bad(
                line,
                LABEL["village"],
                _("该户登记在%(registered)s，表中填的是%(written)s")
                % {
                    "registered": home.township_name + home.village_name,
                    "written": line.township + line.village,
                },
            )
        if rule is None:
            return None
        try:
            claim = build_claim(
                NewClaim(
                    household=home.household,
                    rule=rule,
                    quantity=line.quantity,
                    occurred_on=line.occurred_on,
                    source=ClaimSource.IMPORT,
                    proposed_by_id=self.actor.user_id,
                    member_id=person.member_id,
                    note=line.note,
                    witness=line.witness,
                    origin_ref=self.origin_ref,
                ),
                now=self.now,
            )
        except ApplicationError as exc:
            prefix = _("「%(code)s」") % {"code": line.column} if line.column else ""
            self.bad(line, line.column or LABEL["quantity"], prefix + exc.message)
            return None
        if not self._limits(line, claim, rule, home):
            return None
        return claim

    def _limits(self, line: Line, claim: Claim, rule: Rule, home: Home) -> bool:
        """Duplicates, disqualification, caps and quota, counting the file's earlier rows."""
        ok = True
        household_id, code, day = claim.household_id, line.code, claim.occurred_on
        key = (household_id, code, day)
        prefix = _("「%(code)s」") % {"code": line.column} if line.column else ""
        if key in self.first_row:
            self.bad(
                line,
                line.column or LABEL["rule"],
                _("%(prefix)s与第%(row)s行重复（同一户、同一细则、同一天）")
                % {"prefix": prefix, "row": self.first_row[key]},
            )
            return False
        self.first_row[key] = line.row
        if key in self.existing:
            self.bad(
                line,
                line.column or LABEL["rule"],
                _("该户 %(day)s 已有「%(rule)s」的申报（#%(claim)s），不能重复导入")
                % {"day": f"{day:%Y-%m-%d}", "rule": rule.name, "claim": self.existing[key]},
            )
            ok = False
        if claim.is_deduction:
            return ok and self._approvable(line, claim, rule, home)
        for start, end, reason in self.bans.get(household_id, ()):
            if start <= day <= end:
                self.bad(
                    line,
                    LABEL["name"],
                    _("该户处于一票否决期内（至 %(until)s）：%(reason)s")
                    % {"until": f"{end:%Y-%m-%d}", "reason": reason},
                )
                ok = False
        periods = _period_keys(household_id, code, day)
        for period, cap in (
            ("day", rule.cap_day),
            ("month", rule.cap_month),
            ("year", rule.cap_year),
        ):
            if cap is None:
                continue
            earlier, here = self.used[periods[period]], self.running[periods[period]]
            if earlier + here + claim.points > cap:
                self.bad(
                    line,
                    line.column or LABEL["quantity"],
                    (
                        _(
                            "%(prefix)s「%(rule)s」%(period)s上限 %(cap)s 分，已有 %(used)s 分"
                            "（其中本文件 %(here)s 分），本次 %(requested)s 分"
                        )
                        if here
                        else _(
                            "%(prefix)s「%(rule)s」%(period)s上限 %(cap)s 分，已有 %(used)s 分，"
                            "本次 %(requested)s 分"
                        )
                    )
                    % {
                        "prefix": prefix,
                        "rule": rule.name,
                        "period": CAP_NAMES[period],
                        "cap": format_points(cap),
                        "used": format_points(earlier + here),
                        "here": format_points(here),
                        "requested": format_points(claim.points),
                    },
                )
                ok = False
        quota_key = (claim.village_id, day.year)
        if quota_key in self.quotas:
            quota = self.quotas[quota_key]
            used, here = self.quota_used[quota_key], self.quota_running[quota_key]
            if used + here + claim.points > quota:
                if quota_key not in self.quota_reported:
                    self.quota_reported.add(quota_key)
                    self.bad(
                        line,
                        LABEL["village"],
                        _(
                            "%(village)s%(year)s年积分额度 %(quota)s 分，已用 %(used)s 分，"
                            "本文件到这一行共 %(file)s 分，超出额度（后面同村的行不再逐行列出）"
                        )
                        % {
                            "village": home.village_name,
                            "year": day.year,
                            "quota": format_points(quota),
                            "used": format_points(used),
                            "file": format_points(here + claim.points),
                        },
                    )
                ok = False
        if not self._approvable(line, claim, rule, home):
            ok = False
        if ok:
            for period_key in periods.values():
                self.running[period_key] += claim.points
            self.quota_running[quota_key] += claim.points
        return ok

    def _approvable(self, line: Line, claim: Claim, rule: Rule, home: Home) -> bool:
        if not self.approve:
            return True
        if not self.covered(home.village_path, self.may_approve, ADMIN_ROLES):
            self.not_approver.setdefault(home.village_name, line.row)
            return False
        if rule.needs_photo:
            self.bad(
                line,
                line.column or LABEL["rule"],
                _(
                    "「%(rule)s」需要上传照片，不能导入即审核通过；"
                    "请不勾选“导入即审核通过”，导入后补传照片再审核"
                )
                % {"rule": rule.name},
            )
            return False
        return True

    def finish(self, head: list[ImportIssue]) -> list[ImportIssue]:
        """Every problem: the file's first, then by row and column."""
        rows = [i for i in head if i.row] + self.issues
        head = [i for i in head if not i.row]
        tail = sorted(rows, key=lambda i: (i.row or 0, COLUMN_ORDER.get(i.column, 99)))
        if self.not_approver:
            names = _("、").join(self.not_approver)
            head = [
                *head,
                ImportIssue(
                    _(
                        "您不是%(villages)s的管理员，不能“导入即审核通过”。"
                        "请不勾选这一项，导入后由村管理员在审核页面审核"
                    )
                    % {"villages": names}
                ),
            ]
        return head + tail
