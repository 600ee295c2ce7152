"""Merchants over HTTP: signing (accounts masked), payments from payment codes or card + PIN
(keyed), refunds, T+1 settlement, payout files and reconciliation; a merchant clerk sees only
their own shop (another shop is a 404)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.ledger.models import Account
from civicpoints.merchants.models import Merchant, Payment, PaymentCode, Statement
from civicpoints.merchants.services import (
    merchant_create,
    payment_code_issue,
    payment_take,
    refund_create,
)
from civicpoints.schemes.models import Role
from tests.api.conftest import assert_error, check_each
from tests.api.spending import new_key, post, resident_client, spending_snapshot
from tests.api.test_bad_input import RAW_BODIES
from tests.factories import api_client, fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok
from tests.merchants.conftest import PIN, Till, build_till

FULL_ACCOUNT = "6228480123456789012"


@dataclass
class Shops:
    till: Till
    cashier: Client
    admin: Client
    other: Merchant
    other_cashier: Client

    @property
    def merchant(self) -> Merchant:
        return self.till.merchant

    @property
    def household(self) -> Household:
        return self.till.household

    def url(self, suffix: str = "", merchant: Merchant | None = None) -> str:
        return f"/api/v1/merchants/{(merchant or self.merchant).pk}{suffix}"


@pytest.fixture
def shops(world) -> Shops:
    till = build_till(world)
    other_cashier = make_staff("cashier_b", Role.MERCHANT_CLERK, world.township_b, world.scheme)
    other = merchant_create(
        actor=till.admin_actor,
        scheme_id=world.scheme.pk,
        legal_name="兴隆山镇便民商店",
        shop_name="便民商店",
        bank_name="中国邮政储蓄银行通榆支行",
        account_name="李四",
        bank_account="6217 0000 1111 2222",
        regions=[world.township_b],
        clerk_ids=[other_cashier.pk],
    )
    return Shops(
        till, api_client(till.cashier), api_client(till.admin), other, api_client(other_cashier)
    )


def balance(household: Household) -> int:
    return Account.objects.get(household=household).balance


def fresh_code(household: Household, at: dt.datetime | None = None) -> str:
    return payment_code_issue(household=household, at=at).code


def pay(shops: Shops, body: dict | str, key: str | None = "auto", client: Client | None = None):
    return post(
        client or shops.cashier,
        shops.url("/payments"),
        body,
        new_key() if key == "auto" else key,
    )


# --- merchants -------------------------------------------------------------------------------


def test_a_cashier_sees_only_their_shop_the_county_all(shops):
    mine = shops.cashier.get("/api/v1/merchants")
    every = shops.admin.get("/api/v1/merchants")

    assert [m["id"] for m in mine.json()] == [shops.merchant.pk]
    assert [m["id"] for m in every.json()] == [shops.merchant.pk, shops.other.pk]
    assert mine.json()[0]["bank_account"] == "**** **** **** 9012"
    assert every.json()[1]["bank_account"] == "**** **** **** 2222"
    assert_error(shops.cashier.get(shops.url(merchant=shops.other)), 404, "not_found")
    assert shops.cashier.get(shops.url()).json()["shop_name"] == "惠民超市"


def test_a_county_admin_signs_a_merchant_and_never_sees_the_full_account(shops, world):
    body = {
        "legal_name": "通榆县开通镇农资店",
        "shop_name": "农资店",
        "bank_name": "中国农业银行通榆支行",
        "account_name": "赵六",
        "bank_account": "6228 4801 9999 8888 777",
        "regions": [world.township_a.pk, world.village_a1.pk],
        "contact_phone": "13900001111",
    }

    created = post(shops.admin, "/api/v1/merchants", body)
    listed = shops.admin.get("/api/v1/merchants")

    assert created.status_code == 201, created.content
    assert created.json()["bank_account"] == "**** **** **** 8777"
    assert created.json()["contact_phone"] == "139****1111"
    assert sorted(created.json()["regions"]) == sorted([world.township_a.pk, world.village_a1.pk])
    for response in (created, listed):
        assert b"622848019999888877" not in response.content
        assert b"8888" not in response.content
    merchant = Merchant.objects.get(pk=created.json()["id"])
    assert "6228" not in merchant.bank_account_encrypted


def test_only_county_admins_sign_merchants(shops, world, client_for):
    body = {
        "legal_name": "晓光村小卖部",
        "shop_name": "小卖部",
        "bank_name": "农商行",
        "account_name": "王五",
        "bank_account": "62170000111122223",
        "regions": [world.village_a1.pk],
    }
    village_admin = client_for(Role.VILLAGE_ADMIN)
    before = spending_snapshot()

    village = post(village_admin, "/api/v1/merchants", body)
    cashier = post(shops.cashier, "/api/v1/merchants", body)
    bad_account = post(shops.admin, "/api/v1/merchants", {**body, "bank_account": "12ab"})
    other_region = post(
        shops.admin, "/api/v1/merchants", {**body, "regions": [world.other_village.pk]}
    )

    assert_error(village, 403, "permission_denied")
    assert cashier.status_code in (403, 404)
    assert_error(bad_account, 422, "invalid_input")
    assert_error(other_region, 404, "not_found")
    assert spending_snapshot() == before


# --- payments --------------------------------------------------------------------------------


def test_a_payment_code_pays_36_5_points_once_and_a_retry_replays(shops):
    resident = resident_client(shops.household, PIN)
    issued = post(resident, f"/api/v1/households/{shops.household.pk}/payment-codes", {})
    code = issued.json()["code"]

    first = pay(shops, {"code": code, "points": 36.5}, key="pay-1")
    after = spending_snapshot()
    again = pay(shops, {"code": code, "points": 36.5}, key="pay-1")

    assert first.status_code == 201, first.content
    out = first.json()
    assert {
        k: out[k] for k in ("merchant", "points", "refunded", "refundable", "via", "payer")
    } == {
        "merchant": shops.merchant.pk,
        "points": 36.5,
        "refunded": 0.0,
        "refundable": 36.5,
        "via": "code",
        "payer": "*桂兰",
    }
    assert (again.status_code, again.json(), again["Idempotency-Replayed"]) == (201, out, "true")
    assert spending_snapshot() == after
    assert balance(shops.household) == 100_000 - 3650
    assert PaymentCode.objects.get(code=code).used_at is not None
    assert_ledger_ok(shops.till.world.scheme.pk)


def test_a_payment_without_a_key_is_400(shops):
    code = fresh_code(shops.household)
    before = spending_snapshot()

    response = pay(shops, {"code": code, "points": 36.5}, key=None)

    assert_error(response, 400, "idempotency_key_missing")
    assert spending_snapshot() == before
    assert PaymentCode.objects.get(code=code).used_at is None


@pytest.mark.parametrize(
    "raw",
    ["36.555", '"36.5"', "NaN", "Infinity", "0", "-36.5", "1e300", "null", "true", "0.001"],
)
def test_bad_points_are_422(shops, raw):
    code = fresh_code(shops.household)
    before = spending_snapshot()

    response = pay(shops, f'{{"code": "{code}", "points": {raw}}}')

    error = assert_error(response, 422, "invalid_input")
    assert error["detail"]["errors"][0]["field"] == "points"
    assert spending_snapshot() == before


def test_the_same_key_for_another_amount_is_422(shops):
    code = fresh_code(shops.household)
    pay(shops, {"code": code, "points": 36.5}, key="k")
    before = spending_snapshot()

    response = pay(shops, {"code": code, "points": 40}, key="k")

    assert_error(response, 422, "idempotency_key_reused")
    assert spending_snapshot() == before


def test_expired_used_forged_and_other_scheme_codes_each_have_their_own_error(shops, world):
    expired = fresh_code(shops.household, at=timezone.now() - dt.timedelta(seconds=61))
    used = fresh_code(shops.household)
    assert pay(shops, {"code": used, "points": 1}).status_code == 201
    good = fresh_code(shops.household)
    forged = good[:-1] + str((int(good[-1]) + 1) % 10)
    stranger = make_household(world.other_scheme, world.other_village, "外县户")
    fund(stranger, 10_000)
    other_scheme = fresh_code(stranger)
    before = spending_snapshot()

    answers = {
        "expired": pay(shops, {"code": expired, "points": 10}),
        "used": pay(shops, {"code": used, "points": 10}),
        "forged": pay(shops, {"code": forged, "points": 10}),
        "guessed": pay(shops, {"code": "881234567890123456", "points": 10}),
        "other_scheme": pay(shops, {"code": other_scheme, "points": 10}),
    }

    assert {name: (r.status_code, r.json()["error"]["code"]) for name, r in answers.items()} == {
        "expired": (409, "payment_code_expired"),
        "used": (409, "payment_code_used"),
        "forged": (422, "payment_code_invalid"),
        "guessed": (422, "payment_code_invalid"),
        "other_scheme": (409, "payment_code_other_scheme"),
    }
    now = spending_snapshot()
    assert {k: v for k, v in now.items() if k != "idempotency"} == {
        k: v for k, v in before.items() if k != "idempotency"
    }
    assert PaymentCode.objects.get(code=good).used_at is None


def test_a_printed_card_pays_only_with_its_pin(shops):
    card = shops.household.card_code

    no_pin = pay(shops, {"card": card, "points": 20})
    wrong = pay(shops, {"card": card, "points": 20, "pin": "000000"})
    right = pay(shops, {"card": card, "points": 20, "pin": PIN})
    unknown = pay(shops, {"card": "ZZZZZZZZZZ", "points": 20, "pin": PIN})
    both = pay(shops, {"card": card, "code": fresh_code(shops.household), "points": 20})
    neither = pay(shops, {"points": 20})

    assert_error(no_pin, 422, "pin_required")
    assert assert_error(wrong, 422, "pin_incorrect")["detail"] == {"attempts_left": 4}
    assert Household.objects.get(pk=shops.household.pk).pin_failures == 0  # reset by the right one
    assert (right.status_code, right.json()["via"]) == (201, "card")
    assert_error(unknown, 404, "not_found")
    assert_error(both, 422, "invalid_input")
    assert_error(neither, 422, "invalid_input")
    assert balance(shops.household) == 100_000 - 2000


def test_a_wrong_card_pin_is_counted(shops):
    pay(shops, {"card": shops.household.card_code, "points": 20, "pin": "000000"})

    assert Household.objects.get(pk=shops.household.pk).pin_failures == 1


def test_insufficient_points_and_a_household_outside_the_shops_area(shops, world):
    far = make_household(world.scheme, world.village_b1, "兴盛户")
    fund(far, 10_000)
    before = spending_snapshot()

    too_much = pay(shops, {"code": fresh_code(shops.household), "points": 1000.01})
    outside = pay(shops, {"code": fresh_code(far), "points": 1})

    assert_error(too_much, 409, "insufficient_points")
    assert_error(outside, 409, "household_not_served")
    assert balance(shops.household) == 100_000
    assert {k: v for k, v in spending_snapshot().items() if k not in ("idempotency", "codes")} == {
        k: v for k, v in before.items() if k not in ("idempotency", "codes")
    }


def test_scope_a_cashier_of_another_shop_gets_404_and_the_county_admin_403(shops):
    code = fresh_code(shops.household)
    payment = pay(shops, {"code": fresh_code(shops.household), "points": 10}).json()
    before = spending_snapshot()

    calls = {
        "pay": pay(shops, {"code": code, "points": 10}, client=shops.other_cashier),
        "list": shops.other_cashier.get(shops.url("/payments")),
        "refund": post(
            shops.other_cashier,
            shops.url(f"/payments/{payment['id']}/refunds"),
            {"points": 1},
            new_key(),
        ),
        "refund via own shop": post(
            shops.other_cashier,
            shops.url(f"/payments/{payment['id']}/refunds", merchant=shops.other),
            {"points": 1},
            new_key(),
        ),
    }
    admin_pays = pay(shops, {"code": code, "points": 10}, client=shops.admin)

    for name, response in calls.items():
        error = assert_error(response, 404, "not_found")
        assert error["detail"]["object"] in ("merchant", "payment"), name
    assert_error(admin_pays, 403, "permission_denied")
    assert spending_snapshot() == before
    assert PaymentCode.objects.get(code=code).used_at is None


def test_payments_of_a_day(shops):
    made = pay(shops, {"code": fresh_code(shops.household), "points": 36.5}).json()
    today = timezone.localdate()

    listed = shops.cashier.get(shops.url("/payments"), {"date": today.isoformat()})
    yesterday = shops.cashier.get(
        shops.url("/payments"), {"date": (today - dt.timedelta(days=1)).isoformat()}
    )
    by_admin = shops.admin.get(shops.url("/payments"))

    assert listed.json() == [made]
    assert yesterday.json() == []
    assert by_admin.json() == [made]
    assert_error(shops.cashier.get(shops.url("/payments"), {"date": "yesterday"}), 422)


# --- refunds ---------------------------------------------------------------------------------


def test_refunds_whole_or_part_never_more_than_paid(shops):
    payment = pay(shops, {"code": fresh_code(shops.household), "points": 36.5}).json()
    path = shops.url(f"/payments/{payment['id']}/refunds")

    unkeyed = post(shops.cashier, path, {"points": 10, "reason": "退一瓶酱油"})
    first = post(shops.cashier, path, {"points": 10, "reason": "退一瓶酱油"}, "ref-1")
    replay = post(shops.cashier, path, {"points": 10, "reason": "退一瓶酱油"}, "ref-1")
    too_much = post(shops.cashier, path, {"points": 26.51}, new_key())
    bad = post(shops.cashier, path, {"points": 1.005}, new_key())
    rest = post(shops.cashier, path, {"points": 26.5}, new_key())

    assert_error(unkeyed, 400, "idempotency_key_missing")
    assert first.status_code == 201, first.content
    assert {k: first.json()[k] for k in ("points", "payment_refunded", "refundable", "reason")} == {
        "points": 10.0,
        "payment_refunded": 10.0,
        "refundable": 26.5,
        "reason": "退一瓶酱油",
    }
    assert (replay.json(), replay["Idempotency-Replayed"]) == (first.json(), "true")
    assert assert_error(too_much, 409, "refund_exceeds_payment")["detail"] == {"refundable": 26.5}
    assert_error(bad, 422, "invalid_input")
    assert (rest.status_code, rest.json()["refundable"]) == (201, 0.0)
    assert balance(shops.household) == 100_000
    assert Payment.objects.get(pk=payment["id"]).refunded == 3650
    assert_ledger_ok(shops.till.world.scheme.pk)


# --- settlement ------------------------------------------------------------------------------


@pytest.fixture
def settled_day(shops) -> dt.date:
    """Three days ago: 36.5 points paid at noon, 10 refunded an hour later."""
    day = timezone.localdate() - dt.timedelta(days=3)
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    code = payment_code_issue(household=shops.household, at=noon)
    payment = payment_take(
        actor=shops.till.cashier_actor,
        merchant=shops.merchant,
        code=code.code,
        points=3650,
        at=noon + dt.timedelta(seconds=5),
    )
    refund_create(
        actor=shops.till.cashier_actor,
        payment=payment,
        points=1000,
        reason="退一瓶酱油",
        at=noon + dt.timedelta(hours=1),
    )
    return day


def test_settlement_runs_once_however_often_it_is_asked(shops, settled_day):
    body = {"date": settled_day.isoformat()}

    first = post(shops.admin, "/api/v1/settlements/run", body)
    second = post(shops.admin, "/api/v1/settlements/run", body)
    statements = shops.admin.get("/api/v1/settlements", {"date": settled_day.isoformat()})

    assert first.status_code == 200, first.content
    assert first.json() == {
        "date": settled_day.isoformat(),
        "created": 1,
        "statements": 1,
        "carried_forward": [],
    }
    assert second.json() == {**first.json(), "created": 0}
    [statement] = statements.json()
    assert {
        k: statement[k]
        for k in (
            "merchant",
            "merchant_name",
            "payment_count",
            "refund_count",
            "gross",
            "refunds",
            "net",
            "yuan",
            "status",
            "overdue",
            "bank_reference",
        )
    } == {
        "merchant": shops.merchant.pk,
        "merchant_name": "惠民超市",
        "payment_count": 1,
        "refund_count": 1,
        "gross": 36.5,
        "refunds": 10.0,
        "net": 26.5,
        "yuan": 26.5,
        "status": "unpaid",
        "overdue": False,
        "bank_reference": "",
    }
    assert Statement.objects.count() == 1
    assert_ledger_ok(shops.till.world.scheme.pk)


def test_settlement_of_a_day_not_over_and_by_others_is_refused(shops, client_for):
    others = [shops.cashier, client_for(Role.TOWNSHIP_ADMIN), client_for(Role.AUDITOR)]
    before = spending_snapshot()
    today = {"date": timezone.localdate().isoformat()}

    assert_error(post(shops.admin, "/api/v1/settlements/run", today), 409, "business_day_not_over")
    for client in others:
        assert_error(post(client, "/api/v1/settlements/run", today), 403, "permission_denied")
    assert_error(post(shops.admin, "/api/v1/settlements/run", {"date": "2026-02-30"}), 422)
    assert spending_snapshot() == before


def test_statements_overdue_and_paid(shops, settled_day):
    post(shops.admin, "/api/v1/settlements/run", {"date": settled_day.isoformat()})
    statement = Statement.objects.get()
    Statement.objects.filter(pk=statement.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )

    late = shops.admin.get("/api/v1/settlements", {"overdue": "true"})
    by_cashier = shops.cashier.get("/api/v1/settlements")
    by_other = shops.other_cashier.get("/api/v1/settlements")
    cashier_pays = post(
        shops.cashier, f"/api/v1/settlements/{statement.pk}/paid", {"bank_reference": "X"}
    )
    other_pays = post(
        shops.other_cashier, f"/api/v1/settlements/{statement.pk}/paid", {"bank_reference": "X"}
    )
    no_reference = post(
        shops.admin, f"/api/v1/settlements/{statement.pk}/paid", {"bank_reference": " "}
    )
    paid = post(
        shops.admin, f"/api/v1/settlements/{statement.pk}/paid", {"bank_reference": "ABC123"}
    )
    twice = post(
        shops.admin, f"/api/v1/settlements/{statement.pk}/paid", {"bank_reference": "ABC123"}
    )
    not_late = shops.admin.get("/api/v1/settlements", {"overdue": "true"})

    assert [(s["id"], s["overdue"]) for s in late.json()] == [(statement.pk, True)]
    assert [s["id"] for s in by_cashier.json()] == [statement.pk]
    assert by_other.json() == []
    assert_error(cashier_pays, 403, "permission_denied")
    assert_error(other_pays, 404, "not_found")
    assert_error(no_reference, 422, "invalid_input")
    assert paid.status_code == 200, paid.content
    assert (paid.json()["status"], paid.json()["bank_reference"], paid.json()["overdue"]) == (
        "paid",
        "ABC123",
        False,
    )
    assert_error(twice, 409, "statement_already_paid")
    assert not_late.json() == []
    assert_ledger_ok(shops.till.world.scheme.pk)


def test_payout_files_carry_full_accounts_for_county_admins_only(shops, settled_day, client_for):
    post(shops.admin, "/api/v1/settlements/run", {"date": settled_day.isoformat()})
    params = {"date": settled_day.isoformat()}

    as_csv = shops.admin.get("/api/v1/settlements/payouts", params)
    as_xlsx = shops.admin.get("/api/v1/settlements/payouts", {**params, "format": "xlsx"})
    unpaid = shops.admin.get("/api/v1/settlements/payouts")
    refused = [
        shops.cashier.get("/api/v1/settlements/payouts", params),
        client_for(Role.AUDITOR).get("/api/v1/settlements/payouts", params),
        client_for(Role.TOWNSHIP_ADMIN).get("/api/v1/settlements/payouts", params),
    ]

    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    assert f"payouts-{settled_day.isoformat()}.csv" in as_csv["Content-Disposition"]
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == ["序号", "收款户名", "收款账号", "开户行", "金额(元)", "用途", "参考号"]
    assert rows[1][:5] == [
        "1",
        "通榆县开通镇惠民超市有限公司",
        FULL_ACCOUNT,
        "中国农业银行通榆支行",
        "26.50",
    ]
    assert len(rows) == 2
    assert as_xlsx.status_code == 200 and as_xlsx.content.startswith(b"PK")
    assert unpaid.content == as_csv.content
    for response in refused:
        assert_error(response, 403, "permission_denied")
    assert_error(shops.admin.get("/api/v1/settlements/payouts", {"format": "pdf"}), 422)


def test_reconciliation_shows_no_differences(shops, settled_day, client_for):
    post(shops.admin, "/api/v1/settlements/run", {"date": settled_day.isoformat()})
    statement = Statement.objects.get()
    post(shops.admin, f"/api/v1/settlements/{statement.pk}/paid", {"bank_reference": "ABC123"})
    params = {"date": settled_day.isoformat()}

    report = shops.admin.get("/api/v1/settlements/reconciliation", params)
    audited = client_for(Role.AUDITOR).get("/api/v1/settlements/reconciliation", params)

    assert report.status_code == 200, report.content
    [scheme] = report.json()
    assert (scheme["scheme"], scheme["ok"]) == (shops.till.world.scheme.pk, True)
    assert [(c["expected"], c["actual"], c["difference"]) for c in scheme["checks"]] == [
        (26.5, 26.5, 0.0),
        (26.5, 26.5, 0.0),
        (26.5, 26.5, 0.0),
        (26.5, 26.5, 0.0),
        (26.5, 26.5, 0.0),
    ]
    assert audited.json() == report.json()
    assert_error(shops.cashier.get("/api/v1/settlements/reconciliation", params), 403)
    assert_error(shops.admin.get("/api/v1/settlements/reconciliation"), 422, "invalid_input")


def test_the_worked_example_over_http(shops, settled_day):
    """A merchant takes 36.5 points, refunds 10; D's statement says 26.50 points = 26.50 yuan;
    settlement run twice pays once; the ledger balances."""
    for _ in range(2):
        post(shops.admin, "/api/v1/settlements/run", {"date": settled_day.isoformat()})
    [statement] = shops.admin.get("/api/v1/settlements", {"date": settled_day.isoformat()}).json()
    paid = post(
        shops.admin, f"/api/v1/settlements/{statement['id']}/paid", {"bank_reference": "B1"}
    )

    assert (statement["net"], statement["yuan"]) == (26.5, 26.5)
    assert paid.json()["status"] == "paid"
    assert balance(shops.household) == 100_000 - 2650
    assert_ledger_ok(shops.till.world.scheme.pk)


def test_a_residents_pin_change_has_no_effect_on_codes_already_used(shops):
    """Sanity: a payment code belongs to the household, not to the token that fetched it."""
    resident = resident_client(shops.household, PIN)
    code = post(resident, f"/api/v1/households/{shops.household.pk}/payment-codes", {}).json()[
        "code"
    ]
    household_set_pin(actor_id=None, household=shops.household, pin="135792")

    assert pay(shops, {"code": code, "points": 5}).status_code == 201


# --- bad input: always a 4xx in the error format, never a 500 ----------------------------------

BAD_DAYS = ["9999-12-31", "0001-01-01", "2026-13-01", "2026-02-30", "abc", "２０２６-01-01", ""]


def test_bad_days_are_422_everywhere(shops):
    before = spending_snapshot()

    def check(day: str) -> None:
        for response in (
            post(shops.admin, "/api/v1/settlements/run", {"date": day}),
            shops.admin.get("/api/v1/settlements", {"date": day}),
            shops.admin.get("/api/v1/settlements/payouts", {"date": day}),
            shops.admin.get("/api/v1/settlements/reconciliation", {"date": day}),
            shops.cashier.get(shops.url("/payments"), {"date": day}),
        ):
            assert_error(response, 422, "invalid_input")

    check_each(BAD_DAYS, check)
    assert spending_snapshot() == before


def test_bad_ids_in_queries_and_paths_are_refused(shops):
    before = spending_snapshot()

    def check(raw: str) -> None:
        assert_error(shops.admin.get("/api/v1/settlements", {"merchant": raw}), 422)
        assert_error(shops.admin.get(f"/api/v1/merchants/{raw}"), 404, "not_found")
        assert_error(
            post(shops.admin, f"/api/v1/settlements/{raw}/paid", {"bank_reference": "X"}),
            404,
            "not_found",
        )

    check_each(["0", "-1", "1e3", str(2**63), "9" * 30, "abc", "%EF%BC%91"], check)
    assert spending_snapshot() == before


@pytest.mark.parametrize(
    "path",
    ["/payments", "/payments/1/refunds"],
)
def test_unreadable_bodies_are_4xx(shops, path):
    before = spending_snapshot()

    def check(raw) -> None:
        response = shops.cashier.post(
            shops.url(path), raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=new_key()
        )
        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"error"}

    check_each(RAW_BODIES, check)
    assert spending_snapshot() == before
