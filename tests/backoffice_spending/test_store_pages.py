"""Back-office store pages through the test client: who sees what (404 outside the scope), and
each form's effect with exact numbers, or its refusal in Chinese with nothing changed."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from civicpoints.images import image_clean
from civicpoints.stores.models import (
    Ceremony,
    Delivery,
    DeliveryStatus,
    Order,
    OrderStatus,
    Product,
    Redemption,
    StockMove,
    StockMoveKind,
    Store,
    WindowKind,
)
from civicpoints.stores.services import Item, order_place, redeem
from tests.backoffice_spending.conftest import (
    JPEG,
    PNG,
    Staff,
    balance,
    client_for,
    shelf_snapshot,
)
from tests.factories import fund, make_household, static_text
from tests.ledger.helpers import assert_ledger_ok
from tests.stores.conftest import PIN

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def follow_post(client: Client, url: str, data: dict, **extra) -> tuple[int, str, list[str]]:
    response = client.post(url, data, follow=True, **extra)
    return response.status_code, text(response), messages_of(response)


# --- who sees what ---------------------------------------------------------------------------


def test_the_store_list_shows_the_low_stock_count_to_the_people_over_the_store(staff: Staff):
    shop = staff.shop
    for user in (shop.admin, shop.clerk, staff.township_admin, staff.auditor):
        page = client_for(user).get("/stores/")
        assert page.status_code == 200, user.username
        row = re.search(r'<tr id="store-\d+" class="low">(.*?)</tr>', text(page)).group(1)
        assert "开通镇爱心超市" in row
        # the freezer (3 left, alert at 5) is the one low product
        assert '<td class="num"><strong>1</strong></td>' in row


def test_the_store_pages_are_404_outside_the_scope(staff: Staff):
    store = staff.shop.store
    product = staff.shop.freezer
    urls = [
        f"/stores/{store.pk}/",
        f"/stores/{store.pk}/products/{product.pk}/photo/",
    ]
    for user in (staff.village_admin, staff.other_village_admin, staff.cashier):
        client = client_for(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user.username, url)
    # a village admin has store pages (for a village store) but sees none of this township's
    assert "开通镇爱心超市" not in text(client_for(staff.other_village_admin).get("/stores/"))
    # a merchant's cashier has no store pages at all
    cashier = client_for(staff.cashier)
    for url in ("/stores/", "/orders/", "/deliveries/", "/stores/new/", "/ceremonies/new/"):
        assert cashier.get(url).status_code == 404, url


def test_the_nav_offers_store_pages_only_to_store_staff(staff: Staff):
    assert 'href="/stores/"' in text(client_for(staff.shop.clerk).get("/"))
    assert 'href="/deliveries/"' in text(client_for(staff.shop.admin).get("/"))
    assert 'href="/stores/"' not in text(client_for(staff.cashier).get("/"))


def test_login_is_required(staff: Staff):
    response = Client().get(f"/stores/{staff.shop.store.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_every_post_needs_the_csrf_token(staff: Staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff.shop.clerk)
    store = staff.shop.store
    page = text(client.get(f"/stores/{store.pk}/"))
    assert page.count("csrfmiddlewaretoken") >= 2  # goods in and stocktake
    response = client.post(
        f"/stores/{store.pk}/stock/in/", {"product": staff.shop.cooker.pk, "quantity": "1"}
    )
    assert response.status_code == 403
    assert Product.objects.get(pk=staff.shop.cooker.pk).stock == 10


# --- the store detail ------------------------------------------------------------------------


def test_the_detail_highlights_low_stock_and_shows_limits_moves_and_receipts(staff: Staff):
    shop = staff.shop
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.rice.pk, 2)],
        pin=PIN,
    )
    page = text(client_for(shop.clerk).get(f"/stores/{shop.store.pk}/"))

    freezer = re.search(rf'<tr id="product-{shop.freezer.pk}"([^>]*)>(.*?)</tr>', page)
    assert freezer.group(1) == ' class="low"'
    assert "<strong>3</strong> 库存不足" in freezer.group(2)
    assert "2200/台" in freezer.group(2)
    assert f'id="product-{shop.cooker.pk}">' in page  # 10 left: not low
    rice = re.search(rf'<tr id="product-{shop.rice.pk}">(.*?)</tr>', page).group(1)
    assert "每月 2袋" in rice
    assert "1 种商品库存不足" in page
    assert "兑换出库" in page and "-2" in page
    assert f'href="/redemptions/{redemption.pk}/"' in page
    assert redemption.receipt_no in page
    # a clerk works the counter (goods in, stocktake) but does not add products
    assert 'id="stock-in"' in page and 'id="stocktake"' in page
    assert 'id="product-new"' not in page
    assert 'id="product-new"' in text(client_for(shop.admin).get(f"/stores/{shop.store.pk}/"))
    # an auditor reads only
    audit_page = text(client_for(staff.auditor).get(f"/stores/{shop.store.pk}/"))
    assert 'id="stock-in"' not in audit_page and "海尔冰柜" in audit_page


def test_the_receipt_prints_on_58_mm_paper_and_is_scoped(staff: Staff):
    shop = staff.shop
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1), Item(shop.rice.pk, 1)],
        pin=PIN,
        cash_fen=500,
    )
    page = text(client_for(shop.clerk).get(f"/redemptions/{redemption.pk}/"))
    assert 'href="/static/css/receipt.css"' in page
    assert "@page { size: 58mm auto;" in static_text("css/receipt.css")
    assert "王秀英" in page and redemption.receipt_no in page
    assert "积分支付：225" in page  # 200 + 30 - 5 yuan in cash at 1 yuan per point
    assert "现金补差（元）：5" in page
    assert (
        client_for(staff.other_village_admin).get(f"/redemptions/{redemption.pk}/").status_code
        == 404
    )


# --- a new store -----------------------------------------------------------------------------


def test_a_county_admin_opens_a_village_store_open_on_set_weekdays(staff: Staff):
    world = staff.world
    form = client_for(staff.shop.admin).get("/stores/new/")
    assert form.status_code == 200
    assert "晓光村" in text(form) and "镇赉" not in text(form)
    assert "clerk" in text(form)  # the store clerk can be named

    status, _page, said = follow_post(
        client_for(staff.shop.admin),
        "/stores/new/",
        {
            "name": " 新华村积分超市 ",
            "region": world.village_a2.pk,
            "kind": "points",
            "window_kind": "weekdays",
            "weekdays": ["5", "2"],
            "return_days": "3",
            "clerks": [str(staff.shop.clerk.pk), str(staff.cashier.pk)],
        },
    )

    store = Store.objects.get(name="新华村积分超市")
    assert status == 200 and said == ["已开设超市：新华村积分超市"]
    assert (store.region_id, store.kind, store.window_kind, store.window_weekdays) == (
        world.village_a2.pk,
        "points",
        WindowKind.WEEKDAYS,
        "2,5",
    )
    assert store.return_days == 3
    # only a store clerk may be named; the merchant's cashier offered by a forged form is not
    assert list(store.clerks.values_list("username", flat=True)) == ["clerk"]


@pytest.mark.parametrize(
    ("who", "data", "message"),
    [
        ("village_admin", {"region": "township_a"}, "请选择您管辖范围内的县、乡镇或村"),
        ("admin", {"region": "other_village"}, "请选择您管辖范围内的县、乡镇或村"),
        ("admin", {"window_kind": "weekdays"}, "开放的星期应为 1-7，用逗号分开"),
        ("admin", {"window_kind": "dates", "window_dates": "12月20日"}, "日期格式应为 2026-12-01"),
        ("admin", {"name": " "}, "请填写超市名称"),
    ],
)
def test_a_new_store_is_refused_with_a_reason(staff: Staff, who, data, message):
    world = staff.world
    regions = {"township_a": world.township_a, "other_village": world.other_village}
    user = staff.shop.admin if who == "admin" else staff.village_admin
    form = {"name": "新超市", "region": world.village_a1.pk, "window_kind": "always", **data}
    if form["region"] in regions:
        form["region"] = regions[form["region"]].pk
    before = Store.objects.count()

    response = client_for(user).post("/stores/new/", form)

    assert response.status_code == 422
    assert messages_of(response) == [message]
    assert Store.objects.count() == before


# --- products and stock ----------------------------------------------------------------------


def test_an_admin_adds_a_product_with_a_photo_served_only_in_scope(staff: Staff):
    shop = staff.shop
    url = f"/stores/{shop.store.pk}/products/new/"
    _status, page, said = follow_post(
        client_for(shop.admin),
        url,
        {
            "name": "洗衣粉",
            "price": "12.5",
            "unit": "袋",
            "limit_quantity": "3",
            "limit_period": "week",
            "low_stock_at": "4",
            "photo": SimpleUploadedFile("p.png", PNG, content_type="image/png"),
        },
    )
    product = Product.objects.get(name="洗衣粉")
    assert said == ["已添加商品：洗衣粉，12.5 积分/袋"]
    assert (product.price, product.unit, product.limit_quantity, product.limit_period) == (
        1250,
        "袋",
        3,
        "week",
    )
    assert (product.low_stock_at, product.stock, product.large_item) == (4, 0, False)
    photo_url = f"/stores/{shop.store.pk}/products/{product.pk}/photo/"
    assert f'src="{photo_url}"' in page
    photo = client_for(shop.clerk).get(photo_url)
    assert photo.status_code == 200 and photo["Content-Type"] == "image/png"
    assert b"".join(photo.streaming_content) == PNG
    assert client_for(staff.other_village_admin).get(photo_url).status_code == 404


@pytest.mark.parametrize(
    ("who", "data", "message"),
    [
        ("admin", {"price": "0"}, "积分价格：积分不能为0"),
        ("admin", {"price": "1.234"}, "积分价格：积分最多两位小数"),
        ("admin", {"photo": b"GIF89a"}, "只能上传 JPEG、PNG 或 WebP 格式的照片"),
        ("clerk", {}, "没有权限执行此操作"),
    ],
)
def test_a_product_is_refused_with_a_reason(staff: Staff, who, data, message):
    shop = staff.shop
    form = {"name": "洗衣粉", "price": "12", "limit_period": "none", **data}
    if "photo" in form:
        form["photo"] = SimpleUploadedFile("p.gif", form["photo"])
    user = shop.admin if who == "admin" else shop.clerk
    before = Product.objects.count()

    _status, _page, said = follow_post(
        client_for(user), f"/stores/{shop.store.pk}/products/new/", form
    )

    assert said == [message]
    assert Product.objects.count() == before


def test_goods_in_by_purchase_and_by_donation(staff: Staff):
    shop = staff.shop
    client = client_for(shop.clerk)
    url = f"/stores/{shop.store.pk}/stock/in/"

    _s, _p, said = follow_post(
        client,
        url,
        {"product": shop.freezer.pk, "kind": "purchase", "quantity": "2", "value": "3600"},
    )
    assert said == ["已入库：海尔冰柜 +2台（采购入库），现有库存 5"]
    _s, page, said = follow_post(
        client,
        url,
        {
            "product": shop.cooker.pk,
            "kind": "donation",
            "quantity": "4",
            "value": "599.6",
            "donor": "县供销社",
        },
    )
    assert said == ["已入库：美的电饭煲 +4个（捐赠入库），现有库存 14"]
    donation = StockMove.objects.get(kind=StockMoveKind.DONATION)
    assert (donation.quantity, donation.value_fen, donation.donor, donation.actor_id) == (
        4,
        59960,
        "县供销社",
        shop.clerk.pk,
    )
    purchase = StockMove.objects.filter(kind=StockMoveKind.PURCHASE).latest("pk")
    assert (purchase.product_id, purchase.quantity, purchase.value_fen) == (
        shop.freezer.pk,
        2,
        360000,
    )
    assert Product.objects.get(pk=shop.freezer.pk).stock == 5
    assert "县供销社" in page and "599.60" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "donation", "quantity": "4"}, "捐赠入库请填写捐赠人"),
        ({"quantity": "0"}, "数量必须是正整数"),
        ({"quantity": "-3"}, "请填写整数"),
        ({"quantity": "2", "value": "abc"}, "金额：积分必须是数字"),
    ],
)
def test_goods_in_is_refused_with_a_reason(staff: Staff, data, message):
    shop = staff.shop
    before = shelf_snapshot(shop.world.scheme.pk)
    _s, _p, said = follow_post(
        client_for(shop.clerk),
        f"/stores/{shop.store.pk}/stock/in/",
        {"product": shop.cooker.pk, "kind": "purchase", **data},
    )
    assert said == [message]
    assert shelf_snapshot(shop.world.scheme.pk) == before


def test_a_stocktake_asks_first_then_sets_the_counted_stock(staff: Staff):
    shop = staff.shop
    client = client_for(shop.clerk)
    url = f"/stores/{shop.store.pk}/stock/count/"
    data = {"product": shop.freezer.pk, "counted": "2", "reason": "一台磕坏退回厂家"}

    ask = client.post(url, data)

    assert ask.status_code == 200
    page = text(ask)
    assert "海尔冰柜：账面库存 3，实盘 2，调整 -1" in page
    assert '<input type="hidden" name="confirmed" value="1">' in page
    assert Product.objects.get(pk=shop.freezer.pk).stock == 3
    assert not StockMove.objects.filter(kind=StockMoveKind.STOCKTAKE).exists()

    _s, _p, said = follow_post(client, url, {**data, "confirmed": "1"})

    assert said == ["已盘点：海尔冰柜 库存改为 2（-1）"]
    assert Product.objects.get(pk=shop.freezer.pk).stock == 2
    move = StockMove.objects.get(kind=StockMoveKind.STOCKTAKE)
    assert (move.quantity, move.reason) == (-1, "一台磕坏退回厂家")


# --- deliveries ------------------------------------------------------------------------------


def _freezer_delivery(staff: Staff) -> Delivery:
    shop = staff.shop
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组12号",
    )
    return Delivery.objects.get(redemption=redemption)


def test_a_delivery_goes_out_and_is_delivered_with_a_photo(staff: Staff):
    delivery = _freezer_delivery(staff)
    client = client_for(staff.shop.clerk)
    board = text(client.get("/deliveries/"))
    pending = re.search(r'<section id="col-pending".*?</section>', board).group(0)
    assert "王秀英" in pending and "晓光村三组12号" in pending and "海尔冰柜×1" in pending

    _s, _p, said = follow_post(
        client, f"/deliveries/{delivery.pk}/dispatch/", {"courier": "李师傅"}
    )
    assert said == ["已出发送货：王秀英"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.courier) == (DeliveryStatus.OUT, "李师傅")
    board = text(client.get("/deliveries/"))
    out = re.search(r'<section id="col-out".*?</section>', board).group(0)
    assert 'accept="image/*" capture="environment"' in out

    _s, _p, said = follow_post(client, f"/deliveries/{delivery.pk}/delivered/", {"sure": "1"})
    assert said == ["王秀英：请拍照或请农户签名后再确认送达"]
    _s, _p, said = follow_post(
        client,
        f"/deliveries/{delivery.pk}/delivered/",
        {"proof": SimpleUploadedFile("d.jpg", JPEG, content_type="image/jpeg")},
    )
    assert said == ["王秀英：请勾选“确认已送到农户手中”"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.OUT

    _s, page, said = follow_post(
        client,
        f"/deliveries/{delivery.pk}/delivered/",
        {"sure": "1", "proof": SimpleUploadedFile("d.jpg", JPEG, content_type="image/jpeg")},
    )
    assert said == ["已确认送达：王秀英"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    proof_url = f"/deliveries/{delivery.pk}/proof/"
    assert f'src="{proof_url}"' in page
    proof = client.get(proof_url)
    assert (
        proof["Content-Type"] == "image/jpeg"
        and b"".join(proof.streaming_content) == image_clean(JPEG).data
    )
    for user in (staff.other_village_admin, staff.cashier):
        assert client_for(user).get(proof_url).status_code == 404
        assert client_for(user).post(f"/deliveries/{delivery.pk}/dispatch/").status_code == 404


def test_a_failed_delivery_asks_first_and_can_go_out_again(staff: Staff):
    delivery = _freezer_delivery(staff)
    client = client_for(staff.shop.clerk)
    client.post(f"/deliveries/{delivery.pk}/dispatch/", {"courier": "李师傅"})
    url = f"/deliveries/{delivery.pk}/failed/"

    ask = client.post(url, {"reason": "家中无人"})
    assert "原因：家中无人" in text(ask)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.OUT

    _s, page, said = follow_post(client, url, {"reason": "家中无人", "confirmed": "1"})
    assert said == ["已记录配送失败：王秀英"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.FAILED, "家中无人")
    failed = re.search(r'<section id="col-failed".*?</section>', page).group(0)
    assert "失败原因：家中无人" in failed and "再次送货" in failed


def test_the_board_filters_by_store(staff: Staff):
    _freezer_delivery(staff)
    client = client_for(staff.shop.admin)
    other = client_for(staff.shop.admin).post(
        "/stores/new/",
        {"name": "兴盛村超市", "region": staff.world.village_b1.pk, "window_kind": "always"},
    )
    assert other.status_code == 302
    other_store = Store.objects.get(name="兴盛村超市")
    assert "晓光村三组12号" in text(client.get(f"/deliveries/?store={staff.shop.store.pk}"))
    assert "晓光村三组12号" not in text(client.get(f"/deliveries/?store={other_store.pk}"))


# --- app orders ------------------------------------------------------------------------------


def test_orders_are_picked_up_or_cancelled_after_a_confirmation(staff: Staff):
    shop = staff.shop
    first = order_place(household=shop.household, store=shop.store, items=[Item(shop.cooker.pk, 1)])
    second = order_place(household=shop.household, store=shop.store, items=[Item(shop.rice.pk, 2)])
    assert balance(shop.household) == (1_270_000, 26_000)
    client = client_for(shop.clerk)
    page = text(client.get("/orders/"))
    assert first.order_no in page and second.order_no in page and "美的电饭煲×1" in page

    ask = client.post(f"/orders/{first.pk}/pickup/", {})
    assert "冻结的积分将扣减" in text(ask)
    assert Order.objects.get(pk=first.pk).status == OrderStatus.HELD

    _s, _p, said = follow_post(client, f"/orders/{first.pk}/pickup/", {"confirmed": "1"})
    redemption = Redemption.objects.get(order__pk=first.pk)
    assert said == [
        f"已取货：订单 {first.order_no} · 王秀英 · 200 积分，小票 {redemption.receipt_no}"
    ]
    _s, _p, said = follow_post(client, f"/orders/{second.pk}/cancel/", {"confirmed": "1"})
    assert said == [f"已取消：订单 {second.order_no} · 王秀英 · 60 积分"]

    assert Order.objects.get(pk=first.pk).status == OrderStatus.PICKED_UP
    assert Order.objects.get(pk=second.pk).status == OrderStatus.CANCELLED
    assert balance(shop.household) == (1_250_000, 0)
    assert Product.objects.get(pk=shop.rice.pk).stock == 50
    picked = text(client.get("/orders/?status=picked_up"))
    assert f'href="/redemptions/{redemption.pk}/"' in picked
    # a second confirm of the same order is refused, nothing changes
    _s, _p, said = follow_post(client, f"/orders/{second.pk}/pickup/", {"confirmed": "1"})
    assert said == ["订单已取货、取消或过期"]
    assert (
        client_for(staff.other_village_admin)
        .post(f"/orders/{first.pk}/cancel/", {"confirmed": "1"})
        .status_code
        == 404
    )
    assert_ledger_ok(shop.world.scheme.pk)


# --- ceremony --------------------------------------------------------------------------------


def _ceremony_households(staff: Staff):
    world = staff.world
    li = make_household(world.scheme, world.village_a2, "李淑珍")
    fund(li, 50_000)
    zhao = make_household(world.scheme, world.village_a1, "赵德明")
    fund(zhao, 10_000)
    return li, zhao


def test_a_ceremony_is_previewed_then_redeemed_for_every_household(staff: Staff):
    shop = staff.shop
    li, zhao = _ceremony_households(staff)
    client = client_for(shop.admin)
    form = text(client.get(f"/ceremonies/new/?store={shop.store.pk}"))
    assert "开通镇爱心超市" in form and 'hx-get="/ceremonies/households/?store=' in form
    found = text(
        client.get(f"/ceremonies/households/?store={shop.store.pk}&q=lsz", HTTP_HX_REQUEST="true")
    )
    assert f'data-card="{li.card_code}"' in found
    listing = f"户主或卡号\t商品\t数量\n{li.card_code}\t美的电饭煲\t1\n王秀英,大米 10斤,2\n{li.card_code}\t大米 10斤\t1\n赵德明 大米 10斤 1\n"
    data = {
        "store": shop.store.pk,
        "title": "2026年度星级文明户表彰",
        "held_on": "2026-11-20",
        "text": listing,
    }

    preview = client.post("/ceremonies/new/", data)

    assert preview.status_code == 200
    page = text(preview)
    assert "确认兑换 3 户" in page
    assert "美的电饭煲×1、大米 10斤×1" in page  # two lines of 李淑珍, one row
    assert '<div class="value">320</div>' in page  # (200 + 30) + 2 x 30 + 30
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    assert Ceremony.objects.count() == 0

    done = client.post("/ceremonies/new/", {**data, "step": "confirm", "key": key}, follow=True)
    again = client.post("/ceremonies/new/", {**data, "step": "confirm", "key": key})

    ceremony = Ceremony.objects.get()
    assert messages_of(done) == ["表彰兑换完成：2026年度星级文明户表彰，共 3 户"]
    assert again.status_code == 302 and again["Location"] == f"/ceremonies/{ceremony.pk}/"
    assert Redemption.objects.filter(ceremony=ceremony).count() == 3
    assert balance(li) == (50_000 - 23_000, 0)
    assert balance(shop.household) == (1_270_000 - 6_000, 0)
    assert balance(zhao) == (10_000 - 3_000, 0)
    result = text(done)
    assert "李淑珍" in result and "赵德明" in result and "320" in result
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_ceremony_with_a_failing_row_writes_nothing_and_names_it(staff: Staff):
    shop = staff.shop
    li, _zhao = _ceremony_households(staff)
    client = client_for(shop.admin)
    data = {
        "store": shop.store.pk,
        "title": "美丽庭院表彰",
        "held_on": "2026-11-20",
        "text": f"{li.card_code}\t美的电饭煲\t1\n赵德明\t海尔冰柜\t1\n",
        "step": "confirm",
        "key": "k1",
    }
    before = shelf_snapshot(shop.world.scheme.pk)

    response = client.post("/ceremonies/new/", data)

    # A confirm posted although a row fails is refused before anything is written: the
    # preview comes back naming the row and why, with no confirm button.
    assert response.status_code == 422
    page = text(response)
    assert messages_of(response) == ["名单中还有不能兑换的行，未兑换任何一户"]
    failing = re.search(r'<div class="card alert-card" role="alert" id="failing">(.*?)</div>', page)
    assert "1 户不能兑换" in failing.group(1)
    assert "<li>第 2 户 赵德明（名单第 2 行）：可用积分 100，需要 2200</li>" in failing.group(1)
    assert "李淑珍" not in failing.group(1)
    assert "可以兑换" not in page  # no row is marked ready while the batch cannot go
    assert 'name="step" value="confirm"' not in page and "确认兑换" not in page
    assert Ceremony.objects.count() == 0
    assert shelf_snapshot(shop.world.scheme.pk) == before


def test_a_ceremony_list_with_unknown_names_cannot_be_confirmed(staff: Staff):
    shop = staff.shop
    make_household(staff.world.scheme, staff.world.village_b1, "外乡人")
    response = client_for(shop.admin).post(
        "/ceremonies/new/",
        {
            "store": shop.store.pk,
            "title": "表彰",
            "held_on": "2026-11-20",
            "text": "外乡人\t美的电饭煲\t1\n王秀英\t金条\t1\n王秀英\t大米 10斤\t两袋\n王秀英\n",
        },
    )
    assert response.status_code == 422
    page = text(response)
    assert "第1行：本超市服务范围内没有“外乡人”" in page
    assert "第2行：本超市没有在售的“金条”" in page
    assert "第3行：数量应为正整数" in page
    assert "第4行：应为“户主或卡号、商品、数量”三项" in page
    assert "确认兑换" not in page


def test_a_ceremony_list_can_be_uploaded(staff: Staff):
    shop = staff.shop
    csv = "户主,商品,数量\r\n王秀英,美的电饭煲,1\r\n".encode("utf-8-sig")
    response = client_for(shop.admin).post(
        "/ceremonies/new/",
        {
            "store": shop.store.pk,
            "title": "表彰",
            "held_on": "2026-11-20",
            "text": "",
            "file": SimpleUploadedFile("list.csv", csv),
        },
    )
    assert response.status_code == 200
    assert "确认兑换 1 户" in text(response)
    assert "王秀英\t美的电饭煲\t1" in response.content.decode()


def test_only_a_store_manager_runs_a_ceremony(staff: Staff):
    for user in (staff.shop.clerk, staff.auditor, staff.village_admin):
        assert client_for(user).get("/ceremonies/new/").status_code == 404, user.username
    # the township admin over the store does manage it
    assert client_for(staff.township_admin).get("/ceremonies/new/").status_code == 200
