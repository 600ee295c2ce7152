"""Counter pages through the Django test client: store redemption with exact numbers, double
submits, refusals in Chinese, returns, the merchant till with refunds and statements, scope
(another counter is a 404), and the resident's payment code page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.households.services import household_set_pin
from civicpoints.ledger.models import Account
from civicpoints.merchants.models import Payment, PaymentCode, Refund, Statement
from civicpoints.merchants.services import (
    merchant_create,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.merchants.settlement import settle
from civicpoints.schemes.models import Role
from civicpoints.stores.models import Product, Redemption, Store, WindowKind
from civicpoints.stores.services import Item, redeem, store_create
from tests.counter.conftest import client_for, form_key
from tests.factories import fund, make_household, make_staff, static_text
from tests.ledger.helpers import assert_ledger_ok
from tests.merchants.conftest import PIN as TILL_PIN
from tests.merchants.conftest import Till
from tests.stores.conftest import PIN, Shop


def balance(household) -> int:
    return Account.objects.get(household=household).balance


def stock(product: Product) -> int:
    return Product.objects.get(pk=product.pk).stock


def open_sale(client: Client, shop: Shop, q: str | None = None) -> str:
    """The counter after scanning the household's card: the basket form."""
    response = client.get(f"/counter/store/{shop.store.pk}/", {"q": q or shop.household.card_code})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="sale-form"' in html
    return html


