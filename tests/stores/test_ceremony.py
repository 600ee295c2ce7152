"""Ceremony redemption (评比表彰现场): staff redeem for many households in one batch; all of
them succeed, or nothing is written and the batch names every row (and product) that fails."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.households.standing import household_disqualify
from civicpoints.ledger.models import Posting, PostingKind
from civicpoints.schemes.models import Region, RegionLevel, Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.services import region_create
from civicpoints.stores.models import (
    Ceremony,
    Product,
    Redemption,
    RedemptionMode,
    RedemptionSource,
)
from civicpoints.stores.services import CeremonyRow, Item, ceremony_redeem
from civicpoints.stores.services import ceremony as services
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import Shop
from tests.stores.helpers import balance, moves_total, refused, stock, store_total

HELD_ON = dt.date(2026, 11, 26)


def villages_of_township_a(shop: Shop, count: int = 15) -> list[Region]:
    """晓光村 and 新华村, plus new villages under 开通镇 up to ``count``."""
    w = shop.world
    extra = [
        region_create(
            code=f"2208221002{n:02d}",
            name=f"第{n}村",
            level=RegionLevel.VILLAGE,
            parent=w.township_a,
        )
        for n in range(3, count + 1)
    ]
    return [w.village_a1, w.village_a2, *extra]


def funded(shop: Shop, village: Region, hundredths: int, name: str = "") -> Household:
    household = make_household(shop.world.scheme, village, name)
    if hundredths:
        fund(household, hundredths)
    return household


def run(shop: Shop, rows: list[CeremonyRow], **kw: Any) -> Ceremony:
    kw.setdefault("actor", shop.admin_actor)
    return ceremony_redeem(
        store=shop.store, title="2026年度文明家庭表彰", held_on=HELD_ON, rows=rows, **kw
    )


def test_forty_one_households_from_fifteen_villages_all_redeem(shop: Shop) -> None:
    # Given 41 households spread over the 15 villages of the township, household i holding
    # 300 + i points; every one takes a bag of rice, every fifth one a rice cooker too
    villages = villages_of_township_a(shop)
    households = [funded(shop, villages[i % 15], 30_000 + i * 100) for i in range(41)]
    rows = [
        CeremonyRow(
            h.pk,
            (Item(shop.rice.pk, 1), Item(shop.cooker.pk, 1))
            if i % 5 == 0
            else (Item(shop.rice.pk, 1),),
        )
        for i, h in enumerate(households)
    ]
    postings = Posting.objects.count()
    # When the county admin redeems the whole list at the ceremony
    ceremony = run(shop, rows, idempotency_key="ceremony-2026")
    # Then 41 redemptions, each its own posting, all marked as the ceremony's
    redemptions = Redemption.objects.filter(ceremony=ceremony)
    assert redemptions.count() == 41
    assert set(redemptions.values_list("source", "mode", "assisted_reason")) == {
        (RedemptionSource.CEREMONY, RedemptionMode.ASSISTED, "2026年度文明家庭表彰")
    }
    assert Posting.objects.filter(kind=PostingKind.REDEMPTION).count() == 41
    assert Posting.objects.count() == postings + 41
    # And each balance is exact: 30 points for the rice, 200 more for a cooker
    for i, h in enumerate(households):
        spent = 3_000 + (20_000 if i % 5 == 0 else 0)
        assert balance(h) == 30_000 + i * 100 - spent, i
    # 41 bags of rice and 9 cookers left the shelves (50 -> 9, 10 -> 1)
    assert (stock(shop.rice), stock(shop.cooker)) == (9, 1)
    assert moves_total(shop.rice) == 9 and moves_total(shop.cooker) == 1
    assert store_total(shop.store) == 41 * 3_000 + 9 * 20_000 == 303_000
    assert len({h.village_id for h in households}) == 15
    # The same batch sent again (the button pressed twice) is the same ceremony
    again = run(shop, rows, idempotency_key="ceremony-2026")
    assert again.pk == ceremony.pk
    assert Redemption.objects.count() == 41 and stock(shop.rice) == 9
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_batch_with_two_bad_rows_writes_nothing_and_names_both(shop: Shop) -> None:
    w = shop.world
    township_admin = actor_for_user(
        make_staff("zhen-a", Role.TOWNSHIP_ADMIN, w.township_a, w.scheme)
    )
    good = [funded(shop, w.village_a1, 50_000) for _ in range(3)]
    poor = funded(shop, w.village_a2, 1_000, "钱淑珍")  # 10 points, wants a 200-point cooker
    outside = funded(shop, w.village_b1, 50_000, "郑海涛")  # 兴隆山镇: not this admin's
    rows = [
        CeremonyRow(good[0].pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(poor.pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(good[1].pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(outside.pk, (Item(shop.rice.pk, 1),)),
        CeremonyRow(good[2].pk, (Item(shop.rice.pk, 2),)),
    ]
    error = refused(
        ErrorCode.CEREMONY_INVALID, w.scheme.pk, lambda: run(shop, rows, actor=township_admin)
    )
    assert [(e["row"], e["household"], e["name"], e["code"]) for e in error.detail["errors"]] == [
        (2, poor.pk, "钱淑珍", "insufficient_points"),
        (4, outside.pk, "郑海涛", "not_found"),
    ]
    assert "可用积分 10，需要 200" in error.detail["errors"][0]["message"]
    assert Ceremony.objects.count() == 0
    assert [balance(h) for h in good] == [50_000, 50_000, 50_000]
    assert (stock(shop.cooker), stock(shop.rice)) == (10, 50)


def test_rows_the_store_does_not_serve_or_cannot_serve_are_named(shop: Shop) -> None:
    w = shop.world
    ok = funded(shop, w.village_a1, 50_000)
    other_township = funded(shop, w.village_b1, 50_000)  # the county admin covers it
    other_scheme = make_household(w.other_scheme, w.other_village, "周建军")
    closed = funded(shop, w.village_a2, 50_000)
    empty = funded(shop, w.village_a2, 50_000)
    Household.objects.filter(pk=closed.pk).update(status=HouseholdStatus.CLOSED)
    rows = [
        CeremonyRow(ok.pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(other_township.pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(other_scheme.pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(closed.pk, (Item(shop.cooker.pk, 1),)),
        CeremonyRow(ok.pk, (Item(shop.rice.pk, 1),)),
        CeremonyRow(ok.pk + 100_000, (Item(shop.rice.pk, 1),)),
        CeremonyRow(shop.household.pk, (Item(shop.rice.pk, 3),)),
        CeremonyRow(empty.pk, ()),
    ]
    error = refused(ErrorCode.CEREMONY_INVALID, w.scheme.pk, lambda: run(shop, rows))
    assert [(e["row"], e["code"]) for e in error.detail["errors"]] == [
        (2, "household_not_served"),
        (3, "not_found"),
        (4, "household_closed"),
        (5, "duplicate"),
        (6, "not_found"),
        (7, "purchase_limit_exceeded"),
        (8, "invalid_input"),
    ]
    assert balance(ok) == 50_000


def test_a_disqualified_household_is_named(shop: Shop) -> None:
    today = dt.date.today()
    household_disqualify(
        actor=shop.admin_actor,
        household=shop.household,
        reason="拒不履行村规民约",
        starts_on=today - dt.timedelta(days=3),
        ends_on=today + dt.timedelta(days=3),
    )
    rows = [CeremonyRow(shop.household.pk, (Item(shop.cooker.pk, 1),))]
    error = refused(ErrorCode.CEREMONY_INVALID, shop.world.scheme.pk, lambda: run(shop, rows))
    assert [(e["row"], e["code"]) for e in error.detail["errors"]] == [(1, "disqualified")]


def test_a_stock_shortage_across_rows_is_named_by_product(shop: Shop) -> None:
    # Given 10 cookers and 11 households that each get one (each row alone would fit)
    households = [funded(shop, shop.world.village_a1, 50_000) for _ in range(11)]
    rows = [CeremonyRow(h.pk, (Item(shop.cooker.pk, 1), Item(shop.rice.pk, 1))) for h in households]
    error = refused(ErrorCode.CEREMONY_INVALID, shop.world.scheme.pk, lambda: run(shop, rows))
    assert error.detail["errors"] == [
        {
            "row": None,
            "product": shop.cooker.pk,
            "name": "美的电饭煲",
            "code": "out_of_stock",
            "message": "美的电饭煲 共需 11，库存只有 10",
        }
    ]
    assert {balance(h) for h in households} == {50_000}
    assert (stock(shop.cooker), stock(shop.rice)) == (10, 50)


def test_a_change_between_the_check_and_the_write_keeps_nothing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saleor-style hook: the shelf empties after the batch was checked, before row 3 is written."""
    households = [funded(shop, shop.world.village_a1, 50_000) for _ in range(4)]
    rows = [CeremonyRow(h.pk, (Item(shop.cooker.pk, 1),)) for h in households]
    real = services._redeem_write
    calls = []

    def hooked(**kw: Any) -> Redemption:
        calls.append(kw["household"].pk)
        if len(calls) == 3:
            Product.objects.filter(pk=shop.cooker.pk).update(stock=0)
        return real(**kw)

    monkeypatch.setattr(services, "_redeem_write", hooked)
    with pytest.raises(ApplicationError) as caught:
        run(shop, rows)
    assert caught.value.code == ErrorCode.CEREMONY_INVALID
    assert [(e["row"], e["household"], e["code"]) for e in caught.value.detail["errors"]] == [
        (3, households[2].pk, "out_of_stock")
    ]
    # Rows 1 and 2 were written and then rolled back with the rest
    assert Redemption.objects.count() == 0 and Ceremony.objects.count() == 0
    assert {balance(h) for h in households} == {50_000}
    assert_ledger_ok(shop.world.scheme.pk)


