"""Ceremony batches (评比表彰现场): many households at one event, all or none."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, invalid
from civicpoints.households.models import Household
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.idempotency import Slot, idempotency_succeed
from civicpoints.ledger.services import lock_household_accounts
from civicpoints.schemes.scope import Actor
from civicpoints.stores.models import (
    Ceremony,
    Product,
    RedemptionMode,
    RedemptionSource,
    Store,
)
from civicpoints.stores.services.catalogue import STORE_MANAGERS, _require_manager
from civicpoints.stores.services.counter import (
    Basket,
    Item,
    _basket,
    _check_household,
    _check_limit,
    _redeem_write,
)


@dataclass(frozen=True)
class CeremonyRow:
    household_id: int
    items: tuple[Item, ...]


@dataclass
class CeremonyCheck:
    """Every row checked before anything is written: the plan, or the rows that fail and why.

    ``problems`` are dicts ``{row, household, name, code, message}`` (``row`` is None for a
    product whose stock is short for the whole batch); ``ok`` only when there are none.
    """

    plans: list[tuple[int, Household, Basket]]
    problems: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return bool(self.plans) and not self.problems


def ceremony_check(
    *, actor: Actor, store: Store, rows: Sequence[CeremonyRow], today: dt.date | None = None
) -> CeremonyCheck:
    """Check a batch without writing: in scope, served, not closed or disqualified, limits,
    enough available points per row, and the stock for the whole batch. The staff preview
    shows these failures and offers no confirm while there are any; ``ceremony_redeem``
    refuses on the same ones."""
    today = today or timezone.localdate()
    prefetch_related_objects([store], "served_townships")
    households = {
        h.pk: h
        for h in Household.objects.select_related("village", "account").filter(
            scheme_id=store.scheme_id, pk__in=[r.household_id for r in rows]
        )
    }
    problems: list[dict[str, Any]] = []
    plans: list[tuple[int, Household, Basket]] = []
    stock_needed: dict[int, int] = defaultdict(int)
    products: dict[int, Product] = {}
    seen: set[int] = set()
    for number, row in enumerate(rows, start=1):
        household = households.get(row.household_id)
        try:
            if household is None or not actor.covers(
                roles=STORE_MANAGERS,
                scheme_id=household.scheme_id,
                region_path=household.village.path,
            ):
                raise ApplicationError(ErrorCode.NOT_FOUND, _("找不到该户或不在您的管辖范围"))
            if household.pk in seen:
                raise ApplicationError(ErrorCode.DUPLICATE, _("同一户在名单里出现了两次"))
            seen.add(household.pk)
            _check_household(store, household, today)
            basket = _basket(store, row.items)
            for product, quantity in basket.lines:
                _check_limit(household, product, quantity, today)
                stock_needed[product.pk] += quantity
                products[product.pk] = product
            available = household.account.available
            if available < basket.total:
                raise ApplicationError(
                    ErrorCode.INSUFFICIENT_POINTS,
                    _("可用积分 %(have)s，需要 %(need)s")
                    % {"have": format_points(available), "need": format_points(basket.total)},
                )
            plans.append((number, household, basket))
        except ApplicationError as exc:
            problems.append(
                {
                    "row": number,
                    "household": row.household_id,
                    "name": household.head_name if household else "",
                    "code": str(exc.code),
                    "message": exc.message,
                }
            )
    for pk, needed in stock_needed.items():
        if products[pk].stock < needed:
            problems.append(
                {
                    "row": None,
                    "product": pk,
                    "name": products[pk].name,
                    "code": str(ErrorCode.OUT_OF_STOCK),
                    "message": _("%(name)s 共需 %(need)s，库存只有 %(have)s")
                    % {"name": products[pk].name, "need": needed, "have": products[pk].stock},
                }
            )
    return CeremonyCheck(plans=plans, problems=problems)


def ceremony_redeem(
    *,
    actor: Actor,
    store: Store,
    title: str,
    held_on: dt.date,
    rows: Sequence[CeremonyRow],
    idempotency_key: str | None = None,
    slot: Slot | None = None,
) -> Ceremony:
    """Redeem for many households at one event: all of them, or none and the failures named."""
    _require_manager(actor, store, "store.ceremony")
    if not store.active:
        raise ApplicationError(ErrorCode.STORE_CLOSED, _("本超市暂停营业"))
    title = (title or "").strip()
    if not title:
        raise invalid(_("请填写表彰活动名称"), field="title")
    if not rows:
        raise invalid(_("请至少添加一户"), field="rows")
    if idempotency_key:
        earlier = _replay_ceremony(store, idempotency_key, title, held_on, rows)
        if earlier is not None:
            return earlier
    today = timezone.localdate()
    checked = ceremony_check(actor=actor, store=store, rows=rows, today=today)
    plans, problems = checked.plans, checked.problems
    if problems:
        raise ApplicationError(ErrorCode.CEREMONY_INVALID, detail={"errors": problems})
    try:
        with transaction.atomic(durable=True):
            # The check above shows the staff every failing row at once; the limits count
            # again here, under the lock, as one transaction sees them (issue 9, item 8).
            if over := _limits_locked(plans, today):
                raise ApplicationError(ErrorCode.CEREMONY_INVALID, detail={"errors": over})
            ceremony = Ceremony.objects.create(
                scheme_id=store.scheme_id,
                store=store,
                title=title[:100],
                held_on=held_on,
                idempotency_key=idempotency_key,
                actor_id=actor.user_id,
            )
            for number, household, basket in plans:
                try:
                    _redeem_write(
                        actor=actor,
                        store=store,
                        household=household,
                        basket=basket,
                        points=basket.total,
                        cash_fen=0,
                        mode=RedemptionMode.ASSISTED,
                        reason=title,
                        source=RedemptionSource.CEREMONY,
                        ceremony=ceremony,
                        key=None,
                        digest="",
                        now=timezone.now(),
                    )
                except ApplicationError as exc:
                    # Changed since the check (a concurrent redemption): nothing is kept.
                    raise ApplicationError(
                        ErrorCode.CEREMONY_INVALID,
                        detail={
                            "errors": [
                                {
                                    "row": number,
                                    "household": household.pk,
                                    "name": household.head_name,
                                    "code": str(exc.code),
                                    "message": exc.message,
                                }
                            ]
                        },
                    ) from None
            audit_record(
                actor_id=actor.user_id,
                scheme_id=store.scheme_id,
                action=AuditAction.STORE_CEREMONY,
                obj=ceremony,
                detail={"households": len(plans)},
            )
            idempotency_succeed(slot=slot, result=ceremony)
            return ceremony
    except IntegrityError:
        earlier = (
            _replay_ceremony(store, idempotency_key, title, held_on, rows)
            if idempotency_key
            else None
        )
        if earlier is None:
            raise
        return earlier


def _limits_locked(
    plans: Sequence[tuple[int, Household, Basket]], today: dt.date
) -> list[dict[str, Any]]:
    """Per-household limits of the batch, checked under locks on the households' account rows
    (taken in id order, as every redemption and app order takes its own), so a concurrent
    ceremony, counter sale or app order cannot take the same allowance: the rows over it."""
    limited = [
        (number, household, [(p, q) for p, q in basket.lines if p.limit_quantity])
        for number, household, basket in plans
    ]
    limited = [entry for entry in limited if entry[2]]
    if not limited:
        return []
    lock_household_accounts([household.pk for _number, household, _lines in limited])
    over: list[dict[str, Any]] = []
    for number, household, lines in limited:
        try:
            for product, quantity in lines:
                _check_limit(household, product, quantity, today)
        except ApplicationError as exc:
            over.append(
                {
                    "row": number,
                    "household": household.pk,
                    "name": household.head_name,
                    "code": str(exc.code),
                    "message": exc.message,
                }
            )
    return over


def _replay_ceremony(
    store: Store, key: str, title: str, held_on: dt.date, rows: Sequence[CeremonyRow]
) -> Ceremony | None:
    """The batch made earlier under this key; another batch under it is refused."""
    earlier = Ceremony.objects.filter(scheme_id=store.scheme_id, idempotency_key=key).first()
    if earlier is None:
        return None
    asked = []
    for row in rows:
        wanted: dict[int, int] = defaultdict(int)
        for item in row.items:
            wanted[item.product_id] += item.quantity
        asked.append((row.household_id, sorted(wanted.items())))
    done = [
        (r.household_id, sorted((line.product_id, line.quantity) for line in r.lines.all()))
        for r in earlier.redemptions.prefetch_related("lines")
    ]
    if (earlier.store_id, earlier.title, earlier.held_on, sorted(done)) != (
        store.pk,
        title[:100],
        held_on,
        sorted(asked),
    ):
        raise ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return earlier