def sale_form(shop: Shop, key: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {"household": shop.household.pk, "key": key, "pin": PIN}
    data.update(fields)
    return data


# --- the front door ---------------------------------------------------------------------------


def test_the_counter_needs_a_staff_login(db):
    response = Client().get("/counter/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/counter/"


def test_a_clerk_sees_the_stores_they_work_at(shop: Shop):
    html = client_for(shop.clerk).get("/counter/").content.decode()
    assert "开通镇爱心超市" in html and f'href="/counter/store/{shop.store.pk}/"' in html
    assert "签约商家" not in html


def test_a_cashier_sees_their_shop(till: Till):
    html = client_for(till.cashier).get("/counter/").content.decode()
    assert "惠民超市" in html and f'href="/counter/merchant/{till.merchant.pk}/"' in html


def test_staff_without_a_counter_are_told_so(world):
    grid = make_staff("wangge", Role.GRID_WORKER, world.village_a1, world.scheme)
    html = client_for(grid).get("/counter/").content.decode()
    assert "您还不是任何超市或商家的店员" in html


# --- finding the household --------------------------------------------------------------------


def test_a_scanned_card_opens_the_basket_with_balance_and_masked_phone(shop: Shop):
    html = open_sale(client_for(shop.clerk), shop, shop.household.card_code.lower())
    assert "王秀英" in html and "晓光村" in html
    assert "<b>12700</b>" in html and '<b id="available">12700</b>' in html
    assert "139****5678" in html and "13912345678" not in html
    assert "海尔冰柜" in html and "美的电饭煲" in html and "大米 10斤" in html
    assert "每月每户限兑 2袋" in html
    assert len(form_key(html)) > 16


def test_the_htmx_lookup_returns_only_the_panel(shop: Shop):
    response = client_for(shop.clerk).get(
        f"/counter/store/{shop.store.pk}/",
        {"q": shop.household.card_code},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert 'id="sale-form"' in html and "<html" not in html


def test_search_by_name_initials_and_phone(shop: Shop):
    make_household(shop.world.scheme, shop.world.village_a2, "王建国", phone="13700001111")
    client = client_for(shop.clerk)
    html = client.get(f"/counter/store/{shop.store.pk}/", {"q": "王"}).content.decode()
    assert "找到 2 户，请选择" in html and "王秀英" in html and "王建国" in html
    assert "137****1111" in html
    assert (
        'id="sale-form"'
        in client.get(f"/counter/store/{shop.store.pk}/", {"q": "wxy"}).content.decode()
    )
    assert (
        'id="sale-form"'
        in client.get(f"/counter/store/{shop.store.pk}/", {"q": "5678"}).content.decode()
    )


def test_a_household_the_store_does_not_serve_is_not_found(shop: Shop):
    far = make_household(shop.world.scheme, shop.world.village_b1, "李四")
    client = client_for(shop.clerk)
    html = client.get(f"/counter/store/{shop.store.pk}/", {"q": far.card_code}).content.decode()
    assert "没有找到" in html and "李四" not in html
    html = client.get(f"/counter/store/{shop.store.pk}/", {"household": far.pk}).content.decode()
    assert "没有找到这一户" in html
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        {"household": far.pk, "key": "counter-" + "a" * 32, "pin": PIN, f"qty_{shop.cooker.pk}": 1},
    )
    assert response.status_code == 404
    assert Redemption.objects.count() == 0


# --- redeeming --------------------------------------------------------------------------------


def test_a_freezer_and_a_rice_cooker_with_delivery_and_the_receipt(shop: Shop):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(
            shop,
            key,
            **{
                f"qty_{shop.freezer.pk}": "1",
                f"qty_{shop.cooker.pk}": "1",
                f"qty_{shop.rice.pk}": "0",
                "delivery_address": "晓光村三组 12 号",
            },
        ),
    )
    redemption = Redemption.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/counter/store/{shop.store.pk}/receipts/{redemption.pk}/"
    assert redemption.points == 240_000 and redemption.cash_fen == 0
    assert redemption.mode == "pin" and redemption.idempotency_key == key
    assert balance(shop.household) == 1_030_000
    assert (stock(shop.freezer), stock(shop.cooker), stock(shop.rice)) == (2, 9, 50)

    html = client.get(response["Location"]).content.decode()
    assert "开通镇爱心超市" in html and redemption.receipt_no in html
    assert "王秀英（晓光村）" in html
    assert re.search(r"海尔冰柜</td><td class=\"num\">1台</td><td class=\"num\">2200</td>", html)
    assert re.search(r"美的电饭煲</td><td class=\"num\">1个</td><td class=\"num\">200</td>", html)
    assert '<dd class="big-line">2400 分</dd>' in html
    assert "<dt>兑换后余额</dt><dd>10300 分</dd>" in html
    assert "<dt>店员</dt><dd>clerk</dd>" in html
    assert "<dd>晓光村三组 12 号</dd>" in html
    assert "现金补差</dt>" not in html and "<dt>代办</dt>" not in html
    assert 'href="/static/css/print58.css"' in html
    assert "size: 58mm auto" in static_text("css/print58.css")
    assert "width:48mm" in static_text("css/print58.css")
    assert "13912345678" not in html
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_double_submit_is_one_redemption(shop: Shop):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    form = sale_form(shop, key, **{f"qty_{shop.cooker.pk}": "2"})
    first = client.post(f"/counter/store/{shop.store.pk}/redeem/", form)
    second = client.post(f"/counter/store/{shop.store.pk}/redeem/", form)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Redemption.objects.count() == 1
    assert balance(shop.household) == 1_270_000 - 40_000
    assert stock(shop.cooker) == 8
    # The same key with another basket (a stale form sent again) is refused, with a fresh key
    stale = client.post(
        f"/counter/store/{shop.store.pk}/redeem/", {**form, f"qty_{shop.cooker.pk}": "1"}
    )
    assert stale.status_code == 422
    assert "这张单子已经提交过另一笔，请核对后重新确认" in stale.content.decode()
    assert form_key(stale.content.decode()) != key
    assert Redemption.objects.count() == 1
    # A fresh page is a fresh key: the next sale is a new redemption
    key2 = form_key(open_sale(client, shop))
    assert key2 != key
    client.post(f"/counter/store/{shop.store.pk}/redeem/", {**form, "key": key2})
    assert Redemption.objects.count() == 2
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_wrong_pin_says_how_many_tries_are_left_and_changes_nothing(shop: Shop):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    form = sale_form(shop, key, pin="111111", **{f"qty_{shop.cooker.pk}": "1"})
    response = client.post(f"/counter/store/{shop.store.pk}/redeem/", form)
    html = response.content.decode()
    assert response.status_code == 422
    assert "密码不对，还可以再试 4 次" in html
    assert Redemption.objects.count() == 0
    assert balance(shop.household) == 1_270_000 and stock(shop.cooker) == 10
    # The basket is kept (the PIN is not) and the same key still works
    assert f'name="qty_{shop.cooker.pk}" value="1"' in html
    assert form_key(html) == key
    response = client.post(f"/counter/store/{shop.store.pk}/redeem/", {**form, "pin": PIN})
    assert response.status_code == 302
    assert balance(shop.household) == 1_270_000 - 20_000


def test_no_pin_and_no_assisted_reason_is_refused(shop: Shop):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(shop, key, pin="", assisted="1", **{f"qty_{shop.cooker.pk}": "1"}),
    )
    assert response.status_code == 422
    assert "请农户输入6位密码，或由工作人员代办并填写原因" in response.content.decode()
    assert Redemption.objects.count() == 0


