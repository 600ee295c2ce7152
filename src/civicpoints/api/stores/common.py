"""Shared by the store endpoints: who is calling, a readable store, items in and lines out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Schema
from pydantic import Field

from civicpoints.api.schemas import ErrorOut, Id, points_out
from civicpoints.households.models import Household
from civicpoints.schemes.scope import Actor
from civicpoints.stores.models import Store
from civicpoints.stores.selectors import (
    store_for,
    store_for_household,
)
from civicpoints.stores.services import Item

ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
KEYED_ERRORS: dict[int, Any] = {400: ErrorOut, **ERRORS}


def actor_of(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined,no-any-return]


def resident_of(request: HttpRequest) -> Household | None:
    return getattr(request, "household", None)


def readable_store(request: HttpRequest, store_id: str) -> Store:
    """A store the caller may read: a resident's own stores, or staff's by grant or clerk list."""
    household = resident_of(request)
    if household is not None:
        return store_for_household(household, store_id)
    return store_for(actor_of(request), store_id)


def day_bounds(day: dt.date | None) -> tuple[dt.datetime, dt.datetime]:
    """[00:00, 24:00) of a day in Asia/Shanghai (today when not given)."""
    day = day or timezone.localdate()
    start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    return start, timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))


def yuan_out(fen: int | None) -> float | None:
    return None if fen is None else points_out(fen)  # fen are hundredths of a yuan


class ItemIn(Schema):
    product: Id
    quantity: int = Field(ge=1, le=10_000, strict=True)


def items_of(items: list[ItemIn]) -> list[Item]:
    return [Item(product_id=i.product, quantity=i.quantity) for i in items]


class LineOut(Schema):
    product: int
    name: str
    unit: str
    quantity: int
    unit_price: float
    points: float
