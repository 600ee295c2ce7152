"""Outcome indicators (docs/reports.md, "Outcomes"): what each village reports for a month
beside the points (disputes mediated, petitions, criminal cases, the sanitation inspection
score), entered on a form or from a sheet, and the year-on-year view the dashboard shows.

Every row is checked before anything is written; a sheet with one bad row writes nothing and
says which rows are wrong and why. Entering a month again replaces it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Avg, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.importing.reading import Layout, cell_text, read_table
from civicpoints.replica import replica_reads
from civicpoints.reports.models import Outcome, ParticipationCount, PeriodKind
from civicpoints.schemes.models import Region, RegionLevel, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor

MAX_COUNT = 100_000
COUNTS = ("disputes", "petitions", "criminal_cases")
# The sheet's columns: (key, header, other headers people use); a file format, read the same
# in every language.
OUTCOME_COLUMNS = (
    ("village", "村", ("村名", "村/社区", "行政村", "村代码", "区划代码")),
    ("month", "月份", ("月", "年月")),
    ("disputes", "调解纠纷", ("调解纠纷数", "矛盾纠纷", "纠纷调解")),
    ("petitions", "信访", ("信访件数", "信访数")),
    ("criminal_cases", "刑事案件", ("刑事案件数", "刑事案件起数")),
    ("sanitation_score", "卫生检查得分", ("卫生得分", "人居环境得分", "卫生检查")),
)
OUTCOME_LAYOUT = Layout(
    OUTCOME_COLUMNS, required=("village", "month"), what=gettext_noop("村月度治理指标表")
)
# How people write a month ("2026年11月", "2026/11"): what each mark becomes.
MONTH_SPELLING = (("年", "-"), ("月", ""), ("/", "-"))


@dataclass(frozen=True)
class OutcomeIn:
    village: Region
    month: dt.date
    disputes: int
    petitions: int
    criminal_cases: int
    sanitation_score: Decimal | None


def parse_month(raw: Any, today: dt.date) -> dt.date:
    """ "2026-11", "2026/11", "2026年11月" or a date: that month's first day (not ahead)."""
    if isinstance(raw, dt.datetime | dt.date):
        month = dt.date(raw.year, raw.month, 1)
    else:
        text = cell_text(raw)
        for mark, plain in MONTH_SPELLING:
            text = text.replace(mark, plain)
        text = text.strip()
        try:
            year, number = text.split("-")[:2]
            month = dt.date(int(year), int(number), 1)
        except ValueError:
            raise invalid(_("月份写法不对，如 2026-11"), field="month") from None
    if month > today.replace(day=1):
        raise invalid(_("这个月还没有到"), field="month")
    if month.year < 2000:
        raise invalid(_("月份写法不对，如 2026-11"), field="month")
    return month


def _count(raw: Any, field: str) -> int:
    text = cell_text(raw)
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_COUNT:
        raise invalid(_("要填 0 或正整数"), field=field)
    return int(text)


def _score(raw: Any) -> Decimal | None:
    text = cell_text(raw)
    if not text:
        return None
    try:
        score = Decimal(text)
    except InvalidOperation:
        raise invalid(_("卫生检查得分要填 0 到 100 的数"), field="sanitation_score") from None
    if not score.is_finite() or not 0 <= score <= 100 or score != score.quantize(Decimal("0.1")):
        raise invalid(_("卫生检查得分要填 0 到 100 的数，最多一位小数"), field="sanitation_score")
    return score.quantize(Decimal("0.1"))


def outcome_clean(*, village: Region, values: dict[str, Any], today: dt.date) -> OutcomeIn:
    """One village-month as typed, checked (no write)."""
    return OutcomeIn(
        village=village,
        month=parse_month(values.get("month"), today),
        disputes=_count(values.get("disputes"), "disputes"),
        petitions=_count(values.get("petitions"), "petitions"),
        criminal_cases=_count(values.get("criminal_cases"), "criminal_cases"),
        sanitation_score=_score(values.get("sanitation_score")),
    )


def outcomes_set(*, actor: Actor, scheme: Scheme, rows: Iterable[OutcomeIn]) -> int:
    """Write the village-months (admins of each village); all or nothing. Returns how many."""
    rows = list(rows)
    for row in rows:
        if row.village.level != RegionLevel.VILLAGE or not actor.covers(
            roles=ADMIN_ROLES, scheme_id=scheme.pk, region_path=row.village.path
        ):
            raise ApplicationError(
                ErrorCode.PERMISSION_DENIED,
                _("您不能为 %(village)s 录入") % {"village": row.village.name},
                {"action": "outcome.set", "field": "village"},
            )
    with transaction.atomic():
        for row in rows:
            Outcome.objects.update_or_create(
                scheme=scheme,
                village=row.village,
                month=row.month,
                defaults={
                    "disputes": row.disputes,
                    "petitions": row.petitions,
                    "criminal_cases": row.criminal_cases,
                    "sanitation_score": row.sanitation_score,
                    "entered_by_id": actor.user_id,
                },
            )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.OUTCOMES,
            obj=scheme,
            detail={
                "rows": [[r.village.code, r.month.isoformat()] for r in rows][:500],
                "count": len(rows),
            },
        )
    return len(rows)


