"""Stores (爱心超市): products and stock, counter redemptions and returns, residents' app
orders, deliveries and ceremony batches. Thin: parse, check scope, call one service, render.

Calls that move points (redemptions, returns, placing and picking up orders, ceremonies) need
an Idempotency-Key; scope and role are checked before the key is taken, so a 404 or a 403 is
not stored for replay. Staff reach a store through the store's clerk list or their grants; a
resident (resident token) reaches only the stores serving their village, and only to read
products and to order.
"""

from civicpoints.api.stores import catalogue, counter, orders

__all__ = ["catalogue", "counter", "orders"]
