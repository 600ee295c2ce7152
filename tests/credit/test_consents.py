"""Consents on the phone: the PIN is required (a wrong one counted), personal data is off unless
ticked, bad terms write nothing, a re-grant supersedes, revoking works, the household sees both
in its history and gets a text each time."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.credit.consents import (
    STORED_TEXT,
    consent_revoke,
    consent_terms,
    normalize_ref,
    ref_display,
)
from civicpoints.credit.lenders import lender_create, lender_set_status
from civicpoints.credit.models import Consent, ConsentChannel, ConsentUse, ConsentUseKind
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.households.services import household_set_pin
from civicpoints.notifications.models import Notification
from civicpoints.schemes.scope import actor_for_user
from tests.credit.conftest import PIN, grant, make_lender, written
from tests.factories import make_household, make_staff


def test_a_grant_needs_the_pin_and_a_wrong_one_is_counted(credit, home):
    before = written()
    with pytest.raises(ApplicationError) as wrong:
        grant(credit, home, pin="000000")
    assert wrong.value.code == ErrorCode.PIN_INCORRECT
    with pytest.raises(ApplicationError) as missing:
        grant(credit, home, pin="")
    assert missing.value.code == ErrorCode.PIN_REQUIRED
    assert written() == before
    assert Household.objects.get(pk=home.pk).pin_failures == 1


def test_personal_data_is_off_unless_ticked(credit, home):
    plain = grant(credit, home)
    assert (plain.share_id_number, plain.share_phone, plain.share_address) == (False,) * 3
    assert plain.fields == []
    other = make_lender(credit.world, credit.admin, name="吉林银行", code="91350100M000100Y43")
    with_id = grant(credit, home, fields=["id_number"], lender=other)
    assert with_id.fields == ["id_number"]


def test_the_wording_names_the_lender_the_period_and_each_line(credit, home):
    terms = consent_terms(household=home, lender_id=credit.lender.pk, months=3, fields=["phone"])
    text = "\n".join(terms.lines)
    assert credit.lender.name in text and credit.lender.code in text and "王经理" in text
    assert "同时提供：手机号。" in text
    assert "不提供：户主身份证号。" in text and "不提供：家庭住址。" in text
    consent = grant(credit, home, fields=["phone"], months=3)
    assert consent.wording_sha256 == terms.sha256 and len(terms.sha256) == 64
    assert STORED_TEXT["title"] in text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"months": 7}, "months"),
        ({"months": "12x"}, "months"),
        ({"months": None}, "months"),
        ({"lender_id": 10**9}, "lender"),
        ({"lender_id": "abc"}, "lender"),
        ({"fields": ["id_number", "bank_account"]}, "fields"),
    ],
)
def test_bad_terms_write_nothing(credit, home, change, field):
    before = written()
    args = {"lender_id": credit.lender.pk, "months": 6, "fields": []} | change
    with pytest.raises(ApplicationError) as refused:
        consent_terms(household=home, **args)
    assert refused.value.code == ErrorCode.INVALID_INPUT
    assert refused.value.detail["field"] == field
    assert written() == before


def test_a_suspended_or_other_schemes_lender_cannot_be_chosen(credit, home):
    other_admin = make_staff(
        "zl", "county_admin", credit.world.other_county, credit.world.other_scheme
    )
    theirs = lender_create(
        actor=actor_for_user(other_admin),
        scheme=credit.world.other_scheme,
        name="镇赉银行",
        code=credit.lender.code,
        contact_name="赵",
        contact_phone="13700137000",
    )
    with pytest.raises(ApplicationError):
        consent_terms(household=home, lender_id=theirs.pk, months=6, fields=[])
    lender_set_status(
        actor=actor_for_user(credit.admin), lender=credit.lender, status="suspended", reason="停"
    )
    before = written()
    with pytest.raises(ApplicationError) as refused:
        grant(credit, home)
    assert refused.value.detail["field"] == "lender"
    assert written() == before


def test_a_household_without_a_pin_is_told_to_set_one(credit, home):
    Household.objects.filter(pk=home.pk).update(pin_hash="")
    home.refresh_from_db()
    before = written()
    with pytest.raises(ApplicationError) as refused:
        grant(credit, home)
    assert "设置密码" in refused.value.message
    assert written() == before


def test_the_same_form_key_grants_once(credit, home):
    first = grant(credit, home, key="credit-consent-samekey00000001")
    again = grant(credit, home, key="credit-consent-samekey00000001")
    assert again.pk == first.pk
    assert Consent.objects.count() == 1 and ConsentUse.objects.count() == 1


def test_a_regrant_supersedes_the_live_consent(credit, home):
    first = grant(credit, home)
    second = grant(credit, home, fields=["address"])
    first.refresh_from_db()
    assert first.revoked_at is not None and first.revoked_channel == ConsentChannel.SUPERSEDED
    assert second.revoked_at is None
    kinds = list(ConsentUse.objects.order_by("pk").values_list("consent_id", "kind"))
    assert kinds == [
        (first.pk, ConsentUseKind.GRANTED),
        (first.pk, ConsentUseKind.REVOKED),
        (second.pk, ConsentUseKind.GRANTED),
    ]


def test_revoking_is_immediate_audited_and_texted(credit, home):
    consent = grant(credit, home, fields=["id_number"])
    revoked = consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)
    assert revoked.revoked_at is not None
    events = AuditEvent.objects.filter(
        action__in=[AuditAction.CREDIT_CONSENT_GRANT, AuditAction.CREDIT_CONSENT_REVOKE]
    ).order_by("pk")
    assert [e.detail["fields"] for e in events] == [["id_number"], ["id_number"]]
    assert all(e.region_id == credit.world.village_a1.pk for e in events)
    texts = list(Notification.objects.order_by("pk").values_list("text", flat=True))
    assert len(texts) == 2 and "通榆农商银行" in texts[0] and "已撤销" in texts[1]
    with pytest.raises(ApplicationError) as again:
        consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)
    assert again.value.code == ErrorCode.NOT_FOUND


def test_another_household_cannot_revoke_it(credit, home):
    consent = grant(credit, home)
    neighbour = make_household(credit.world.scheme, credit.world.village_a1, "李四")
    with pytest.raises(ApplicationError) as refused:
        consent_revoke(household=neighbour, ref=consent.ref, channel=ConsentChannel.PHONE)
    assert refused.value.code == ErrorCode.NOT_FOUND
    assert Consent.objects.get().revoked_at is None


def test_refs_are_read_as_people_write_them():
    assert normalize_ref("abcd-efgh-jkmn-pq01") == "ABCDEFGHJKMNPQ01"
    assert normalize_ref("ABCD EFGH JKMN PQOI") == "ABCDEFGHJKMNPQ01"
    assert normalize_ref("ABCDEFGHJKMNPQ0U") is None  # U is not Crockford
    assert normalize_ref("short") is None and normalize_ref(12) is None
    assert ref_display("ABCDEFGHJKMNPQ01") == "ABCD-EFGH-JKMN-PQ01"


# --- the phone pages -------------------------------------------------------------------------


def phone(home: Household) -> Client:
    client = Client()
    response = client.post("/m/login/", {"card": home.card_code, "pin": PIN})
    assert response.status_code == 302
    return client


def page(response) -> str:
    return html.unescape(response.content.decode())


def test_grant_and_revoke_on_the_phone_and_see_both(credit, home):
    client = phone(home)
    assert "/m/credit/" in page(client.get("/m/"))

    form = page(client.get("/m/credit/new/"))
    assert credit.lender.name in form
    assert 'type="checkbox" name="fields" value="id_number">' in form  # unticked

    confirm = client.post(
        "/m/credit/new/", {"step": "confirm", "lender": credit.lender.pk, "months": "12"}
    )
    text = page(confirm)
    assert "个人信息共享授权书" in text and "不提供：户主身份证号。" in text
    key = re.search(r'name="key" value="([^"]+)"', text)[1]
    assert Consent.objects.count() == 0  # nothing before the PIN

    wrong = client.post(
        "/m/credit/new/",
        {"step": "grant", "lender": credit.lender.pk, "months": "12", "key": key, "pin": "111111"},
    )
    assert wrong.status_code == 422 and "密码不对" in page(wrong)
    assert Consent.objects.count() == 0

    done = client.post(
        "/m/credit/new/",
        {"step": "grant", "lender": credit.lender.pk, "months": "12", "key": key, "pin": PIN},
    )
    assert done.status_code == 302
    consent = Consent.objects.get()
    shown = page(client.get(done["Location"]))
    assert ref_display(consent.ref) in shown and "<svg" in shown

    again = client.post(  # the same form posted again: still one consent
        "/m/credit/new/",
        {"step": "grant", "lender": credit.lender.pk, "months": "12", "key": key, "pin": PIN},
    )
    assert again.status_code == 302 and Consent.objects.count() == 1

    ask = page(client.get(f"/m/credit/{consent.ref}/revoke/"))
    assert "确认撤销" in ask and Consent.objects.get().revoked_at is None
    assert client.post(f"/m/credit/{consent.ref}/revoke/").status_code == 302
    assert Consent.objects.get().revoked_at is not None

    history = page(client.get("/m/credit/"))
    assert f"{credit.lender.name} 授权" in history
    assert f"{credit.lender.name} 撤销授权" in history
    assert "目前没有授权任何机构" in history


def test_bad_choices_on_the_phone_are_told_at_their_field(credit, home):
    client = phone(home)
    before = written()
    response = client.post("/m/credit/new/", {"step": "confirm", "months": "6"})
    assert response.status_code == 422 and "请选择一家合作金融机构" in page(response)
    response = client.post(
        "/m/credit/new/",
        {"step": "grant", "lender": credit.lender.pk, "months": "6", "key": "x", "pin": PIN},
    )
    assert response.status_code == 422 and "页面已过期" in page(response)
    assert written() == before


def test_another_households_ref_is_not_found_on_the_phone(credit, home):
    consent = grant(credit, home)
    neighbour = make_household(credit.world.scheme, credit.world.village_a1, "李四")
    household_set_pin(actor_id=None, household=neighbour, pin=PIN)
    client = phone(neighbour)
    assert client.get(f"/m/credit/{consent.ref}/revoke/").status_code == 404
    assert client.get(f"/m/credit/{consent.ref}/granted/").status_code == 404
    assert Consent.objects.get().revoked_at is None
