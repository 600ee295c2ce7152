"""The demo county's spending side: stores with products and stock, a signed merchant, some
redemptions, payments and refunds over the last days, settled statements (one paid, one
overdue) — all through the real services, so the demo shows what a county would see.
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.merchants.models import Statement
from civicpoints.merchants.services import (
    merchant_create,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.merchants.settlement import settle, statement_mark_paid
from civicpoints.schemes.models import Region, RegionLevel, Scheme, User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Store
from civicpoints.stores.services import (
    Item,
    product_create,
    redeem,
    stock_receive,
    store_create,
)

# name, unit, points, stock, limit per month, large item
VILLAGE_GOODS = [
    ("大米 10斤", "袋", 30, 60, 2, False),
    ("豆油 5升", "桶", 45, 40, 1, False),
    ("洗衣粉 1.5kg", "袋", 12, 80, None, False),
    ("香皂", "块", 3, 120, None, False),
    ("毛巾", "条", 8, 3, None, False),  # low stock, to show the alert
    ("暖水瓶", "个", 25, 20, None, False),
    ("电饭煲", "个", 200, 8, None, False),
    ("冰柜", "台", 2200, 2, None, True),
]
TOWNSHIP_GOODS = [
    ("洗衣机", "台", 1800, 3, None, True),
    ("电动三轮车", "辆", 4800, 1, None, True),
    ("学生书包", "个", 60, 30, 1, False),
]


def build_spending(*, scheme: Scheme, township: Region, village: Region, rng: random.Random) -> int:
    """Stores, a merchant and a few days of activity; returns how many redemptions were made."""
    if Store.objects.filter(scheme=scheme).exists():
        return 0
    admin = actor_for_user(User.objects.get(username="county-admin"))
    clerk_user = User.objects.get(username="store-clerk")
    cashier_user = User.objects.get(username="merchant-clerk")
    village_store = store_create(
        actor=admin,
        scheme_id=scheme.pk,
        region=village,
        name=f"{village.name}爱心超市",
        address=f"{village.name}村委会一楼",
        clerk_ids=[clerk_user.pk],
    )
    # A county-level store for the county's ceremonies, serving two townships (see
    # docs/spending.md): the demo's township admin does not see it, the county admin does.
    served = list(
        Region.objects.filter(parent=township.parent, level=RegionLevel.TOWNSHIP)
        .exclude(pk=township.pk)
        .order_by("code")[:1]
    )
    county_store = store_create(
        actor=admin,
        scheme_id=scheme.pk,
        region=scheme.operator_region,
        name=f"{scheme.operator_region.name}积分超市",
        kind="points",
        window_kind="weekdays",
        window_weekdays="2,5",
        clerk_ids=[clerk_user.pk],
        served_townships=[township, *served],
    )
    clerk = actor_for_user(clerk_user)
    products = {}
    for store, goods in ((village_store, VILLAGE_GOODS), (county_store, TOWNSHIP_GOODS)):
        for name, unit, points, stock, limit, large in goods:
            product = product_create(
                actor=admin,
                store=store,
                name=name,
                unit=unit,
                price=points * 100,
                limit_quantity=limit,
                limit_period="month" if limit else "none",
                large_item=large,
            )
            stock_receive(
                actor=clerk, product=product, quantity=stock, value_fen=points * stock * 90
            )
            products[name] = product
    stock_receive(
        actor=clerk,
        product=products["香皂"],
        quantity=50,
        kind="donation",
        value_fen=50 * 250,
        donor="通榆县爱心企业联合会",
    )
    merchant = merchant_create(
        actor=admin,
        scheme_id=scheme.pk,
        legal_name=f"通榆县{township.name}惠民超市有限公司",
        shop_name="惠民超市",
        contact_name="刘店长",
        contact_phone="13904360001",
        address=f"{township.name}中心街 18 号",
        bank_name="中国农业银行通榆县支行",
        account_name=f"通榆县{township.name}惠民超市有限公司",
        bank_account="6228480123456789012",
        regions=[scheme.operator_region],
        clerk_ids=[cashier_user.pk],
    )
    cashier = actor_for_user(cashier_user)
    homes = list(
        Household.objects.filter(
            village=village, status=HouseholdStatus.ACTIVE, account__balance__gte=20000
        ).order_by("-account__balance")[:10]
    )
    made = 0
    for index, household in enumerate(homes[:6]):
        items = [Item(products["大米 10斤"].pk, 1), Item(products["洗衣粉 1.5kg"].pk, 1)]
        if index == 0:
            items.append(Item(products["电饭煲"].pk, 1))
        redeem(
            actor=clerk,
            store=village_store,
            household=household,
            items=items,
            assisted_reason="演示数据：村民在柜台兑换",
            idempotency_key=f"demo:redeem:{household.pk}",
        )
        made += 1
    payers = list(
        Household.objects.filter(
            scheme=scheme, status=HouseholdStatus.ACTIVE, account__balance__gte=20000
        )
        .exclude(pk__in=[h.pk for h in homes])
        .order_by("-account__balance")[:4]
    )
    # Three business days at the merchant: two settled (one paid, one left unpaid: overdue),
    # and today's payments still open.
    today = timezone.localdate()
    for days_ago in (2, 1, 0):
        day = today - dt.timedelta(days=days_ago)
        for index, household in enumerate(payers):
            at = timezone.make_aware(dt.datetime.combine(day, dt.time(9 + index, 30)))
            if at > timezone.now():
                at = timezone.now() - dt.timedelta(minutes=5 * (index + 1))
            code = payment_code_issue(household=household, at=at)
            payment = payment_take(
                actor=cashier,
                merchant=merchant,
                code=code.code,
                points=rng.choice((1850, 3650, 5200, 12800)),
                at=at + dt.timedelta(seconds=20),
            )
            if index == 0:
                refund_create(
                    actor=cashier,
                    payment=payment,
                    points=1000,
                    reason="退一瓶酱油",
                    at=at + dt.timedelta(minutes=10),
                )
        if days_ago:
            settle(scheme=scheme, day=day)
    # As the scheduler would have: each statement made just after its day's midnight. The
    # older one is left unpaid (overdue: more than 24 hours); yesterday's is paid.
    for days_ago in (2, 1):
        day = today - dt.timedelta(days=days_ago)
        Statement.objects.filter(merchant=merchant, business_date=day).update(
            created_at=timezone.make_aware(
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 5))
            )
        )
    latest = Statement.objects.filter(
        merchant=merchant, business_date=today - dt.timedelta(days=1)
    ).first()
    if latest is not None:
        statement_mark_paid(actor=admin, statement=latest, bank_reference="ABC20260001")
    return made