def test_assisted_redemption_prints_the_reason(shop: Shop):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(
            shop,
            key,
            pin="999999",  # ignored when assisted
            assisted="1",
            assisted_reason="老人卧床，女儿持卡代领",
            **{f"qty_{shop.rice.pk}": "2"},
        ),
    )
    assert response.status_code == 302
    redemption = Redemption.objects.get()
    assert redemption.mode == "assisted" and redemption.points == 6_000
    html = client.get(response["Location"]).content.decode()
    assert "<dt>代办</dt><dd>老人卧床，女儿持卡代领</dd>" in html


def test_insufficient_points_names_the_available_amount_and_cash_covers_it(shop: Shop):
    poor = make_household(shop.world.scheme, shop.world.village_a1, "赵大娘")
    household_set_pin(actor_id=None, household=poor, pin=PIN)
    fund(poor, 15_050)  # 150.5 points
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop, poor.card_code))
    form = {"household": poor.pk, "key": key, "pin": PIN, f"qty_{shop.cooker.pk}": "1"}
    response = client.post(f"/counter/store/{shop.store.pk}/redeem/", form)
    assert response.status_code == 409
    assert "积分不足：可用 150.5 分，需要 200 分" in response.content.decode()
    assert Redemption.objects.count() == 0 and balance(poor) == 15_050
    # The shortfall in cash: 49.50 yuan at 1 yuan a point
    response = client.post(f"/counter/store/{shop.store.pk}/redeem/", {**form, "cash": "49.50"})
    assert response.status_code == 302
    redemption = Redemption.objects.get()
    assert (redemption.points, redemption.cash_fen) == (15_050, 4_950)
    assert balance(poor) == 0
    html = client.get(response["Location"]).content.decode()
    assert "<dt>现金补差</dt><dd>49.50 元</dd>" in html
    assert "<dt>兑换后余额</dt><dd>0 分</dd>" in html
    assert '<dd class="big-line">150.5 分</dd>' in html


@pytest.mark.parametrize("cash", ["abc", "1.234", "-1", "１２"])
def test_bad_cash_is_refused(shop: Shop, cash: str):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(shop, key, cash=cash, **{f"qty_{shop.cooker.pk}": "1"}),
    )
    assert response.status_code == 422
    assert "现金金额" in response.content.decode()
    assert Redemption.objects.count() == 0


def test_out_of_stock_limit_and_empty_basket_are_told_in_chinese(shop: Shop):
    client = client_for(shop.clerk)
    key = form_key(open_sale(client, shop))
    url = f"/counter/store/{shop.store.pk}/redeem/"
    html = client.post(url, sale_form(shop, key, **{f"qty_{shop.freezer.pk}": "4"})).content
    assert "海尔冰柜 库存不足（剩 3）" in html.decode()
    html = client.post(url, sale_form(shop, key, **{f"qty_{shop.rice.pk}": "3"})).content
    assert "大米 10斤 每月每户限兑 2袋，本期已兑 0" in html.decode()
    html = client.post(url, sale_form(shop, key)).content
    assert "请至少选择一件商品" in html.decode()
    html = client.post(url, sale_form(shop, key, **{f"qty_{shop.cooker.pk}": "x"})).content
    assert "数量必须是0到999的整数" in html.decode()
    assert Redemption.objects.count() == 0
    assert (stock(shop.freezer), stock(shop.rice)) == (3, 50)


def test_a_closed_day_is_shown_and_refused(shop: Shop):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    Store.objects.filter(pk=shop.store.pk).update(
        window_kind=WindowKind.DATES, window_dates=[tomorrow.isoformat()]
    )
    client = client_for(shop.clerk)
    html = open_sale(client, shop)
    assert "今天不是本超市的兑换日" in html
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(shop, form_key(html), **{f"qty_{shop.cooker.pk}": "1"}),
    )
    assert response.status_code == 409
    assert "今天不是本超市的兑换日" in response.content.decode()
    assert Redemption.objects.count() == 0


