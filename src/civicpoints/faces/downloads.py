"""Files the page faces hand out: a one-sheet xlsx, or with ``?format=csv`` the same rows as
CSV (utf-8 with a byte-order mark), under a Chinese file name (RFC 6266, as
``content_disposition_header`` writes it: every browser shows 排行榜-2026年.xlsx), never cached.
For tables small enough to hold in memory (a ranking, a year's star households); a staff list
of any size is ``faces.tables``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header

from civicpoints.exports import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE, csv_lines, xlsx_table


def table_download(
    request: HttpRequest,
    stem: str,
    headers: Sequence[str],
    rows: Iterable[Iterable[Any]],
    *,
    title: str = "",
) -> HttpResponse:
    """``rows`` under ``headers`` as ``<stem>.xlsx`` (sheet named ``title``, else the stem),
    or as ``<stem>.csv`` when the request says ``format=csv``."""
    if request.GET.get("format") == "csv":
        body = b"".join(csv_lines([list(headers), *rows]))
        response = HttpResponse(body, content_type=CSV_CONTENT_TYPE)
        name = f"{stem}.csv"
    else:
        body = xlsx_table(title or stem, headers, rows)
        response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
        name = f"{stem}.xlsx"
    response["Content-Disposition"] = content_disposition_header(True, name) or ""
    response["Cache-Control"] = "no-store"
    return response
