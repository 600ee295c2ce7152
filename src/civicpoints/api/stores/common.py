"""Shared by the store endpoints: who is calling, a readable store, items in and lines out."""

from __future__ import annotations

from typing import Annotated, Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field, PlainValidator, WithJsonSchema

from civicpoints.api.schemas import ErrorOut, Id, points_out
from civicpoints.calendar import day_bounds as day_bounds  # for api.stores.counter
from civicpoints.errors import invalid
from civicpoints.households.models import Household
from civicpoints.schemes.models import User
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


def _staff_ref(value: Any) -> int | str:
    """A user id (a JSON number) or a username (a JSON string); nothing else."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 2**53:
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= 150:
        return value.strip()
    raise ValueError(_("应为用户 id（数字）或用户名（文字）"))


StaffRef = Annotated[
    int | str,
    PlainValidator(_staff_ref),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}],
            "description": "用户 id（数字）或用户名（文字）",
        }
    ),
]


def named_staff(
    refs: list[int | str], candidates: QuerySet[User], *, field: str, message: str
) -> list[int]:
    """Ids of the staff named by id or username, all of them among ``candidates`` (those the
    caller may name); any other name is refused at ``field`` before anything is written."""
    ids = [r for r in refs if isinstance(r, int)]
    names = [r.strip() for r in refs if isinstance(r, str)]
    found = candidates.filter(Q(pk__in=ids) | Q(username__in=names)).values_list("pk", "username")
    by_id = {pk: pk for pk, _name in found}
    by_name = {name: pk for pk, name in found}
    unknown = [str(r) for r in ids if r not in by_id] + [n for n in names if n not in by_name]
    if unknown:
        raise invalid(message % {"who": _("、").join(unknown)}, field=field, unknown=unknown)
    return sorted({*(by_id[i] for i in ids), *(by_name[n] for n in names)})
