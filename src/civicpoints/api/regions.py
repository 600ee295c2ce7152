"""GET /regions: the regions in the caller's scope (and the path down to them)."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut
from civicpoints.schemes.selectors import regions_visible

router = Router(tags=["regions"])


class RegionOut(Schema):
    id: int
    code: str
    name: str
    level: int
    parent: int | None


@router.get("", response={200: list[RegionOut], 422: ErrorOut})
def regions(
    request: HttpRequest, level: Annotated[int, Field(ge=1, le=5)] | None = None
) -> list[dict]:
    rows = regions_visible(request.actor)  # type: ignore[attr-defined]
    if level is not None:
        rows = rows.filter(level=level)
    return [
        {"id": r.pk, "code": r.code, "name": r.name, "level": r.level, "parent": r.parent_id}
        for r in rows
    ]
