"""Staff pages for a commendation event (评比表彰现场): many households redeem in one batch.

The admin picks a store, a title and a date, and builds the list: rows added one by one
(household found by name or card, product, quantity), pasted from a spreadsheet, or uploaded.
The list is text until the last step: preview -> confirm -> ``ceremony_redeem``, which writes
every row or none; its refusal names the failing rows and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_http_methods

from civicpoints.backoffice.store_views import manages
from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.households.importing.reading import FileProblem, Layout, cell_text, read_table
from civicpoints.households.models import Household
from civicpoints.schemes.scope import Actor, actor_for_user, parse_id
from civicpoints.stores.models import Ceremony, Product, Store
from civicpoints.stores.selectors import (
    ceremony_made_with,
    counter_search,
    households_served,
    products_of,
    redemptions_visible,
    stores_visible,
)
from civicpoints.stores.services import (
    CeremonyCheck,
    CeremonyRow,
    Item,
    ceremony_check,
    ceremony_redeem,
)

MAX_LINES = 2000
MAX_UPLOAD = 2 * 1024 * 1024
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


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "backoffice/not_found.html", status=404)


def managed_stores(actor: Actor) -> list[Store]:
    return [
        s
        for s in stores_visible(actor).filter(active=True).order_by("region__code", "pk")[:500]
        if manages(actor, s)
    ]


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
class Parsed:
    groups: list[Group]
    problems: list[str]
    products: dict[int, Product]

    @property
    def ok(self) -> bool:
        return bool(self.groups) and not self.problems


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
    served = households_served(store).select_related("village__parent", "account")
    by_card = list(served.filter(card_code=who.upper())[:2]) if who.isascii() else []
    found = by_card or list(served.filter(head_name=who)[:2])
    if not found:
        return _("本超市服务范围内没有“%(who)s”") % {"who": who}
    if len(found) > 1:
        return _("“%(who)s”有重名，请改用卡号") % {"who": who}
    return found[0]


def parse_list(store: Store, text: str) -> Parsed:
    products = {p.pk: p for p in products_of(store)}
    by_name = {p.name: p for p in products.values()}
    groups: dict[int, Group] = {}
    problems: list[str] = []
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        return Parsed([], [_("名单超过 %(n)s 行") % {"n": MAX_LINES}], products)
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
        who, name, quantity = cells
        product = by_name.get(name)
        if not (quantity.isascii() and quantity.isdigit() and 0 < int(quantity) <= 10_000):
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
        group.items[product.pk] += int(quantity)
    return Parsed(list(groups.values()), problems, products)


def _preview_rows(
    parsed: Parsed, check: CeremonyCheck | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
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
    return rows, stock, grand_total


def _table_as_text(data: bytes) -> str:
    table = read_table(data, LIST_LAYOUT)
    return "\n".join(
        "\t".join(cell_text(values.get(k)) for k in ("household", "product", "quantity"))
        for _row, values in table.rows
    )


@login_required
@require_http_methods(["GET", "POST"])
def ceremony_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    stores = managed_stores(actor)
    if not stores:
        return _not_found(request)
    data: Any = request.POST if request.method == "POST" else request.GET
    store = next((s for s in stores if s.pk == parse_id(data.get("store"))), None)
    if store is None and len(stores) == 1:
        store = stores[0]
    context: dict[str, Any] = {
        "stores": stores,
        "store": store,
        "title": data.get("title", "")[:100],
        "held_on": data.get("held_on") or timezone.localdate().isoformat(),
        "text": data.get("text", "")[:200_000],
        "products": list(products_of(store)) if store else [],
    }
    if request.method == "GET" or request.POST.get("edit"):
        return render(request, "backoffice/ceremony_new.html", context)
    upload = request.FILES.get("file")
    if upload is not None:
        try:
            context["text"] = _table_as_text(upload.read(MAX_UPLOAD + 1))
        except FileProblem as exc:
            messages.error(request, str(exc))
            return render(request, "backoffice/ceremony_new.html", context, status=422)
    try:
        held_on = dt.date.fromisoformat(context["held_on"])
    except ValueError:
        messages.error(request, _("日期格式应为 2026-12-01"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    if store is None:
        messages.error(request, _("请选择超市"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    if not context["title"].strip():
        messages.error(request, _("请填写表彰活动名称"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    parsed = parse_list(store, context["text"])
    if not parsed.groups and not parsed.problems:
        messages.error(request, _("请至少添加一户"))
        return render(request, "backoffice/ceremony_new.html", context, status=422)
    key = ("ceremony:" + request.POST.get("key", ""))[:200] if request.POST.get("key") else None
    confirming = request.POST.get("step") == "confirm"
    # Every row is checked as the redemption would check it; while any fails there is no
    # confirm on the page, and a confirm posted anyway is answered with this preview (422).
    # A second tap on confirm finds its batch made and is not checked again (it replays).
    replay = confirming and parsed.ok and key and ceremony_made_with(store, key)
    check = (
        ceremony_check(actor=actor, store=store, rows=[g.row() for g in parsed.groups])
        if parsed.ok and not replay
        else None
    )
    rows, stock, total = _preview_rows(parsed, check)
    ready = bool(replay) or (check is not None and check.ok)
    context.update(
        {
            "parsed": parsed,
            "rows": rows,
            "stock": stock,
            "total": total,
            "households": len(rows),
            "ready": ready,
            "failing": sum(1 for r in rows if r["problems"]),
            "stock_failing": sum(1 for s in stock if s["problem"]),
        }
    )
    if not confirming or not ready:
        if confirming:
            messages.error(request, _("名单中还有不能兑换的行，未兑换任何一户"))
        context["key"] = secrets.token_urlsafe(16)
        return render(
            request, "backoffice/ceremony_preview.html", context, status=200 if ready else 422
        )
    try:
        ceremony = ceremony_redeem(
            actor=actor,
            store=store,
            title=context["title"],
            held_on=held_on,
            rows=[g.row() for g in parsed.groups],
            idempotency_key=key,
        )
    except ApplicationError as exc:
        if exc.code != ErrorCode.CEREMONY_INVALID:
            messages.error(request, exc.message)
            context["key"] = secrets.token_urlsafe(16)
            return render(request, "backoffice/ceremony_preview.html", context, status=422)
        context["refused"] = _refusals(exc.detail.get("errors", []), parsed)
        context["message"] = exc.message
        return render(request, "backoffice/ceremony_refused.html", context, status=422)
    messages.success(
        request,
        _("表彰兑换完成：%(title)s，共 %(n)s 户") % {"title": ceremony.title, "n": len(rows)},
    )
    return redirect("backoffice:ceremony", ceremony_id=ceremony.pk)


def _refusals(errors: list[dict[str, Any]], parsed: Parsed) -> list[dict[str, Any]]:
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


@login_required
@require_GET
def ceremony_households(request: HttpRequest) -> HttpResponse:
    """HTMX: households the chosen store serves, by name, pinyin initials, phone or card."""
    actor = actor_for_user(request.user)
    store = next(
        (s for s in managed_stores(actor) if s.pk == parse_id(request.GET.get("store"))), None
    )
    if store is None:
        return _not_found(request)
    q = request.GET.get("q", "")[:40].strip()
    found = list(counter_search(store, q, limit=20)) if q else []
    return render(request, "backoffice/_ceremony_households.html", {"found": found, "q": q})


def ceremony_for(actor: Actor, ceremony_id: Any) -> Ceremony:
    pk = parse_id(ceremony_id)
    found = (
        Ceremony.objects.filter(store__in=stores_visible(actor), pk=pk)
        .select_related("store", "actor")
        .first()
        if pk
        else None
    )
    if found is None:
        raise NotFound("ceremony")
    return found


@login_required
@require_GET
def ceremony_detail(request: HttpRequest, ceremony_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    try:
        ceremony = ceremony_for(actor, ceremony_id)
    except ApplicationError:
        return _not_found(request)
    redemptions = list(
        redemptions_visible(actor)
        .filter(ceremony=ceremony)
        .select_related("household__village__parent")
        .prefetch_related("lines__product")
        .order_by("pk")
    )
    return render(
        request,
        "backoffice/ceremony.html",
        {
            "ceremony": ceremony,
            "redemptions": redemptions,
            "total": sum(r.points for r in redemptions),
        },
    )
