"""Payment-code guessing is limited (issue 9, fix 5): invalid codes and unknown cards count per
cashier and per merchant in a sliding window; at the limit the till is refused (429, a Chinese
message on the counter page) until the oldest failures age out, and the crossing writes one
``merchant.code_guessing`` audit row. A valid code below the limit still pays, and costs one
indexed query more than before."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from civicpoints.audit.describe import describe
from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError
from civicpoints.merchants import guessing
from civicpoints.merchants.models import CodeFailure, GuessLimits, Payment
from civicpoints.merchants.services import payment_code_issue, payment_take
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, actor_for_user
from tests.api.conftest import assert_error
from tests.api.spending import new_key, post
from tests.factories import api_client, make_staff
from tests.ledger.helpers import run_in_threads
from tests.merchants.conftest import Till, build_till
from tests.merchants.helpers import balance, local

NOON = local(2026, 11, 20, 12, 0)


def forged(till: Till, at: dt.datetime = NOON) -> str:
    """A well-formed code whose signature is wrong (what a guesser types)."""
    real = payment_code_issue(household=till.household, at=at).code
    return real[:-1] + str((int(real[-1]) + 1) % 10)


def attempt(
    till: Till, code: str, *, actor: Actor | None = None, at: dt.datetime = NOON, card: str = ""
) -> str:
    try:
        payment_take(
            actor=actor or till.cashier_actor,
            merchant=till.merchant,
            points=1_000,
            code="" if card else code,
            card=card,
            pin="000000" if card else "",
            at=at,
        )
    except ApplicationError as exc:
        return str(exc.code)
    return "ok"


def guessing_rows() -> list[dict[str, Any]]:
    return list(
        AuditEvent.objects.filter(action="merchant.code_guessing")
        .order_by("pk")
        .values_list("detail", flat=True)
    )


def test_ten_invalid_codes_then_the_till_is_refused_even_for_a_valid_code(till: Till) -> None:
    answers = [attempt(till, forged(till), at=NOON + dt.timedelta(seconds=i)) for i in range(10)]
    valid = payment_code_issue(household=till.household, at=NOON).code
    before = balance(till.household)

    refused = attempt(till, valid, at=NOON + dt.timedelta(seconds=30))

    assert answers == ["payment_code_invalid"] * 10
    assert refused == "too_many_invalid_codes"
    assert balance(till.household) == before and not Payment.objects.exists()
    assert CodeFailure.objects.filter(cashier=till.cashier).count() == 10
    assert guessing_rows() == [
        {
            "merchant": till.merchant.pk,
            "cashier": till.cashier.pk,
            "scope": "cashier",
            "count": 10,
            "window_seconds": 600,
        }
    ]
    event = AuditEvent.objects.get(action="merchant.code_guessing")
    assert (event.actor_id, event.scheme_id) == (till.cashier.pk, till.world.scheme.pk)
    [line] = describe([event])  # the audit page's words: no codes, names instead of ids
    assert line.what == "无效付款码过多"
    assert line.target == f"签约商家 {till.merchant.pk}号（惠民超市）"
    assert set(line.detail) == {  # (jsonb keeps its own key order)
        ("商家", "惠民超市"),
        ("收银员", till.cashier.display_name or till.cashier.username),
        ("超限范围", "单个收银员"),
        ("无效次数", "10"),
        ("统计时长（秒）", "600"),
    }


def test_a_valid_code_after_invalid_ones_still_pays_below_the_limit(till: Till) -> None:
    for i in range(9):
        assert attempt(till, forged(till), at=NOON + dt.timedelta(seconds=i)) == (
            "payment_code_invalid"
        )
    valid = payment_code_issue(household=till.household, at=NOON).code

    assert attempt(till, valid, at=NOON + dt.timedelta(seconds=20)) == "ok"
    assert balance(till.household) == 100_000 - 1_000
    assert guessing_rows() == []


def test_the_window_slides_the_oldest_failures_age_out(till: Till) -> None:
    for i in range(10):
        attempt(till, forged(till), at=NOON + dt.timedelta(minutes=i))
    late = NOON + dt.timedelta(minutes=10)

    assert attempt(till, forged(till, late), at=late - dt.timedelta(seconds=1)) == (
        "too_many_invalid_codes"
    )
    # 12:10:00: the 12:00 failure is out of the window, nine remain: one more try.
    assert attempt(till, forged(till, late), at=late + dt.timedelta(seconds=1)) == (
        "payment_code_invalid"
    )
    assert attempt(till, forged(till, late), at=late + dt.timedelta(seconds=2)) == (
        "too_many_invalid_codes"
    )


def test_unknown_cards_count_like_invalid_codes(till: Till) -> None:
    answers = [
        attempt(till, "", card=f"NOCARD{i:04d}", at=NOON + dt.timedelta(seconds=i))
        for i in range(11)
    ]

    assert answers == ["not_found"] * 10 + ["too_many_invalid_codes"]
    assert set(CodeFailure.objects.values_list("kind", flat=True)) == {"card"}


def test_the_merchant_limit_stops_every_cashier_and_is_set_per_scheme(till: Till) -> None:
    GuessLimits.objects.create(
        scheme=till.world.scheme, per_cashier=4, per_merchant=6, window_minutes=30
    )
    cashiers = [till.cashier_actor]
    for n in (2, 3):
        user = make_staff(
            f"cashier-{n}", Role.MERCHANT_CLERK, till.world.township_a, till.world.scheme
        )
        till.merchant.clerks.add(user)
        cashiers.append(actor_for_user(user))
    at = iter(NOON + dt.timedelta(minutes=i) for i in range(100))

    first = [attempt(till, forged(till), actor=cashiers[0], at=next(at)) for _ in range(5)]
    second = [attempt(till, forged(till), actor=cashiers[1], at=next(at)) for _ in range(3)]
    third = attempt(till, forged(till), actor=cashiers[2], at=next(at))

    assert first == ["payment_code_invalid"] * 4 + ["too_many_invalid_codes"]
    assert second == ["payment_code_invalid"] * 2 + ["too_many_invalid_codes"]
    assert third == "too_many_invalid_codes"
    assert [
        (d["scope"], d["cashier"], d["count"], d["window_seconds"]) for d in guessing_rows()
    ] == [
        ("cashier", cashiers[0].user_id, 4, 1800),
        ("merchant", cashiers[1].user_id, 6, 1800),
    ]


def test_a_till_with_no_recent_failures_pays_with_one_query_more(till: Till) -> None:
    with CaptureQueriesContext(connection) as checked:
        guessing.guessing_check(
            scheme_id=till.world.scheme.pk,
            merchant_id=till.merchant.pk,
            cashier_id=till.cashier.pk,
            now=NOON,
        )

    assert len(checked.captured_queries) == 1
    assert "merchants_codefailure" in checked.captured_queries[0]["sql"]


# --- over HTTP: the API and the counter page ----------------------------------------------------


def test_the_api_answers_429_with_the_error_json(till: Till) -> None:
    client = api_client(till.cashier)
    url = f"/api/v1/merchants/{till.merchant.pk}/payments"
    answers = [
        post(client, url, {"code": forged(till, dt.datetime.now(dt.UTC)), "points": 10}, new_key())
        for _ in range(11)
    ]

    assert [a.status_code for a in answers] == [422] * 10 + [429]
    error = assert_error(answers[-1], 429, "too_many_invalid_codes")
    assert error["detail"] == {"scope": "cashier", "limit": 10, "window_seconds": 600}
    assert "无效付款码" in error["message"]
    assert CodeFailure.objects.count() == 10 and len(guessing_rows()) == 1


def test_the_counter_page_says_so_in_chinese(till: Till) -> None:
    client = Client()
    client.force_login(till.cashier)
    url = f"/counter/merchant/{till.merchant.pk}/pay/"
    now = dt.datetime.now(dt.UTC)

    def pay(code: str) -> Any:
        key = "counter-" + secrets.token_hex(16)
        return client.post(url, {"mode": "code", "code": code, "points": "10", "key": key})

    answers = [pay(forged(till, now)) for _ in range(10)]
    refused = pay(payment_code_issue(household=till.household).code)

    assert [a.status_code for a in answers] == [422] * 10
    assert refused.status_code == 429
    assert "无效付款码或卡号输入次数过多（10 分钟内 10 次）" in refused.content.decode()
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_than_the_limit(world: Any, postgres_only: None) -> None:
    till = build_till(world)
    codes = [forged(till, dt.datetime.now(dt.UTC)) for _ in range(24)]
    url = f"/api/v1/merchants/{till.merchant.pk}/payments"
    clients = [api_client(till.cashier) for _ in range(24)]

    outcomes = run_in_threads(
        24, lambda i: post(clients[i], url, {"code": codes[i], "points": 10}, new_key())
    )

    statuses = sorted(o.value.status_code for o in outcomes)
    assert statuses == [422] * 10 + [429] * 14
    assert len(guessing_rows()) == 1


def test_a_county_admin_sets_the_schemes_limits_in_the_admin(till: Till) -> None:
    till.admin.is_staff = till.admin.is_superuser = True
    till.admin.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(till.admin)

    response = client.post(
        "/admin/merchants/guesslimits/add/",
        {
            "scheme": till.world.scheme.pk,
            "per_cashier": 3,
            "per_merchant": 5,
            "window_minutes": 60,
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert guessing.guess_limits(till.world.scheme.pk) == guessing.Limits(
        3, 5, dt.timedelta(minutes=60)
    )
    event = AuditEvent.objects.get(action="merchant.guess_limits")
    assert (event.actor_id, event.detail) == (
        till.admin.pk,
        {"per_cashier": 3, "per_merchant": 5, "window_minutes": 60},
    )
    limits = GuessLimits.objects.get()
    too_long = client.post(
        f"/admin/merchants/guesslimits/{limits.pk}/change/",
        {
            "scheme": till.world.scheme.pk,
            "per_cashier": 3,
            "per_merchant": 5,
            "window_minutes": 2000,
        },
    )
    assert too_long.status_code == 200  # the form says why; nothing saved
    assert "guess_limits_positive" in too_long.content.decode() or "errornote" in (
        too_long.content.decode()
    )
    assert GuessLimits.objects.get().window_minutes == 60
