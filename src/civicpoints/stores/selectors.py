"""Reads for stores, always through the actor's scope.

A store is seen by its clerks (listed on the store, not by region: a clerk works one counter)
and by admins and auditors over its region (so a county store is the county's alone: township
admins neither see nor manage it). Which households a store serves is decided here only
(``served_paths``): its village; every village under its township; the whole county; or, for a
county store with chosen townships, the villages under those. The counter search, redemption,
orders, ceremonies and the resident's list of stores all follow it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.calendar import day_start
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.selectors import household_search_in
from civicpoints.households.standing import disqualified_on
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, one_or_404, scope_q
from civicpoints.stores.models import (
    Ceremony,
    Delivery,
    LimitPeriod,
    OfflineSale,
    OfflineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Redemption,
    RedemptionLine,
    Store,
)

STORE_READERS = ADMIN_ROLES | {Role.AUDITOR}


def stores_visible(actor: Actor) -> QuerySet[Store]:
    mine = Q(clerks=actor.user_id) if actor.user_id else Q(pk__in=[])
    q = mine | scope_q(actor, region_path_field="region__path", roles=STORE_READERS)
    return (
        Store.objects.filter(q)
        .distinct()
        .select_related("region", "scheme")
        .prefetch_related("served_townships")
    )


def counter_stores(actor: Actor) -> QuerySet[Store]:
    """The stores whose counter the actor may work: as a clerk, or as an admin over it."""
    mine = Q(clerks=actor.user_id) if actor.user_id else Q(pk__in=[])
    return stores_visible(actor).filter(
        mine | scope_q(actor, region_path_field="region__path", roles=ADMIN_ROLES)
    )


def store_for(actor: Actor, store_id: Any) -> Store:
    return one_or_404(stores_visible(actor), store_id, "store")


def products_on_sale() -> QuerySet[Product]:
    """Products on the shelf, in shelf order (for a prefetch across stores)."""
    return Product.objects.filter(active=True).order_by("pk")


def products_of(store: Store, *, active_only: bool = True) -> QuerySet[Product]:
    products = Product.objects.filter(store=store).order_by("pk")
    return products.filter(active=True) if active_only else products


def product_for(store: Store, product_id: Any) -> Product:
    return one_or_404(
        Product.objects.filter(store=store).select_related("store"), product_id, "product"
    )


def low_stock(store: Store) -> QuerySet[Product]:
    return products_of(store).filter(stock__lte=F("low_stock_at"))


def served_paths(store: Store) -> list[str]:
    """The region paths whose households the store serves: its chosen townships, else its own
    region (a village, a township or the county). Uses a prefetch of ``served_townships``."""
    chosen = sorted(r.path for r in store.served_townships.all())
    return chosen or [store.region.path]


def serves(store: Store, household: Household) -> bool:
    """Whether the household may redeem at the store (the one rule; no query when prefetched)."""
    return household.scheme_id == store.scheme_id and any(
        household.village.path.startswith(p) for p in served_paths(store)
    )


def households_served(store: Store) -> QuerySet[Household]:
    under = Q(pk__in=[])
    for path in served_paths(store):
        under |= Q(village__path__startswith=path)
    return Household.objects.filter(under, scheme_id=store.scheme_id).exclude(
        status=HouseholdStatus.CLOSED
    )


def counter_search(store: Store, query: str, *, limit: int = 20) -> QuerySet[Household]:
    """Find a household at the counter: QR/card code, name, pinyin initials or phone."""
    return household_search_in(households_served(store), query, limit=limit)


def counter_household(store: Store, household_id: Any) -> Household:
    return one_or_404(
        households_served(store).select_related("village", "account"), household_id, "household"
    )


def counter_household_any(store: Store, household_id: Any) -> Household:
    """A household of the store's scheme, served or not, closed or not: an offline sale's,
    whose sync must record why it is refused rather than answer 404."""
    return one_or_404(
        Household.objects.filter(scheme_id=store.scheme_id).select_related("village", "account"),
        household_id,
        "household",
    )


def offline_sales_of_store(store: Store) -> list[OfflineSale]:
    """The store's offline sales that did not simply book: conflicts first, newest first."""
    return list(
        OfflineSale.objects.filter(store=store)
        .exclude(status=OfflineStatus.SYNCED)
        .select_related("household", "household__village", "device", "recorded_by")
        .order_by("-offline_at", "-pk")[:500]
    )


def product_names(ids: set[int]) -> dict[int, str]:
    return dict(Product.objects.filter(pk__in=ids).values_list("pk", "name"))


def offline_goods(sale: OfflineSale, names: dict[int, str] | None = None) -> str:
    """ "美的电饭煲×1、大米×2": what an offline sale handed over, in words."""
    if names is None:
        names = product_names({pk for pk, _q in sale.items})
    return _("、").join(f"{names.get(pk, pk)}×{q}" for pk, q in sale.items)


