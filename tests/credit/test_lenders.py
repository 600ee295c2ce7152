"""Lenders and their keys: registering (a bad or duplicate code writes nothing), keys stored as
hashes only, the lender API's sign-in (revoked, expired, suspended: 401 on the next request),
keys kept apart from staff and resident tokens, and the county pages by role."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.api.main import api
from civicpoints.audit.describe import describe
from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.credit.lenders import (
    lender_create,
    lender_key_issue,
    lender_key_revoke,
    lender_set_status,
    uscc_make,
    uscc_problem,
)
from civicpoints.credit.models import Lender, LenderKey, LenderStatus
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.services import household_set_pin, resident_token_issue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.api.conftest import assert_error
from tests.credit.conftest import OTHER_CODE, Credit, make_lender
from tests.factories import api_client, make_household, make_staff

ME = "/api/v1/lender/me"


def written() -> dict:
    return {
        "lenders": list(Lender.objects.order_by("pk").values_list()),
        "keys": list(LenderKey.objects.order_by("pk").values_list("pk", "revoked_at")),
        "audit": AuditEvent.objects.count(),
    }


# --- codes and registering --------------------------------------------------------------------


def test_the_unified_social_credit_code_check():
    assert uscc_problem("91350100M000100Y43") is None  # a published example
    assert uscc_problem(uscc_make("91220822MA17ABCD0")) is None
    assert "校验位" in str(uscc_problem("91350100M000100Y44"))
    assert "18位" in str(uscc_problem("9135010"))
    assert "大写字母" in str(uscc_problem("91350100M000100YI3"))


def _create(credit: Credit, **fields: str) -> Lender:
    return lender_create(actor=actor_for_user(credit.admin), scheme=credit.world.scheme, **fields)


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("code", "91350100M000100Y44", "code"),
        ("code", "", "code"),
        ("name", "  ", "name"),
        ("contact_name", "", "contact_name"),
        ("contact_phone", "12", "contact_phone"),
        ("contact_phone", "", "contact_phone"),
    ],
)
def test_a_bad_registration_writes_nothing(credit: Credit, field, value, where):
    fields = {
        "name": "吉林银行通榆支行",
        "code": OTHER_CODE,
        "contact_name": "李",
        "contact_phone": "13900139000",
    }
    before = written()
    with pytest.raises(ApplicationError) as refused:
        _create(credit, **{**fields, field: value})
    assert refused.value.code == ErrorCode.INVALID_INPUT
    assert refused.value.detail["field"] == where
    assert written() == before


def test_a_duplicate_code_is_refused_and_writes_nothing(credit: Credit):
    before = written()
    with pytest.raises(ApplicationError) as refused:
        make_lender(credit.world, credit.admin, name="另一家", code=credit.lender.code.lower())
    assert refused.value.code == ErrorCode.DUPLICATE
    assert written() == before
    # another county may register the same bank
    other_admin = make_staff(
        "zhenlai", Role.COUNTY_ADMIN, credit.world.other_county, credit.world.other_scheme
    )
    twin = lender_create(
        actor=actor_for_user(other_admin),
        scheme=credit.world.other_scheme,
        name="通榆农商银行",
        code=credit.lender.code,
        contact_name="赵",
        contact_phone="13700137000",
    )
    assert twin.scheme_id == credit.world.other_scheme.pk


def test_only_county_admins_register_and_it_is_audited(credit: Credit):
    with pytest.raises(ApplicationError) as refused:
        make_lender(credit.world, credit.auditor, name="x", code=OTHER_CODE)
    assert refused.value.code == ErrorCode.PERMISSION_DENIED
    event = AuditEvent.objects.filter(action=AuditAction.LENDER_CREATE).get()
    assert event.detail == {"name": "通榆农商银行", "code": credit.lender.code}
    [line] = describe([event])
    assert line.what == "登记合作金融机构"
    assert ("统一社会信用代码", credit.lender.code) in line.detail


# --- keys and the lender API's sign-in -------------------------------------------------------


def test_only_the_hash_of_a_key_is_stored(credit: Credit):
    key = LenderKey.objects.get()
    assert credit.key.startswith("l.") and len(credit.key) == 45
    stored = " ".join(str(v) for v in LenderKey.objects.values_list().get())
    assert credit.key not in stored and credit.key[10:] not in stored
    assert key.prefix == credit.key[:10]
    assert key.expires_at.date() == (timezone.now() + dt.timedelta(days=365)).date()


def test_me_names_the_lender_and_its_key(credit: Credit):
    response = credit.lender_client().get(ME)

    assert response.status_code == 200, response.content
    assert response.json() | {"key_expires_at": None} == {
        "name": "通榆农商银行",
        "code": credit.lender.code,
        "scheme": "通榆县文明积分",
        "key_prefix": credit.key[:10],
        "key_expires_at": None,
    }
    assert LenderKey.objects.get().last_used_at is not None


@pytest.mark.parametrize("ending", ["revoke", "expire", "suspend"])
def test_the_next_request_after_a_key_ends_is_401(credit: Credit, ending):
    client = credit.lender_client()
    assert client.get(ME).status_code == 200
    admin = actor_for_user(credit.admin)
    key = LenderKey.objects.get()
    if ending == "revoke":
        lender_key_revoke(actor=admin, lender=credit.lender, key_id=key.pk)
    elif ending == "expire":
        LenderKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
    else:
        lender_set_status(
            actor=admin, lender=credit.lender, status=LenderStatus.SUSPENDED, reason="到期未续约"
        )

    assert_error(client.get(ME), 401, "not_authenticated")


@pytest.mark.parametrize("token", ["", "l.", "l.nope", "l." + "x" * 200, "r.abc", "abc"])
def test_unknown_keys_are_401(credit: Credit, token):
    assert_error(Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(ME), 401)
    assert_error(Client().get(ME), 401)


def test_staff_and_resident_tokens_are_401_on_lender_routes(credit: Credit):
    household = make_household(credit.world.scheme, credit.world.village_a1, "张三")
    household_set_pin(actor_id=None, household=household, pin="135790")
    resident, _ = resident_token_issue(card_code=household.card_code, pin="135790")

    assert_error(api_client(credit.admin).get(ME), 401)
    assert_error(Client(HTTP_AUTHORIZATION=f"Bearer {resident}").get(ME), 401)


def test_a_lender_key_is_401_on_every_other_operation(credit: Credit):
    schema = api.get_openapi_schema()
    client = credit.lender_client()
    answers = {}
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/lender/"):
            continue
        for method, operation in operations.items():
            if not operation.get("security"):
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            response = client.generic(
                method.upper(), url, "{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
            )
            answers[f"{method.upper()} {path}"] = response.status_code
    assert len(answers) > 50
    assert {op: code for op, code in answers.items() if code != 401} == {}


def test_a_suspended_lender_gets_no_key(credit: Credit):
    admin = actor_for_user(credit.admin)
    lender_set_status(actor=admin, lender=credit.lender, status="suspended", reason="暂停")
    before = written()
    with pytest.raises(ApplicationError):
        lender_key_issue(actor=admin, lender=credit.lender)
    assert written() == before


# --- county pages -----------------------------------------------------------------------------


def _page(user, url: str, **post: str):
    client = Client()
    client.force_login(user)
    return client.post(url, post) if post else client.get(url)


def test_a_county_admin_registers_a_lender_issues_and_revokes_a_key(credit: Credit):
    client = Client()
    client.force_login(credit.admin)
    home = client.get("/").content.decode()
    assert 'href="/credit/lenders/"' in home

    bad = client.post("/credit/lenders/new/", {"name": "x", "code": "123", "contact_name": "李"})
    assert bad.status_code == 422 and "18位" in bad.content.decode()
    assert Lender.objects.count() == 1

    made = client.post(
        "/credit/lenders/new/",
        {
            "name": "吉林银行通榆支行",
            "code": OTHER_CODE,
            "contact_name": "李",
            "contact_phone": "13900139000",
        },
    )
    assert made.status_code == 302
    lender = Lender.objects.get(name="吉林银行通榆支行")

    shown = client.post(f"/credit/lenders/{lender.pk}/keys/")
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    raw = re.search(r'<code class="new-key">(l\.[^<]+)</code>', shown.content.decode())[1]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(ME).json()["name"] == lender.name

    key = LenderKey.objects.get(lender=lender)
    url = f"/credit/lenders/{lender.pk}/keys/{key.pk}/revoke/"
    asked = client.post(url)
    assert asked.status_code == 200 and "确认注销" in asked.content.decode()
    assert LenderKey.objects.get(pk=key.pk).revoked_at is None  # nothing before the confirm
    done = client.post(url, {"confirmed": "1"})
    assert done.status_code == 302
    assert LenderKey.objects.get(pk=key.pk).revoked_at is not None
    assert_error(Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(ME), 401)


def test_suspending_asks_first(credit: Credit):
    url = f"/credit/lenders/{credit.lender.pk}/status/"
    asked = _page(credit.admin, url, status="suspended", reason="合作到期")
    assert asked.status_code == 200 and "确认更改机构状态" in asked.content.decode()
    assert Lender.objects.get().status == LenderStatus.ACTIVE
    no_reason = _page(credit.admin, url, status="suspended", reason=" ", confirmed="1")
    assert no_reason.status_code == 302 and Lender.objects.get().status == LenderStatus.ACTIVE
    done = _page(credit.admin, url, status="suspended", reason="合作到期", confirmed="1")
    assert done.status_code == 302 and Lender.objects.get().status == LenderStatus.SUSPENDED


def test_an_auditor_reads_but_is_offered_no_action(credit: Credit):
    page = _page(credit.auditor, "/credit/lenders/").content.decode()
    assert "通榆农商银行" in page and "登记新机构" not in page
    detail = _page(credit.auditor, f"/credit/lenders/{credit.lender.pk}/").content.decode()
    assert "签发新密钥" not in detail and "注销" not in detail.replace("已注销", "")
    before = written()
    assert _page(credit.auditor, "/credit/lenders/new/").status_code == 404
    assert (
        _page(credit.auditor, f"/credit/lenders/{credit.lender.pk}/keys/", x="1").status_code == 404
    )
    assert written() == before


@pytest.mark.parametrize(
    ("role", "region"),
    [
        (Role.VILLAGE_ADMIN, "village_a1"),
        (Role.TOWNSHIP_ADMIN, "township_a"),
        (Role.GRID_WORKER, "village_a1"),
        (Role.AUDITOR, "township_a"),
    ],
)
def test_others_get_no_menu_entry_and_404(credit: Credit, role, region):
    user = make_staff(
        f"u-{role}-{region}", role, getattr(credit.world, region), credit.world.scheme
    )
    assert "/credit/lenders/" not in _page(user, "/").content.decode()
    assert _page(user, "/credit/lenders/").status_code == 404
    assert _page(user, f"/credit/lenders/{credit.lender.pk}/").status_code == 404


def test_another_countys_admin_cannot_see_this_lender(credit: Credit):
    other = make_staff(
        "zhenlai2", Role.COUNTY_ADMIN, credit.world.other_county, credit.world.other_scheme
    )
    assert _page(other, f"/credit/lenders/{credit.lender.pk}/").status_code == 404
    assert "通榆农商银行" not in _page(other, "/credit/lenders/").content.decode()


def test_a_key_gets_60_requests_a_minute_then_429_with_retry_after(credit: Credit):
    client = credit.lender_client()
    for _ in range(60):
        assert client.get(ME).status_code == 200
    refused = client.get(ME)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Another lender's key counts apart; the next minute starts afresh
    other = make_lender(credit.world, credit.admin, name="吉林银行", code=OTHER_CODE)
    raw, _ = lender_key_issue(actor=actor_for_user(credit.admin), lender=other)
    assert credit.lender_client(raw).get(ME).status_code == 200
    LenderKey.objects.filter(lender=credit.lender).update(
        window_start=timezone.now() - dt.timedelta(seconds=61)
    )
    assert client.get(ME).status_code == 200
