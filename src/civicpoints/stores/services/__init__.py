"""Every write for stores: products, stock moves, counter redemptions and returns, app orders
(holds), deliveries and ceremony batches. Each function is one transaction.

A redemption is one posting household -> store and the stock decrements, together: the
redemption row is inserted first (its unique idempotency key is the gate for a double tap or a
retried request), then stock leaves by guarded ``UPDATE ... WHERE stock >= :n`` in product-id
order (no oversell, no deadlock), then ``ledger.services.post()`` moves the points.

One module per part: ``catalogue`` (stores, products, who works the counter), ``stock``,
``counter`` (redemption and returns), ``counter_keyed`` (the API's keyed redemption on
PostgreSQL: one read, one write), ``orders`` (app orders and deliveries), ``ceremony``.
"""

from __future__ import annotations

from civicpoints.stores.services.catalogue import (
    STORE_MANAGERS,
    product_create,
    product_update,
    require_counter,
    store_create,
    store_open_on,
)
from civicpoints.stores.services.ceremony import (
    CeremonyCheck,
    CeremonyRow,
    ceremony_check,
    ceremony_redeem,
)
from civicpoints.stores.services.counter import (
    Basket,
    Item,
    cash_covers,
    redeem,
    redemption_request_hash,
    redemption_return,
    store_account,
)
from civicpoints.stores.services.counter_keyed import (
    CounterSale,
    Receipt,
    counter_redeem_keyed,
)
from civicpoints.stores.services.orders import (
    delivery_complete,
    delivery_dispatch,
    delivery_fail,
    order_cancel,
    order_pickup,
    order_place,
    orders_expire,
)
from civicpoints.stores.services.stock import (
    stock_count,
    stock_receive,
)

__all__ = [
    "STORE_MANAGERS",
    "Basket",
    "CeremonyCheck",
    "CeremonyRow",
    "CounterSale",
    "Item",
    "Receipt",
    "cash_covers",
    "ceremony_check",
    "ceremony_redeem",
    "counter_redeem_keyed",
    "delivery_complete",
    "delivery_dispatch",
    "delivery_fail",
    "order_cancel",
    "order_pickup",
    "order_place",
    "orders_expire",
    "product_create",
    "product_update",
    "redeem",
    "redemption_request_hash",
    "redemption_return",
    "require_counter",
    "stock_count",
    "stock_receive",
    "store_account",
    "store_create",
    "store_open_on",
]
