"""The list of a commendation event (表彰兑换名单): text typed, pasted from a spreadsheet or
read from an uploaded file, turned into one row per household for ``ceremony_redeem``.

``ceremony_list_parse`` finds each line's household (name or card, among those the store
serves) and product (on sale there) and says in words what is wrong with a line;
``ceremony_list_preview`` lays the rows out with totals, stock and the reasons
``ceremony_check`` gives. Reads only: nothing here writes, and whether a household may redeem
is decided by ``stores.services.ceremony``, never here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from civicpoints.households.importing.reading import Layout, cell_text, read_table
from civicpoints.households.models import Household
from civicpoints.stores.models import Product, Store
from civicpoints.stores.selectors import households_served, products_of
from civicpoints.stores.services import CeremonyCheck, CeremonyRow, Item

MAX_LINES = 2000
MAX_QUANTITY = 10_000
# The uploaded list's columns: (key, header, other headers people use).
LIST_COLUMNS = (
    ("household", "户主或卡号", ("户主", "户主姓名", "姓名", "卡号", "积分卡号", "农户")),
    ("product", "商品", ("商品名称", "奖品", "物品")),
    ("quantity", "数量", ("件数", "个数")),
)
LIST_LAYOUT = Layout(
    LIST_COLUMNS,
    required=("household", "product", "quantity"),
    what=gettext_noop("表彰兑换名单"),
)


@dataclass
class Group:
    """One household of the list with everything it receives (lines merged by household)."""

    household: Household
    lines: list[int] = field(default_factory=list)
    items: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def row(self) -> CeremonyRow:
        return CeremonyRow(
            household_id=self.household.pk,
            items=tuple(Item(product_id=p, quantity=q) for p, q in sorted(self.items.items())),
        )


@dataclass
class CeremonyList:
    """The parsed list: its households (first line first), what is wrong, the store's products."""

    groups: list[Group]
    problems: list[str]
    products: dict[int, Product]

    @property
    def ok(self) -> bool:
        return bool(self.groups) and not self.problems

    def rows(self) -> list[CeremonyRow]:
        """What ``ceremony_check`` and ``ceremony_redeem`` take: row n is ``groups[n - 1]``."""
        return [g.row() for g in self.groups]


@dataclass
class Preview:
    rows: list[dict[str, Any]]
    stock: list[dict[str, Any]]
    total: int


def split_line(line: str) -> list[str]:
    """Tab (pasted from Excel), comma, or spaces: "王秀英 大米 10斤 2" keeps the product whole."""
    if "\t" in line:
        return [c.strip() for c in line.split("\t")]
    if re.search(r"[,，]", line):
        return [c.strip() for c in re.split(r"[,，]", line)]
    words = line.split()
    if len(words) <= 3:
        return words
    return [words[0], " ".join(words[1:-1]), words[-1]]


def _household(store: Store, who: str) -> Household | str:
    """The one household the store serves with this card code or head's name, else why not."""
    served = households_served(store).select_related("village__parent", "account")
    by_card = list(served.filter(card_code=who.upper())[:2]) if who.isascii() else []
    found = by_card or list(served.filter(head_name=who)[:2])
    if not found:
        return _("本超市服务范围内没有“%(who)s”") % {"who": who}
    if len(found) > 1:
        return _("“%(who)s”有重名，请改用卡号") % {"who": who}
    return found[0]


def _quantity(text: str) -> int | None:
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_QUANTITY:
        return int(text)
    return None


def ceremony_list_parse(store: Store, text: str) -> CeremonyList:
    """Each line "户主或卡号, 商品, 数量" of ``text`` -> the households and their items, and a
    problem in words for every line that cannot be read (a header line is skipped)."""
    products = {p.pk: p for p in products_of(store)}
    by_name = {p.name: p for p in products.values()}
    groups: dict[int, Group] = {}
    problems: list[str] = []
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        return CeremonyList([], [_("名单超过 %(n)s 行") % {"n": MAX_LINES}], products)
    for number, raw in enumerate(lines, start=1):
        cells = split_line(raw.strip())
        if not cells or cells == [""]:
            continue
        if number == 1 and LIST_LAYOUT.key(cells[0]) == "household":
            continue  # a header row pasted along with the list
        where = _("第%(n)s行") % {"n": number}
        if len(cells) != 3 or not all(cells):
            problems.append(where + _("：应为“户主或卡号、商品、数量”三项"))
            continue
        who, name, typed = cells
        product = by_name.get(name)
        quantity = _quantity(typed)
        if quantity is None:
            problems.append(where + _("：数量应为正整数"))
            continue
        if product is None:
            problems.append(where + _("：本超市没有在售的“%(name)s”") % {"name": name})
            continue
        household = _household(store, who)
        if isinstance(household, str):
            problems.append(_("%(where)s：%(problem)s") % {"where": where, "problem": household})
            continue
        group = groups.setdefault(household.pk, Group(household))
        group.lines.append(number)
        group.items[product.pk] += quantity
    return CeremonyList(list(groups.values()), problems, products)


def ceremony_list_text(data: bytes) -> str:
    """An uploaded list (Excel, WPS or CSV, columns found by their headers) as the text the
    form holds: one tab-separated line per row. Raises ``FileProblem`` for an unreadable file."""
    table = read_table(data, LIST_LAYOUT)
    return "\n".join(
        "\t".join(cell_text(values.get(k)) for k in ("household", "product", "quantity"))
        for _row, values in table.rows
    )


def ceremony_list_preview(parsed: CeremonyList, check: CeremonyCheck | None) -> Preview:
    """The preview's rows and stock, each with the reasons it fails (from ``ceremony_check``)."""
    failing: dict[int, list[str]] = defaultdict(list)
    short_stock: dict[int, str] = {}
    for problem in check.problems if check else []:
        if problem.get("row") is None:
            short_stock[problem["product"]] = problem["message"]
        else:
            failing[problem["row"]].append(problem["message"])
    rows = []
    needed: dict[int, int] = defaultdict(int)
    grand_total = 0
    for number, group in enumerate(parsed.groups, start=1):
        items = [(parsed.products[p], q) for p, q in sorted(group.items.items())]
        total = sum(p.price * q for p, q in items)
        grand_total += total
        available = group.household.account.available
        for p, q in items:
            needed[p.pk] += q
        rows.append(
            {
                "number": number,
                "h": group.household,
                "lines": group.lines,
                "items": items,
                "total": total,
                "available": available,
                "short": available < total,
                "problems": failing.get(number, []),
            }
        )
    stock = [
        {
            "product": parsed.products[pk],
            "needed": n,
            "short": parsed.products[pk].stock < n,
            "problem": short_stock.get(pk, ""),
        }
        for pk, n in sorted(needed.items())
    ]
    return Preview(rows, stock, grand_total)


def ceremony_list_refusals(parsed: CeremonyList, errors: list[dict[str, Any]]) -> list[dict]:
    """``ceremony_redeem``'s refusal (rows numbered from 1) with each row's household and the
    list's line numbers, so the page can say which lines to mend."""
    out = []
    for e in errors:
        row = e.get("row")
        group = (
            parsed.groups[row - 1]
            if isinstance(row, int) and 0 < row <= len(parsed.groups)
            else None
        )
        out.append(
            {**e, "lines": group.lines if group else [], "h": group.household if group else None}
        )
    return out