OPEN_CONFLICTS = [OfflineStatus.CONFLICT, OfflineStatus.WRITE_OFF_PENDING]


def offline_conflicts_visible(actor: Actor) -> list[OfflineSale]:
    """Open conflicts of households under the actor's admin grants (village and up)."""
    q = scope_q(actor, region_path_field="household__village__path", roles=ADMIN_ROLES)
    return list(
        OfflineSale.objects.filter(q, status__in=OPEN_CONFLICTS)
        .select_related("store", "store__region", "household", "household__village", "device")
        .order_by("offline_at", "pk")[:500]
    )


def offline_conflicts_count(actor: Actor) -> int:
    q = scope_q(actor, region_path_field="household__village__path", roles=ADMIN_ROLES)
    return OfflineSale.objects.filter(q, status__in=OPEN_CONFLICTS).count()


def offline_conflict_for(actor: Actor, sale_id: Any) -> OfflineSale:
    q = scope_q(actor, region_path_field="household__village__path", roles=ADMIN_ROLES)
    return one_or_404(
        OfflineSale.objects.filter(q).select_related(
            "store", "store__region", "household", "household__village"
        ),
        sale_id,
        "offline_sale",
    )


def offline_sale_for(store: Store, sale_id: Any) -> OfflineSale:
    return one_or_404(
        OfflineSale.objects.filter(store=store).select_related(
            "store", "store__scheme", "household", "household__village"
        ),
        sale_id,
        "offline_sale",
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
    """The open stores serving the household (``serves`` as one query): a store over its
    village (village, township or county) that names no townships, or names the household's."""
    path = household.village.path
    prefixes = [path[: i + 1] for i, c in enumerate(path) if c == "/"]
    chosen = Store.served_townships.through.objects.filter(store_id=OuterRef("pk"))
    return (
        Store.objects.filter(scheme_id=household.scheme_id, active=True, region__path__in=prefixes)
        .filter(~Exists(chosen) | Exists(chosen.filter(region__path__in=prefixes)))
        .select_related("region")
        .prefetch_related("served_townships")
        .order_by("-region__level", "pk")
    )


def store_for_household(household: Household, store_id: Any) -> Store:
    """A store serving the resident's household (``stores_for_household``), or 404."""
    return one_or_404(stores_for_household(household), store_id, "store")


def orders_of_household(household: Household) -> QuerySet[Order]:
    return Order.objects.filter(household=household).select_related(
        "store", "store__region", "household", "hold"
    )


def order_for_household(household: Household, order_id: Any) -> Order:
    """One of the resident's own orders, or 404 (another household's looks like a missing one)."""
    return one_or_404(orders_of_household(household), order_id, "order")


# --- the staff home's counts (one query each, over the stores whose counter the actor works) ---


def low_stock_count(actor: Actor) -> int:
    """Products on sale at or under their alert level, in the stores this person runs."""
    return Product.objects.filter(
        store__in=counter_stores(actor).values("pk"),
        active=True,
        stock__lte=F("low_stock_at"),
    ).count()


def orders_to_pick_count(actor: Actor) -> int:
    from civicpoints.stores.models import OrderStatus

    return Order.objects.filter(
        store__in=counter_stores(actor).values("pk"), status=OrderStatus.HELD
    ).count()


def deliveries_to_do_count(actor: Actor) -> int:
    """Deliveries waiting to go out, on their way, or failed and to be tried again."""
    from civicpoints.stores.models import DeliveryStatus

    return Delivery.objects.filter(
        store__in=counter_stores(actor).values("pk"),
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.OUT, DeliveryStatus.FAILED),
    ).count()


def stores_managed(actor: Actor) -> QuerySet[Store]:
    """The open stores the actor manages (an admin over the store's region; ``STORE_MANAGERS``),
    by region: where a ceremony may be held."""
    return (
        stores_visible(actor)
        .filter(scope_q(actor, region_path_field="region__path", roles=ADMIN_ROLES), active=True)
        .order_by("region__code", "pk")
    )


def store_managed_for(actor: Actor, store_id: Any) -> Store:
    """One of ``stores_managed``, or 404."""
    return one_or_404(stores_managed(actor), store_id, "store")


def ceremony_for(actor: Actor, ceremony_id: Any) -> Ceremony:
    """A ceremony of a store the actor sees, or 404."""
    return one_or_404(
        Ceremony.objects.filter(store__in=stores_visible(actor)).select_related("store", "actor"),
        ceremony_id,
        "ceremony",
    )


def ceremony_made_with(store: Store, idempotency_key: str) -> Ceremony | None:
    """The batch already made under this key (a second tap on confirm replays it)."""
    return Ceremony.objects.filter(
        scheme_id=store.scheme_id, store=store, idempotency_key=idempotency_key
    ).first()


