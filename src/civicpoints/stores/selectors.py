"""Reads for stores, always through the actor's scope.

A store is seen by its clerks (listed on the store, not by region: a clerk works one counter)
and by admins and auditors over its region. A household is found at a counter only among the
households the store serves (its village, or every village under its township).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Q, QuerySet

from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.selectors import household_search_in
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, one_or_404, scope_q
from civicpoints.stores.models import Delivery, Order, Product, Redemption, Store

STORE_READERS = ADMIN_ROLES | {Role.AUDITOR}


def stores_visible(actor: Actor) -> QuerySet[Store]:
    mine = Q(clerks=actor.user_id) if actor.user_id else Q(pk__in=[])
    q = mine | scope_q(actor, region_path_field="region__path", roles=STORE_READERS)
    return Store.objects.filter(q).distinct().select_related("region", "scheme")


def counter_stores(actor: Actor) -> QuerySet[Store]:
    """The stores whose counter the actor may work: as a clerk, or as an admin over it."""
    mine = Q(clerks=actor.user_id) if actor.user_id else Q(pk__in=[])
    return stores_visible(actor).filter(
        mine | scope_q(actor, region_path_field="region__path", roles=ADMIN_ROLES)
    )


def store_for(actor: Actor, store_id: Any) -> Store:
    return one_or_404(stores_visible(actor), store_id, "store")


def products_of(store: Store, *, active_only: bool = True) -> QuerySet[Product]:
    products = Product.objects.filter(store=store).order_by("pk")
    return products.filter(active=True) if active_only else products


def product_for(store: Store, product_id: Any) -> Product:
    return one_or_404(
        Product.objects.filter(store=store).select_related("store"), product_id, "product"
    )


def low_stock(store: Store) -> QuerySet[Product]:
    return products_of(store).filter(stock__lte=F("low_stock_at"))


def households_served(store: Store) -> QuerySet[Household]:
    return Household.objects.filter(
        scheme_id=store.scheme_id, village__path__startswith=store.region.path
    ).exclude(status=HouseholdStatus.CLOSED)


def counter_search(store: Store, query: str, *, limit: int = 20) -> QuerySet[Household]:
    """Find a household at the counter: QR/card code, name, pinyin initials or phone."""
    return household_search_in(households_served(store), query, limit=limit)


def counter_household(store: Store, household_id: Any) -> Household:
    return one_or_404(
        households_served(store).select_related("village", "account"), household_id, "household"
    )


def redemptions_visible(actor: Actor) -> QuerySet[Redemption]:
    return Redemption.objects.filter(store__in=stores_visible(actor)).select_related(
        "store", "store__region", "household", "household__village", "posting"
    )


def redemption_for(actor: Actor, redemption_id: Any) -> Redemption:
    return one_or_404(redemptions_visible(actor), redemption_id, "redemption")


def return_deadline(redemption: Redemption) -> dt.datetime:
    """Until when the goods may come back (the store's return window)."""
    return redemption.created_at + dt.timedelta(days=redemption.store.return_days)


def deliveries_visible(actor: Actor) -> QuerySet[Delivery]:
    return Delivery.objects.filter(store__in=stores_visible(actor)).select_related(
        "store", "store__region", "redemption", "redemption__household"
    )


def delivery_for(actor: Actor, delivery_id: Any) -> Delivery:
    return one_or_404(deliveries_visible(actor), delivery_id, "delivery")


def orders_visible(actor: Actor) -> QuerySet[Order]:
    return Order.objects.filter(store__in=stores_visible(actor)).select_related(
        "store", "store__region", "household", "hold"
    )


def order_for(actor: Actor, order_id: Any) -> Order:
    return one_or_404(orders_visible(actor), order_id, "order")


def stores_for_household(household: Household) -> QuerySet[Store]:
    """The stores a resident may order from: their village's and their township's."""
    path = household.village.path
    prefixes = [path[: i + 1] for i, c in enumerate(path) if c == "/"]
    return Store.objects.filter(
        scheme_id=household.scheme_id, active=True, region__path__in=prefixes
    ).select_related("region")


def store_for_household(household: Household, store_id: Any) -> Store:
    """A store a resident may order from (their village's or township's), or 404."""
    return one_or_404(stores_for_household(household), store_id, "store")


def orders_of_household(household: Household) -> QuerySet[Order]:
    return Order.objects.filter(household=household).select_related(
        "store", "store__region", "household", "hold"
    )


def order_for_household(household: Household, order_id: Any) -> Order:
    """One of the resident's own orders, or 404 (another household's looks like a missing one)."""
    return one_or_404(orders_of_household(household), order_id, "order")