def test_a_form_without_a_key_is_refused(shop: Shop):
    client = client_for(shop.clerk)
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(shop, "", **{f"qty_{shop.cooker.pk}": "1"}),
    )
    assert response.status_code == 422
    assert "页面已过期" in response.content.decode()
    assert Redemption.objects.count() == 0


def test_posts_need_csrf(shop: Shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(shop.clerk)
    response = client.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(shop, "counter-" + "b" * 32, **{f"qty_{shop.cooker.pk}": "1"}),
    )
    assert response.status_code == 403
    assert Redemption.objects.count() == 0


# --- returns ----------------------------------------------------------------------------------


def test_a_return_asks_for_confirmation_then_reverses(shop: Shop):
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1)],
        pin=PIN,
        idempotency_key="counter-return-test-0001",
    )
    client = client_for(shop.clerk)
    receipt = f"/counter/store/{shop.store.pk}/receipts/{redemption.pk}/"
    assert "前可退）：原因" in client.get(receipt).content.decode()
    url = receipt + "return/"
    html = client.post(url, {"reason": "包装破损"}).content.decode()
    assert "确认退货" in html and "退回 200 分给 王秀英" in html
    assert balance(shop.household) == 1_250_000  # nothing yet
    response = client.post(url, {"reason": "包装破损", "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == receipt
    assert balance(shop.household) == 1_270_000 and stock(shop.cooker) == 10
    html = client.get(receipt).content.decode()
    assert "已退货：200 分已退回 王秀英，商品已入库" in html
    assert "已退货" in html and "包装破损" in html
    assert "前可退）：原因" not in html
    # A second confirm (double tap) changes nothing
    client.post(url, {"reason": "包装破损", "confirm": "1"})
    assert balance(shop.household) == 1_270_000 and stock(shop.cooker) == 10
    assert_ledger_ok(shop.world.scheme.pk)


def test_a_return_needs_a_reason(shop: Shop):
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1)],
        pin=PIN,
    )
    client = client_for(shop.clerk)
    url = f"/counter/store/{shop.store.pk}/receipts/{redemption.pk}/return/"
    response = client.post(url, {"reason": " "}, follow=True)
    assert "请填写退货原因" in response.content.decode()
    assert Redemption.objects.get().returned_at is None


def test_after_the_window_there_is_no_return_button(shop: Shop):
    long_ago = timezone.now() - dt.timedelta(days=8)
    redemption = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1)],
        pin=PIN,
        at=long_ago,
    )
    client = client_for(shop.clerk)
    receipt = f"/counter/store/{shop.store.pk}/receipts/{redemption.pk}/"
    html = client.get(receipt).content.decode()
    assert "已超过退货期限（7 天）" in html and "前可退）：原因" not in html
    response = client.post(receipt + "return/", {"reason": "晚了", "confirm": "1"}, follow=True)
    assert "已超过退货期限（7 天）" in response.content.decode()
    assert balance(shop.household) == 1_250_000


# --- scope ------------------------------------------------------------------------------------


def test_a_clerk_of_store_a_gets_404_on_store_b(shop: Shop):
    clerk_b = make_staff("clerk_b", Role.STORE_CLERK, shop.world.village_a2, shop.world.scheme)
    store_b = store_create(
        actor=shop.admin_actor,
        scheme_id=shop.world.scheme.pk,
        region=shop.world.village_a2,
        name="新华村爱心超市",
        clerk_ids=[clerk_b.pk],
    )
    theirs = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1)],
        pin=PIN,
    )
    client_b = client_for(clerk_b)
    assert client_b.get(f"/counter/store/{shop.store.pk}/").status_code == 404
    assert client_b.get(f"/counter/store/{shop.store.pk}/receipts/{theirs.pk}/").status_code == 404
    assert client_b.get(f"/counter/store/{store_b.pk}/receipts/{theirs.pk}/").status_code == 404
    response = client_b.post(
        f"/counter/store/{shop.store.pk}/redeem/",
        sale_form(shop, "counter-" + "c" * 32, **{f"qty_{shop.cooker.pk}": "1"}),
    )
    assert response.status_code == 404
    assert (
        client_b.post(
            f"/counter/store/{shop.store.pk}/receipts/{theirs.pk}/return/",
            {"reason": "x", "confirm": "1"},
        ).status_code
        == 404
    )
    assert Redemption.objects.count() == 1 and Redemption.objects.get().returned_at is None
    html = client_b.get("/counter/").content.decode()
    assert "新华村爱心超市" in html and "开通镇爱心超市" not in html


