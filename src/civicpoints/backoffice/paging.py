"""Paging for every staff list: one page of rows, the total ("共 N 条") and links to the
other pages that keep the list's filters. Never reads beyond the page it shows (plus a count).
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 50


def paged(request: HttpRequest, rows: Any, *, per_page: int = PER_PAGE, name: str = "page") -> Page:
    """The requested page of ``rows`` (a bad or too large page number gives the nearest page)."""
    page = Paginator(rows, per_page).get_page(request.GET.get(name))
    query = request.GET.copy()
    query.pop(name, None)
    page.keep = query.urlencode()  # type: ignore[attr-defined]
    page.param = name  # type: ignore[attr-defined]
    page.links = _links(page)  # type: ignore[attr-defined]
    return page


def _links(page: Page) -> list[int | None]:
    """Page numbers to offer: the first, the last and two either side of this one (None: …)."""
    last = page.paginator.num_pages
    wanted = {1, last, *range(page.number - 2, page.number + 3)}
    shown: list[int | None] = []
    for number in sorted(n for n in wanted if 1 <= n <= last):
        if shown and shown[-1] is not None and number - shown[-1] > 1:
            shown.append(None)
        shown.append(number)
    return shown