def outcomes_parse(
    *, villages: Iterable[Region], data: bytes, today: dt.date | None = None
) -> tuple[list[OutcomeIn], list[str]]:
    """A sheet's rows as village-months and the problems, one line per bad row ("第 N 行：...").
    ``villages``: those the person may enter for, found by name (if unique) or 12-digit code.
    Raises ``FileProblem`` for a file that cannot be read."""
    today = today or timezone.localdate()
    table = read_table(data, OUTCOME_LAYOUT)
    by_code = {v.code: v for v in villages}
    names: dict[str, list[Region]] = defaultdict(list)
    for v in by_code.values():
        names[v.name].append(v)
    rows: list[OutcomeIn] = []
    problems: list[str] = []
    seen: set[tuple[int, dt.date]] = set()
    for number, values in table.rows:
        wanted = cell_text(values.get("village"))
        found = by_code.get(wanted) or (
            names[wanted][0] if len(names.get(wanted, [])) == 1 else None
        )
        if found is None:
            why = (
                _("有几个村叫这个名字，请填村代码")
                if len(names.get(wanted, [])) > 1
                else _("没有这个村，或不归您管")
            )
            problems.append(
                _("第 %(n)s 行：%(why)s（%(v)s）") % {"n": number, "why": why, "v": wanted}
            )
            continue
        try:
            row = outcome_clean(village=found, values=values, today=today)
        except ApplicationError as exc:
            problems.append(_("第 %(n)s 行：%(why)s") % {"n": number, "why": exc.message})
            continue
        if (found.pk, row.month) in seen:
            problems.append(_("第 %(n)s 行：同一个村同一个月填了两次") % {"n": number})
            continue
        seen.add((found.pk, row.month))
        rows.append(row)
    if not rows and not problems:
        problems.append(_("表里没有数据行"))
    return rows, problems


@dataclass(frozen=True)
class OutcomeMonth:
    month: int  # 1..12
    this_year: dict[str, Any]
    last_year: dict[str, Any]


def outcomes_year(*, scheme: Scheme, region: Region, year: int) -> list[OutcomeMonth]:
    """Each month of ``year`` beside the same month a year earlier: the counts summed over the
    region's villages, the sanitation score averaged over those inspected, and the households
    that took part in the points that month (``taking_part``). Read from the replica when
    there is one (``civicpoints.replica``)."""
    with replica_reads():
        return _outcomes_year(scheme=scheme, region=region, year=year)


def _outcomes_year(*, scheme: Scheme, region: Region, year: int) -> list[OutcomeMonth]:
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for row in (
        Outcome.objects.filter(
            scheme=scheme,
            village__path__startswith=region.path,
            month__gte=dt.date(year - 1, 1, 1),
            month__lt=dt.date(year + 1, 1, 1),
        )
        .values("month")
        .annotate(
            disputes=Sum("disputes"),
            petitions=Sum("petitions"),
            criminal_cases=Sum("criminal_cases"),
            sanitation_score=Avg("sanitation_score"),
        )
    ):
        month = row["month"]
        score = row["sanitation_score"]
        found[(month.year, month.month)] = {
            **{k: row[k] for k in COUNTS},
            "sanitation_score": round(float(score), 1) if score is not None else None,
        }
    taking_part = dict(
        ParticipationCount.objects.filter(
            scheme=scheme,
            kind=PeriodKind.MONTH,
            start__gte=dt.date(year - 1, 1, 1),
            start__lt=dt.date(year + 1, 1, 1),
            village_path__startswith=region.path,
        )
        .values("start")
        .annotate(n=Sum("households"))
        .values_list("start", "n")
    )
    empty: dict[str, Any] = {k: None for k in (*COUNTS, "sanitation_score")}

    def figures(y: int, m: int) -> dict[str, Any]:
        return {**found.get((y, m), empty), "taking_part": taking_part.get(dt.date(y, m, 1), 0)}

    return [OutcomeMonth(m, figures(year, m), figures(year - 1, m)) for m in range(1, 13)]
