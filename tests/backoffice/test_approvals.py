"""调整复核 pages: a county admin files an adjustment from the household page, another county
admin approves it after a confirmation page; the requester sees it waiting, without an approve
button; other roles get neither the menu item nor the page."""

from __future__ import annotations

import pytest
from django.test import Client

from civicpoints.audit.models import AuditEvent
from civicpoints.ledger.models import ApprovalRequest, ApprovalStatus, Posting, PostingKind
from civicpoints.ledger.selectors import household_balance
from civicpoints.schemes.models import Role
from civicpoints.schemes.services import role_grant
from tests.factories import fund, make_household, make_staff

LIST = "/approvals/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admins(world):
    a = make_staff("xian-a", Role.COUNTY_ADMIN, world.county, world.scheme)
    b = make_staff("xian-b", Role.COUNTY_ADMIN, world.county, world.scheme)
    return logged_in(a), logged_in(b)


@pytest.fixture
def household(world):
    h = make_household(world.scheme, world.village_a1, "王秀英")
    fund(h, 10000)
    return h


def file_adjustment(client, household, points="12.5", reason="补录去年漏记"):
    return client.post(f"/households/{household.pk}/adjust/", {"points": points, "reason": reason})


def test_file_then_a_second_admin_approves_after_confirming(world, admins, household):
    a, b = admins
    page = a.get(f"/households/{household.pk}/").content.decode()
    assert f"/households/{household.pk}/adjust/" in page

    filed = file_adjustment(a, household)

    assert filed.status_code == 302
    row = ApprovalRequest.objects.get()
    assert (row.amount, row.status) == (1250, ApprovalStatus.PENDING)
    assert household_balance(household_id=household.pk).balance == 10000

    # The requester sees it waiting, with no approve button
    mine = a.get(LIST).content.decode()
    assert "等待另一位县级管理员复核" in mine
    assert f"/approvals/{row.pk}/approve/" not in mine
    assert f"/approvals/{row.pk}/withdraw/" in mine
    # The other admin reads it in words and points (never hundredths), with the buttons
    theirs = b.get(LIST).content.decode()
    assert "给 王秀英（" in theirs and "加 12.5 分" in theirs
    assert "1250" not in theirs
    assert f"/approvals/{row.pk}/approve/" in theirs

    # First POST: a confirmation page, nothing posted
    asked = b.post(f"/approvals/{row.pk}/approve/")
    assert asked.status_code == 200
    assert "确认入账" in asked.content.decode()
    assert not Posting.objects.filter(kind=PostingKind.ADJUSTMENT).exists()

    done = b.post(f"/approvals/{row.pk}/approve/", {"confirmed": "1"})

    assert done.status_code == 302
    row.refresh_from_db()
    assert row.status == ApprovalStatus.APPROVED and row.posting is not None
    assert household_balance(household_id=household.pk).balance == 11250
    assert AuditEvent.objects.filter(action="adjustment.approve").count() == 1


def test_requester_posting_approve_is_refused(world, admins, household):
    a, _b = admins
    file_adjustment(a, household)
    row = ApprovalRequest.objects.get()

    response = a.post(f"/approvals/{row.pk}/approve/", {"confirmed": "1"}, follow=True)

    assert "不能复核自己提出的申请" in response.content.decode()
    row.refresh_from_db()
    assert row.status == ApprovalStatus.PENDING and row.posting_id is None


def test_duplicate_filing_is_refused_on_the_form(world, admins, household):
    a, _b = admins
    file_adjustment(a, household)

    again = file_adjustment(a, household, reason="再交一次")

    assert again.status_code == 409
    assert "同样的申请正在等待复核" in again.content.decode()
    assert ApprovalRequest.objects.count() == 1


@pytest.mark.parametrize("points,message", [("abc", "积分"), ("0", "积分"), ("1.234", "两位小数")])
def test_bad_points_are_a_form_error(world, admins, household, points, message):
    a, _b = admins

    response = file_adjustment(a, household, points=points)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ApprovalRequest.objects.exists()


def test_reject_needs_a_reason_and_a_confirmation(world, admins, household):
    a, b = admins
    file_adjustment(a, household)
    row = ApprovalRequest.objects.get()

    blank = b.post(f"/approvals/{row.pk}/reject/", {"note": " "}, follow=True)
    assert "请填写原因" in blank.content.decode()
    asked = b.post(f"/approvals/{row.pk}/reject/", {"note": "没有依据"})
    assert "确认驳回" in asked.content.decode()
    b.post(f"/approvals/{row.pk}/reject/", {"note": "没有依据", "confirmed": "1"})

    row.refresh_from_db()
    assert (row.status, row.note) == (ApprovalStatus.REJECTED, "没有依据")
    # And it can no longer be approved
    b.post(f"/approvals/{row.pk}/approve/", {"confirmed": "1"})
    assert not Posting.objects.filter(kind=PostingKind.ADJUSTMENT).exists()


@pytest.mark.parametrize(
    "role,region",
    [
        (Role.TOWNSHIP_ADMIN, "township_a"),
        (Role.VILLAGE_ADMIN, "village_a1"),
        (Role.AUDITOR, "county"),
        (Role.STORE_CLERK, "village_a1"),
    ],
)
def test_other_roles_see_no_menu_item_and_no_page(world, admins, household, role, region):
    a, _b = admins
    file_adjustment(a, household)
    row = ApprovalRequest.objects.get()
    client = logged_in(make_staff(f"u-{role}", role, getattr(world, region), world.scheme))

    home = client.get("/").content.decode()
    detail = client.get(f"/households/{household.pk}/")

    assert LIST not in home
    assert "/adjust/" not in detail.content.decode()
    assert client.get(LIST).status_code == 404
    assert file_adjustment(client, household).status_code == 404
    assert client.post(f"/approvals/{row.pk}/approve/", {"confirmed": "1"}).status_code == 404
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING


def test_county_admin_menu_shows_the_pending_count(world, admins, household):
    a, b = admins
    file_adjustment(a, household)

    home = b.get("/").content.decode()

    assert LIST in home and "调整复核" in home


def test_the_adjust_button_is_only_for_households_the_person_approves_for(world, household):
    # A county admin of the other scheme who is also a village admin here: approves
    # somewhere (the menu item), but not for this household.
    user = make_staff("both", Role.COUNTY_ADMIN, world.other_county, world.other_scheme)
    role_grant(user=user, scheme=world.scheme, region=world.village_a1, role=Role.VILLAGE_ADMIN)
    client = logged_in(user)
    own = make_household(world.other_scheme, world.other_village, "李四")

    here = client.get(f"/households/{household.pk}/")
    there = client.get(f"/households/{own.pk}/").content.decode()

    assert here.status_code == 200
    assert LIST in client.get("/").content.decode()  # the menu: approves in one scheme
    assert 'id="adjust-household"' not in here.content.decode()
    assert f"/households/{household.pk}/adjust/" not in here.content.decode()
    assert file_adjustment(client, household).status_code == 404
    assert f'id="adjust-household" href="/households/{own.pk}/adjust/"' in there
    assert ApprovalRequest.objects.count() == 0