def test_an_auditor_may_read_but_not_work_the_counter(shop: Shop):
    auditor = make_staff("shenji", Role.AUDITOR, shop.world.county, shop.world.scheme)
    client = client_for(auditor)
    assert client.get(f"/counter/store/{shop.store.pk}/").status_code == 403
    assert "开通镇爱心超市" not in client.get("/counter/").content.decode()


# --- merchant till ----------------------------------------------------------------------------


def open_till(client: Client, till: Till) -> str:
    response = client.get(f"/counter/merchant/{till.merchant.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_payment_by_code_then_a_refund(till: Till):
    client = client_for(till.cashier)
    key = form_key(open_till(client, till))
    code = payment_code_issue(household=till.household).code
    form = {"mode": "code", "code": code, "points": "36.5", "key": key}
    response = client.post(f"/counter/merchant/{till.merchant.pk}/pay/", form)
    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/counter/merchant/{till.merchant.pk}/payments/{payment.pk}/"
    assert payment.points == 3_650 and payment.via == "code"
    assert balance(till.household) == 100_000 - 3_650
    # A double submit is one payment
    again = client.post(f"/counter/merchant/{till.merchant.pk}/pay/", form)
    assert again["Location"] == response["Location"]
    assert Payment.objects.count() == 1 and balance(till.household) == 96_350

    html = client.get(response["Location"]).content.decode()
    assert "惠民超市" in html and "积分消费小票" in html
    assert f"P{timezone.localtime(payment.created_at):%Y%m%d}{payment.pk:06d}" in html
    assert '<dd class="big-line">36.5 分</dd>' in html
    assert "<dd>张**</dd>" in html and "张桂兰" not in html
    assert "<dd>付款码</dd>" in html and "<dd>cashier</dd>" in html

    # Today's list shows it, with a refund action
    html = open_till(client, till)
    assert "1 笔 · 实收 36.5 分" in html
    refund_url = f"/counter/merchant/{till.merchant.pk}/payments/{payment.pk}/refund/"
    assert f'href="{refund_url}"' in html

    # Refund 10: form, confirmation, done
    html = client.get(refund_url).content.decode()
    assert "最多可退 36.5 分" in html
    rkey = form_key(html)
    confirm = client.post(refund_url, {"points": "10", "reason": "少拿一袋面", "key": rkey})
    assert "退 10 分给 张**" in confirm.content.decode()
    assert Refund.objects.count() == 0
    data = {"points": "10", "reason": "少拿一袋面", "key": rkey, "confirm": "1"}
    done = client.post(refund_url, data)
    assert done.status_code == 302 and done["Location"] == response["Location"]
    client.post(refund_url, data)  # a double tap: the same refund
    assert Refund.objects.count() == 1
    assert Payment.objects.get().refunded == 1_000
    assert balance(till.household) == 96_350 + 1_000
    html = client.get(done["Location"]).content.decode()
    assert "-10 分" in html and "<dt>实付</dt><dd>26.5 分</dd>" in html
    assert "1 笔 · 实收 26.5 分" in open_till(client, till)

    # More than is left: refused with the refundable amount
    html = client.get(refund_url).content.decode()
    over = {"points": "30", "reason": "x", "key": form_key(html), "confirm": "1"}
    refused = client.post(refund_url, over)
    assert refused.status_code == 409
    assert "退款不能超过这笔收款剩余可退的 26.5 分" in refused.content.decode()
    assert Refund.objects.count() == 1
    assert_ledger_ok(till.world.scheme.pk)


def test_a_card_with_its_pin_pays_and_a_wrong_pin_is_told(till: Till):
    client = client_for(till.cashier)
    key = form_key(open_till(client, till))
    url = f"/counter/merchant/{till.merchant.pk}/pay/"
    form = {"mode": "card", "card": till.household.card_code.lower(), "points": "12"}
    response = client.post(url, {**form, "pin": "000000", "key": key})
    assert response.status_code == 422
    html = response.content.decode()
    assert "密码不对，还可以再试 4 次" in html
    assert 'value="card" checked' in html and 'name="points" class="amount" value="12"' in html
    assert Payment.objects.count() == 0
    response = client.post(url, {**form, "pin": TILL_PIN, "key": key})
    assert response.status_code == 302
    assert Payment.objects.get().via == "card" and balance(till.household) == 100_000 - 1_200


@pytest.mark.parametrize(
    ("code", "points", "message"),
    [
        ("123456789012345678", "10", "付款码无效，请让农户刷新后重新出示"),
        ("", "10", "请扫付款码，或输入积分卡号和密码"),
        ("VALID", "10.001", "积分最多两位小数"),
        ("VALID", "0", "积分不能为0"),
        ("VALID", "abc", "积分必须是数字"),
        ("VALID", "2000", "积分不足：可用 1000 分，需要 2000 分"),
    ],
)
def test_refused_payments_are_told_in_chinese(till: Till, code: str, points: str, message: str):
    client = client_for(till.cashier)
    key = form_key(open_till(client, till))
    if code == "VALID":
        code = payment_code_issue(household=till.household).code
    response = client.post(
        f"/counter/merchant/{till.merchant.pk}/pay/",
        {"mode": "code", "code": code, "points": points, "key": key},
    )
    assert response.status_code in (409, 422)
    assert message in response.content.decode()
    assert Payment.objects.count() == 0 and balance(till.household) == 100_000


def test_a_used_code_is_refused(till: Till):
    client = client_for(till.cashier)
    code = payment_code_issue(household=till.household).code
    url = f"/counter/merchant/{till.merchant.pk}/pay/"
    client.post(url, {"code": code, "points": "1", "key": form_key(open_till(client, till))})
    response = client.post(
        url, {"code": code, "points": "1", "key": form_key(open_till(client, till))}
    )
    assert "付款码已使用过，请让农户刷新后重新出示" in response.content.decode()
    assert Payment.objects.count() == 1
    assert PaymentCode.objects.get().used_at is not None


def test_the_statements_list_is_read_only(till: Till):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    noon = timezone.make_aware(dt.datetime.combine(yesterday, dt.time(12)))
    payment = payment_take(
        actor=till.cashier_actor,
        merchant=till.merchant,
        points=3_650,
        card=till.household.card_code,
        pin=TILL_PIN,
        at=noon,
    )
    refund_create(
        actor=till.cashier_actor, payment=payment, points=1_000, at=noon + dt.timedelta(hours=1)
    )
    settle(scheme=till.world.scheme, day=yesterday)
    statement = Statement.objects.get()
    assert (statement.net, statement.amount_fen) == (2_650, 2_650)
    html = open_till(client_for(till.cashier), till)
    row = re.search(r'<table id="statements">.*?</table>', html, re.S)
    assert row is not None
    text = re.sub(r"<[^>]+>", " ", row.group(0))
    assert f"{yesterday:%Y-%m-%d}" in text
    assert re.search(r"1 / 退1\s+26\.5\s+26\.50\s+待付款", text)
    assert "今天还没有收款" in html  # yesterday's payment is not today's


def test_a_cashier_of_shop_a_gets_404_on_shop_b(till: Till):
    cashier_b = make_staff(
        "cashier_b", Role.MERCHANT_CLERK, till.world.township_b, till.world.scheme
    )
    shop_b = merchant_create(
        actor=till.admin_actor,
        scheme_id=till.world.scheme.pk,
        legal_name="兴隆山镇便民商店",
        shop_name="便民商店",
        bank_name="中国农业银行",
        account_name="兴隆山镇便民商店",
        bank_account="6228480012345678",
        regions=[till.world.township_b],
        clerk_ids=[cashier_b.pk],
    )
    mine = payment_take(
        actor=till.cashier_actor,
        merchant=till.merchant,
        points=500,
        card=till.household.card_code,
        pin=TILL_PIN,
    )
    client_b = client_for(cashier_b)
    assert client_b.get(f"/counter/merchant/{till.merchant.pk}/").status_code == 404
    code = payment_code_issue(household=till.household).code
    response = client_b.post(
        f"/counter/merchant/{till.merchant.pk}/pay/",
        {"code": code, "points": "1", "key": "counter-" + "d" * 32},
    )
    assert response.status_code == 404
    base = f"/counter/merchant/{till.merchant.pk}/payments/{mine.pk}/"
    assert client_b.get(base).status_code == 404
    assert client_b.get(base + "refund/").status_code == 404
    other = f"/counter/merchant/{shop_b.pk}/payments/{mine.pk}/"
    assert client_b.get(other).status_code == 404
    assert client_b.get(other + "refund/").status_code == 404
    assert Payment.objects.count() == 1 and Refund.objects.count() == 0
    assert "便民商店" in client_b.get("/counter/").content.decode()


def test_a_county_admin_reads_the_till_but_takes_nothing(till: Till):
    client = client_for(till.admin)
    html = open_till(client, till)
    assert "不能在这里收款" in html and 'id="pay-form"' not in html
    code = payment_code_issue(household=till.household).code
    response = client.post(
        f"/counter/merchant/{till.merchant.pk}/pay/",
        {"code": code, "points": "1", "key": "counter-" + "e" * 32},
    )
    assert response.status_code == 403
    assert Payment.objects.count() == 0


# --- the resident's payment code and stores -----------------------------------------------------


def resident(household, pin: str) -> Client:
    client = Client()
    response = client.post("/m/login/", {"card": household.card_code, "pin": pin})
    assert response.status_code == 302
    return client


def test_the_payment_code_page_shows_a_qr_and_grouped_digits(till: Till):
    client = resident(till.household, TILL_PIN)
    home = client.get("/m/").content.decode()
    assert 'href="/m/pay/"' in home and "积分码" in home
    assert 'href="/m/stores/"' in home and "兑换" in home
    response = client.get("/m/pay/")
    html = response.content.decode()
    code = PaymentCode.objects.get()
    assert code.household_id == till.household.pk
    grouped = f"{code.code[:2]} " + " ".join(code.code[i : i + 4] for i in range(2, 18, 4))
    assert grouped in html and re.fullmatch(r"88( \d{4}){4}", grouped)
    assert "<svg" in html and 'class="segno"' in html
    assert 'hx-trigger="every 50s"' in html and re.search(r'data-ttl="(59|60)"', html)
    assert "no-cache" in response["Cache-Control"]
    # The polled fragment is a fresh code
    fragment = client.get("/m/pay/code/", HTTP_HX_REQUEST="true").content.decode()
    assert PaymentCode.objects.count() == 2 and "<html" not in fragment
    newest = PaymentCode.objects.order_by("-pk").first()
    assert newest is not None and newest.code[:2] + " " + newest.code[2:6] in fragment
    # ... and the merchant can take it
    cashier = client_for(till.cashier)
    response = cashier.post(
        f"/counter/merchant/{till.merchant.pk}/pay/",
        {"code": grouped, "points": "5", "key": form_key(open_till(cashier, till))},
    )
    assert response.status_code == 302


def test_the_payment_code_needs_the_resident_login(db):
    for path in ("/m/pay/", "/m/pay/code/", "/m/stores/"):
        assert Client().get(path)["Location"].split("?")[0] == "/m/login/"
    assert PaymentCode.objects.count() == 0


def test_the_stores_page_lists_products_and_prices(shop: Shop):
    client = resident(shop.household, PIN)
    html = client.get("/m/stores/").content.decode()
    assert "开通镇爱心超市" in html
    assert "海尔冰柜" in html and "2200 分/台" in html and "30 分/袋" in html
    assert shop.household.card_code in html and "<svg" in html


def test_login_returns_to_the_counter_and_refuses_other_sites(world) -> None:
    from django.test import Client

    from civicpoints.schemes.models import Role
    from tests.factories import PASSWORD, make_staff

    make_staff("clerk-next", Role.STORE_CLERK, world.village_a1, world.scheme)
    client = Client()
    page = client.get("/login/?next=/counter/")
    assert b'name="next" value="/counter/"' in page.content
    done = client.post(
        "/login/", {"username": "clerk-next", "password": PASSWORD, "next": "/counter/"}
    )
    assert done.status_code == 302 and done["Location"] == "/counter/"
    client.logout()
    away = client.post(
        "/login/",
        {"username": "clerk-next", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert away.status_code == 302 and away["Location"] == "/"