def test_only_admins_over_the_store_run_a_ceremony(shop: Shop) -> None:
    h = funded(shop, shop.world.village_a1, 50_000)
    rows = [CeremonyRow(h.pk, (Item(shop.cooker.pk, 1),))]
    refused(
        ErrorCode.PERMISSION_DENIED,
        shop.world.scheme.pk,
        lambda: run(shop, rows, actor=shop.clerk_actor),
    )
    refused(ErrorCode.INVALID_INPUT, shop.world.scheme.pk, lambda: run(shop, []))
    refused(
        ErrorCode.INVALID_INPUT,
        shop.world.scheme.pk,
        lambda: ceremony_redeem(
            actor=shop.admin_actor, store=shop.store, title=" ", held_on=HELD_ON, rows=rows
        ),
    )


def test_the_same_ceremony_key_for_a_different_batch_is_refused(shop: Shop) -> None:
    households = [funded(shop, shop.world.village_a1, 50_000) for _ in range(2)]
    rows = [CeremonyRow(h.pk, (Item(shop.rice.pk, 1),)) for h in households]
    first = run(shop, rows, idempotency_key="batch-1")
    # The same batch again, its rows listed in another order, is the same ceremony
    assert run(shop, rows[::-1], idempotency_key="batch-1").pk == first.pk
    # Another batch under the same key is refused (DESIGN.md section 5), and writes nothing
    scheme = shop.world.scheme.pk
    for other in (
        rows[:1],
        [CeremonyRow(households[0].pk, (Item(shop.rice.pk, 2),)), rows[1]],
        [*rows, CeremonyRow(shop.household.pk, (Item(shop.cooker.pk, 1),))],
    ):
        refused(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            scheme,
            lambda o=other: run(shop, o, idempotency_key="batch-1"),
        )
    refused(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        scheme,
        lambda: ceremony_redeem(
            actor=shop.admin_actor,
            store=shop.store,
            title="另一场表彰",
            held_on=HELD_ON,
            rows=rows,
            idempotency_key="batch-1",
        ),
    )
    assert {balance(h) for h in households} == {47_000}
