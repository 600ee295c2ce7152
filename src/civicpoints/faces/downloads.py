"""Files the page faces hand out: a one-sheet xlsx under a Chinese file name (RFC 6266, as
``content_disposition_header`` writes it: every browser shows 排行榜-2026年.xlsx), never cached."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header

from civicpoints.exports import XLSX_CONTENT_TYPE, xlsx_table


def xlsx_download(
    stem: str, headers: Sequence[str], rows: Iterable[Iterable[Any]], *, title: str = ""
) -> HttpResponse:
    """``rows`` under ``headers`` as ``<stem>.xlsx`` (sheet named ``title``, else the stem)."""
    response = HttpResponse(
        xlsx_table(title or stem, headers, rows), content_type=XLSX_CONTENT_TYPE
    )
    response["Content-Disposition"] = content_disposition_header(True, f"{stem}.xlsx") or ""
    response["Cache-Control"] = "no-store"
    return response
