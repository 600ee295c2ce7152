"""Check every row of a household sheet and collect every problem, by spreadsheet row.

Values are cleaned with the same rules as single-household entry (``idcard``, ``phones``, the
name rules); regions and registered ID numbers are looked up set-based, never a query per row.
A column saved as numbers (digits lost) is one file-level message, not one per row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.utils.translation import gettext as _

from civicpoints.errors import PermissionDenied
from civicpoints.households import crypto, idcard, phones
from civicpoints.households.importing.reading import LABEL, ImportIssue, Table, cell_text
from civicpoints.households.models import HouseholdStatus, Member, mask_phone
from civicpoints.households.services import NewHousehold
from civicpoints.schemes.models import Region, RegionLevel, Scheme
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role

PREVIEW_ROWS = 20
DB_CHUNK = 1000
PROGRESS_EVERY = 10_000
STATUS_BY_LABEL = {
    "正常": HouseholdStatus.ACTIVE,
    "外出务工": HouseholdStatus.AWAY,
    "无劳动能力": HouseholdStatus.UNABLE,
}
STATUS_LABEL = {value: label for label, value in STATUS_BY_LABEL.items()}
# What a number with lost digits looks like once turned back into text (2.20822E+17).
SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
COLUMN_ORDER = {label: i for i, label in enumerate(LABEL.values())}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportRow:
    """A row as the preview table shows it (ID number and phone masked)."""

    row: int
    township: str
    village: str
    head_name: str
    id_number: str
    phone: str
    address: str
    size: str
    status: str
    has_error: bool = False


@dataclass
class Checked:
    households: list[NewHousehold]
    rows: list[ImportRow]  # the first PREVIEW_ROWS
    issues: list[ImportIssue]  # file-level first, then by row and column
    total: int


def _plain(text: str) -> str:
    return re.sub(r"\s+", "", text)  # "张　三" padded for alignment is 张三


def _as_typed(text: str) -> str:
    """Full-width digits typed with a Chinese input method, and the marks people add to keep
    a long number as text (a leading ', or ="..." from CSV exports), come off."""
    text = unicodedata.normalize("NFKC", text).strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'")


def _whole_number(raw: Any, text: str) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    return int(text) if text.isdigit() else None


class _Regions:
    """The scheme's townships and villages by name, loaded in one query."""

    def __init__(self, scheme: Scheme) -> None:
        top = scheme.operator_region
        self.top_name = top.name
        self.townships: dict[str, list[int]] = {}
        self.villages: dict[tuple[int, str], tuple[int, str]] = {}
        found = Region.objects.filter(
            path__startswith=top.path, level__in=[RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
        ).values_list("pk", "name", "level", "parent_id", "path")
        for pk, name, level, parent_id, path in found:
            if level == RegionLevel.TOWNSHIP:
                self.townships.setdefault(name, []).append(pk)
            else:
                self.villages[(parent_id, name)] = (pk, path)


class _RowChecker:
    def __init__(self, *, actor: Actor, scheme: Scheme) -> None:
        self.actor = actor
        self.scheme = scheme
        self.regions = _Regions(scheme)
        self.allowed: dict[str, bool] = {}  # village path -> inside the actor's grants
        self.first_seen: dict[str, int] = {}  # ID digest -> first row
        self.lost: dict[str, list[tuple[int, str]]] = {"id": [], "phone": []}
        self.truncated: list[tuple[int, str, str]] = []  # row, number, problem
        self.issues: list[ImportIssue] = []
        self.row = 0

    def bad(self, key: str, message: str) -> None:
        self.issues.append(ImportIssue(message, self.row, LABEL[key]))

    def check(self, row: int, cells: dict[str, Any]) -> tuple[NewHousehold, ImportRow]:
        self.row = row
        text = {k: cell_text(v) for k, v in cells.items()}
        township, village = _plain(text["township"]), _plain(text["village"])
        village_id = self.village(township, village)
        name = _plain(text["name"])
        if not name:
            self.bad("name", _("户主姓名不能为空"))
        elif len(name) > 40:
            self.bad("name", _("户主姓名太长（最多40个字）"))
        number = self.id_number(cells["id"], _as_typed(text["id"]))
        phone = self.phone(cells.get("phone"), _as_typed(text.get("phone", "")))
        address = text.get("address", "")
        if len(address) > 200:
            self.bad("address", _("家庭住址太长（最多200个字）"))
        size_text = text.get("size", "")
        size = 1  # left blank: a household of one, as when entered by hand
        if size_text:
            whole = _whole_number(cells.get("size"), size_text)
            if whole is None or not 1 <= whole <= 99:
                self.bad(
                    "size", _("家庭人口应为1到99的整数，这里是“%(value)s”") % {"value": size_text}
                )
            else:
                size = whole
        status_text = _plain(text.get("status", ""))
        status = STATUS_BY_LABEL.get(status_text) if status_text else HouseholdStatus.ACTIVE
        if status is None:
            self.bad(
                "status",
                _("户状态只能填“正常”“外出务工”或“无劳动能力”，这里是“%(value)s”")
                % {"value": status_text},
            )
        shown = ImportRow(
            row=row,
            township=township,
            village=village,
            head_name=name,
            id_number=crypto.mask_id_number(number) if number else text["id"],
            phone=mask_phone(phone) if phone else text.get("phone", ""),
            address=address,
            size=size_text,
            status=status_text,
        )
        household = NewHousehold(
            village_id=village_id,
            head_name=name,
            id_number=number,
            phone=phone,
            address=address,
            size=size,
            status=status or HouseholdStatus.ACTIVE,
        )
        return household, shown

    def village(self, township: str, village: str) -> int:
        regions = self.regions
        candidates = regions.townships.get(township, [])
        if not township:
            self.bad("township", _("乡镇不能为空"))
        elif not candidates:
            self.bad(
                "township",
                _("%(top)s下没有%(township)s") % {"top": regions.top_name, "township": township},
            )
        elif len(candidates) > 1:
            self.bad(
                "township",
                _("%(top)s下有多个%(township)s，无法确定是哪一个")
                % {"top": regions.top_name, "township": township},
            )
        if not village:
            self.bad("village", _("村不能为空"))
            return 0
        if len(candidates) != 1:
            return 0
        found = regions.villages.get((candidates[0], village))
        if found is None:
            self.bad(
                "village",
                _("%(township)s下没有%(village)s") % {"township": township, "village": village},
            )
            return 0
        village_id, path = found
        if path not in self.allowed:
            try:
                require_role(
                    self.actor,
                    roles=ADMIN_ROLES,
                    scheme_id=self.scheme.pk,
                    region_path=path,
                    action="household.import",
                )
                self.allowed[path] = True
            except PermissionDenied:
                self.allowed[path] = False
        if not self.allowed[path]:
            self.bad("village", _("%(village)s不在您的管辖范围内") % {"village": village})
        return village_id

    def id_number(self, raw: Any, text: str) -> str:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            self.lost["id"].append((self.row, repr(raw) if isinstance(raw, float) else text))
            return ""
        if SCIENTIFIC.match(text):
            self.lost["id"].append((self.row, text))
            return ""
        number = idcard.normalize(text)
        problem = idcard.problem(number) if number else _("身份证号不能为空")
        if problem and len(number) == 18 and number.endswith("000"):
            # Excel keeps 15 significant digits: a number-formatted ID comes out as ...000.
            self.truncated.append((self.row, number, problem))
            return ""
        if problem:
            self.bad("id", problem)
            return ""
        digest = crypto.digest(number)
        if digest in self.first_seen:
            self.bad("id", _("身份证号与第%(row)d行重复") % {"row": self.first_seen[digest]})
        else:
            self.first_seen[digest] = self.row
        return number

    def phone(self, raw: Any, text: str) -> str:
        # A whole number below 2**53 (every phone number) survives being stored as a float;
        # only a fraction or scientific notation means digits were lost.
        if (isinstance(raw, float) and not raw.is_integer()) or SCIENTIFIC.match(text):
            self.lost["phone"].append((self.row, text))
            return ""
        try:
            return phones.normalize(text)
        except ValueError as exc:
            self.bad("phone", str(exc))
            return ""

    def finish(self) -> list[ImportIssue]:
        # Set-based, one query per chunk: ID numbers already registered in this scheme.
        digests = list(self.first_seen)
        for start in range(0, len(digests), DB_CHUNK):
            chunk = digests[start : start + DB_CHUNK]
            registered = Member.objects.filter(scheme=self.scheme, id_number_digest__in=chunk)
            for digest in registered.values_list("id_number_digest", flat=True):
                self.issues.append(
                    ImportIssue(
                        _("身份证号已在系统中登记，不能重复导入"),
                        self.first_seen[digest],
                        LABEL["id"],
                    )
                )
        if len(self.truncated) >= 2:
            self.lost["id"] = sorted(self.lost["id"] + [(r, n) for r, n, _ in self.truncated])
        else:
            self.issues.extend(ImportIssue(p, r, LABEL["id"]) for r, _, p in self.truncated)
        self.issues.sort(key=lambda i: (i.row or 0, COLUMN_ORDER.get(i.column, 99)))
        return [_numbers_lost(k, rows) for k, rows in self.lost.items() if rows] + self.issues


def _numbers_lost(column: str, rows: list[tuple[int, str]]) -> ImportIssue:
    first_row, shown = rows[0]
    if column == "id":
        what = _("18位身份证号的最后几位已经丢失")
        fix = _("再重新输入或粘贴身份证号（粘贴时选“只粘贴文本”，或在号码前加英文单引号 '）")
    else:
        what = _("手机号的后几位已经丢失")
        fix = _("再重新输入或粘贴手机号")
    return ImportIssue(
        _(
            "“%(column)s”这一列被保存成了数字格式，%(what)s"
            "（例如第%(row)d行变成了 %(shown)s），共%(count)d行，无法导入。"
            "请在Excel或WPS中选中这一列，把单元格格式设为“文本”，%(fix)s，保存后重新上传。"
        )
        % {
            "column": LABEL[column],
            "what": what,
            "row": first_row,
            "shown": shown,
            "count": len(rows),
            "fix": fix,
        },
        None,
        LABEL[column],
        tuple(sorted({r for r, _shown in rows})),
    )


def check_rows(
    *, actor: Actor, scheme: Scheme, table: Table, progress: Progress | None = None
) -> Checked:
    checker = _RowChecker(actor=actor, scheme=scheme)
    households: list[NewHousehold] = []
    preview: list[ImportRow] = []
    total = len(table.rows)
    for n, (row, cells) in enumerate(table.rows, start=1):
        household, shown = checker.check(row, cells)
        households.append(household)
        if len(preview) < PREVIEW_ROWS:
            preview.append(shown)
        if progress and n % PROGRESS_EVERY == 0:
            progress("check", n, total)
    issues = checker.finish()
    if progress:
        progress("check", total, total)
    wrong = {i.row for i in issues} | {r for i in issues for r in i.rows}
    preview = [replace(r, has_error=r.row in wrong) for r in preview]
    return Checked(households, preview, issues, total)