# --- what a household may order (the resident's phone pages) ---------------------------------


def period_start(period: str, today: dt.date) -> dt.date | None:
    """The first day of a per-household limit's current period (None: no limit)."""
    if period == LimitPeriod.DAY:
        return today
    if period == LimitPeriod.WEEK:
        return today - dt.timedelta(days=today.weekday())
    if period == LimitPeriod.MONTH:
        return today.replace(day=1)
    if period == LimitPeriod.YEAR:
        return today.replace(month=1, day=1)
    return None


local_midnight = day_start  # the name stores.services.counter imports


def limits_used(
    household: Household, products: Sequence[Product], today: dt.date
) -> dict[int, int]:
    """Units of each limited product the household has in its current period: redeemed and not
    returned, plus held in open orders (as ``_check_limit`` counts them). Two queries for any
    number of products: one sum per period kind, grouped by product."""
    limited = [p for p in products if p.limit_quantity and period_start(p.limit_period, today)]
    if not limited:
        return {}
    starts = {
        period: local_midnight(start)
        for period in LimitPeriod.values
        if (start := period_start(period, today)) is not None
    }
    earliest = min(starts[p.limit_period] for p in limited)
    ids = [p.pk for p in limited]

    def summed(rows: QuerySet[Any], created: str) -> dict[tuple[int, str], int]:
        sums = {
            period: Sum("quantity", filter=Q(**{f"{created}__gte": start}))
            for period, start in starts.items()
        }
        out: dict[tuple[int, str], int] = {}
        for row in (
            rows.filter(product_id__in=ids, **{f"{created}__gte": earliest})
            .values("product_id")
            .annotate(**sums)
        ):
            for period in starts:
                out[(row["product_id"], period)] = row[period] or 0
        return out

    redeemed = summed(
        RedemptionLine.objects.filter(
            redemption__household=household, redemption__returned_at__isnull=True
        ),
        "redemption__created_at",
    )
    ordered = summed(
        OrderLine.objects.filter(order__household=household, order__status=OrderStatus.HELD),
        "order__created_at",
    )
    return {
        p.pk: redeemed.get((p.pk, p.limit_period), 0) + ordered.get((p.pk, p.limit_period), 0)
        for p in limited
    }


def words_short(need: int, have: int) -> str:
    return _("需 %(need)s 分，您可用 %(have)s 分") % {
        "need": format_points(need),
        "have": format_points(max(have, 0)),
    }


def words_limit(product: Product, used: int) -> str:
    return _("%(period)s已兑换 %(used)s %(unit)s，限 %(limit)s %(unit)s") % {
        "period": _period_word(product.limit_period),
        "used": used,
        "limit": product.limit_quantity,
        "unit": product.unit,
    }


def words_disqualified(until: dt.date) -> str:
    return _("您家在一票否决期内（到 %(until)s 为止），这段时间不能兑换") % {"until": until}


def words_out_of_stock(product: Product) -> str:
    if product.stock <= 0:
        return _("暂时缺货")
    return _("库存只剩 %(n)s %(unit)s") % {"n": product.stock, "unit": product.unit}


def _period_word(period: str) -> str:
    words = {
        LimitPeriod.DAY: _("今天"),
        LimitPeriod.WEEK: _("本周"),
        LimitPeriod.MONTH: _("本月"),
        LimitPeriod.YEAR: _("今年"),
    }
    return str(words.get(LimitPeriod(period), ""))


@dataclass(frozen=True)
class Orderable:
    """What the household may order now: its available points, a ban if any, limits used."""

    household: Household
    available: int
    banned_until: dt.date | None
    used: dict[int, int]

    def why_not(self, product: Product, quantity: int = 1) -> str:
        """Why ``quantity`` of the product cannot be ordered, in the resident's words ("" if
        it can): disqualified, out of stock, over the limit, more points than available."""
        if self.banned_until is not None:
            return words_disqualified(self.banned_until)
        if product.stock < quantity:
            return words_out_of_stock(product)
        if product.limit_quantity and product.pk in self.used:
            used = self.used[product.pk]
            if used + quantity > product.limit_quantity:
                return words_limit(product, used)
        if product.price * quantity > self.available:
            return words_short(product.price * quantity, self.available)
        return ""


def orderable_for(
    household: Household, products: Sequence[Product], *, today: dt.date | None = None
) -> Orderable:
    """Everything ``Orderable.why_not`` needs for these products, in four queries in all."""
    today = today or timezone.localdate()
    ban = disqualified_on(household_id=household.pk, day=today)
    return Orderable(
        household=household,
        available=household_balance(household_id=household.pk).available,
        banned_until=ban.ends_on if ban else None,
        used=limits_used(household, products, today),
    )
