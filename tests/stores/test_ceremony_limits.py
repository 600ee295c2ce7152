"""A ceremony counts per-household limits under the lock (issue 9, item 8).

The batch is checked first (the staff preview lists every failing row), then written; a counter
sale, an app order or another ceremony taking the same allowance in between used to be
overlooked: the household got more than the limit. Now the limits count again inside the
batch's transaction, under the households' account locks, and the batch refuses that row.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connections

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.stores.models import Ceremony, Redemption, RedemptionLine, Store
from civicpoints.stores.services import CeremonyRow, Item, ceremony_redeem, order_place, redeem
from civicpoints.stores.services import ceremony as services
from tests.factories import fund, make_household
from tests.ledger.helpers import assert_ledger_ok, run_in_threads
from tests.stores.conftest import PIN, Shop, build_shop
from tests.stores.helpers import balance, stock

HELD_ON = dt.date(2026, 11, 26)


def rice_taken(shop: Shop, household_id: int) -> int:
    return sum(
        RedemptionLine.objects.filter(
            redemption__household_id=household_id, product=shop.rice
        ).values_list("quantity", flat=True)
    )


def hook_after_check(monkeypatch: pytest.MonkeyPatch, competitor: Any) -> None:
    """Run ``competitor`` once, between the batch's check and its transaction."""
    real = services.ceremony_check
    ran: list[bool] = []

    def hooked(**kw: Any) -> services.CeremonyCheck:
        checked = real(**kw)
        if not ran:
            ran.append(True)
            competitor()
        return checked

    monkeypatch.setattr(services, "ceremony_check", hooked)


def batch(shop: Shop, *households: Any, bags: int = 2) -> list[CeremonyRow]:
    return [CeremonyRow(h.pk, (Item(shop.rice.pk, bags),)) for h in households]


@pytest.mark.parametrize("competitor", ["counter", "order"])
def test_a_sale_between_the_check_and_the_write_leaves_the_limit_whole(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, competitor: str
) -> None:
    # Given rice limited to 2 bags a month, and a batch giving 2 bags to each of two households
    other = make_household(shop.world.scheme, shop.world.village_a2, "李桂芝")
    fund(other, 50_000)

    def take_the_allowance() -> None:
        if competitor == "counter":
            redeem(
                actor=shop.clerk_actor,
                store=shop.store,
                household=shop.household,
                items=[Item(shop.rice.pk, 2)],
                pin=PIN,
            )
        else:
            order_place(household=shop.household, store=shop.store, items=[Item(shop.rice.pk, 2)])

    # When the household takes its 2 bags at the counter (or orders them) after the check
    hook_after_check(monkeypatch, take_the_allowance)
    with pytest.raises(ApplicationError) as caught:
        ceremony_redeem(
            actor=shop.admin_actor,
            store=shop.store,
            title="表彰大会",
            held_on=HELD_ON,
            rows=batch(shop, other, shop.household),
        )

    # Then the batch names that row and keeps nothing; the household has 2 bags, not 4
    assert caught.value.code == ErrorCode.CEREMONY_INVALID
    [error] = caught.value.detail["errors"]
    assert (error["row"], error["household"], error["code"]) == (
        2,
        shop.household.pk,
        "purchase_limit_exceeded",
    )
    assert "每户限兑 2袋，本期已兑 2" in error["message"]
    assert not Ceremony.objects.exists()
    assert rice_taken(shop, other.pk) == 0 and balance(other) == 50_000
    assert stock(shop.rice) == 48
    assert_ledger_ok(shop.world.scheme.pk)


def test_another_ceremony_between_the_check_and_the_write(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def other_ceremony() -> None:
        ceremony_redeem(
            actor=shop.admin_actor,
            store=shop.store,
            title="村级表彰",
            held_on=HELD_ON,
            rows=batch(shop, shop.household),
        )

    hook_after_check(monkeypatch, other_ceremony)
    with pytest.raises(ApplicationError) as caught:
        ceremony_redeem(
            actor=shop.admin_actor,
            store=shop.store,
            title="镇级表彰",
            held_on=HELD_ON,
            rows=batch(shop, shop.household, bags=1),
        )

    assert [e["code"] for e in caught.value.detail["errors"]] == ["purchase_limit_exceeded"]
    assert list(Ceremony.objects.values_list("title", flat=True)) == ["村级表彰"]
    assert rice_taken(shop, shop.household.pk) == 2
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_batch_within_the_limit_still_goes_through(shop: Shop) -> None:
    ceremony = ceremony_redeem(
        actor=shop.admin_actor,
        store=shop.store,
        title="表彰大会",
        held_on=HELD_ON,
        rows=batch(shop, shop.household),
    )

    assert Redemption.objects.filter(ceremony=ceremony).count() == 1
    assert rice_taken(shop, shop.household.pk) == 2


@pytest.mark.django_db(transaction=True)
def test_two_ceremonies_at_once_give_the_allowance_once(
    world: Any, postgres_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real threads on PostgreSQL: both batches pass their checks, then both write."""
    shop = build_shop(world)
    real = services.ceremony_check
    both_checked = threading.Barrier(2)

    def hooked(**kw: Any) -> services.CeremonyCheck:
        checked = real(**kw)
        both_checked.wait(timeout=30)  # neither writes before both have checked
        return checked

    monkeypatch.setattr(services, "ceremony_check", hooked)

    def run(i: int) -> int:
        store = Store.objects.select_related("scheme", "region").get(pk=shop.store.pk)
        try:
            return ceremony_redeem(
                actor=shop.admin_actor,
                store=store,
                title=f"表彰{i}",
                held_on=HELD_ON,
                rows=batch(shop, shop.household),
            ).pk
        finally:
            connections.close_all()

    outcomes = run_in_threads(2, run)

    answers = sorted(
        "ok" if o.error is None else str(getattr(o.error, "code", o.error)) for o in outcomes
    )
    assert answers == ["ceremony_invalid", "ok"]
    assert rice_taken(shop, shop.household.pk) == 2
    assert Ceremony.objects.count() == 1
    assert_ledger_ok(world.scheme.pk)
