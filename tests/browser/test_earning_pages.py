"""Earning pages in a real browser: propose with a photo, review, notice board and its print."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.services import claim_submit
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Role, User
from civicpoints.schemes.scope import actor_for_user
from tests.browser.conftest import shot, staff_sign_in
from tests.factories import build_world, make_household, make_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sqlite_pass,
]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_grid_worker_proposes_village_admin_approves_notice_prints(page, settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path
    world = build_world()
    load_catalogue(scheme=world.scheme)
    make_staff("wangge", Role.GRID_WORKER, world.village_a1, world.scheme)
    make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    make_household(world.scheme, world.village_a1, "曾国涛")
    photo = tmp_path / "courtyard.png"
    photo.write_bytes(PNG)

    staff_sign_in(page, page.base_url, "wangge")
    page.goto(page.base_url + "/claims/new/?q=zgt")
    page.get_by_role("link", name="曾国涛").click()
    page.get_by_label("积分细则").select_option(value=str(_rule_id(world, "E02")))  # photo needed
    page.get_by_label("照片（JPEG/PNG/WebP，最大5MB）").set_input_files(str(photo))
    page.get_by_role("button", name="提交申报").click()
    page.get_by_text("已提交申报").wait_for()
    assert page.locator(".photos img").count() == 1
    shot(page, "claim-submitted")

    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/login/")  # signed out before signing in again
    staff_sign_in(page, page.base_url, "cun")
    page.goto(page.base_url + "/claims/")
    row = page.locator("tr", has_text="曾国涛")
    assert "干净人家" in row.inner_text()
    shot(page, "claims-queue")
    row.get_by_role("button", name="通过").click()
    page.get_by_text("已审核通过").wait_for()
    assert Claim.objects.get().status == ClaimStatus.ON_NOTICE

    page.goto(f"{page.base_url}/notices/{world.village_a1.pk}/")
    assert "曾国涛" in page.locator("table").inner_text()
    page.goto(f"{page.base_url}/notices/{world.village_a1.pk}/print/")
    text = page.content()
    assert "晓光村文明积分公示" in text and "积分账本校验码" in text
    page.emulate_media(media="print")
    shot(page, "notice-print")
    ends = Claim.objects.get().notice_ends_at
    assert ends is not None and ends > dt.datetime.now(dt.UTC)


def _rule_id(world, code):
    return Rule.objects.get(scheme=world.scheme, code=code, effective_to__isnull=True).pk


def test_review_never_redirects_to_another_site(page):
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    actor = actor_for_user(User.objects.get(username="cun"))
    h = make_household(world.scheme, world.village_a1, "王秀英")
    claim = claim_submit(actor=actor, household=h, rule_id=rules["B01"].pk, quantity=3)
    staff_sign_in(page, page.base_url, "cun")
    page.goto(page.base_url + "/claims/")
    # Wait for the POST's own navigation: the test must not end (and the database be flushed)
    # while the approval is still in flight on the live server.
    with page.expect_navigation():
        page.evaluate(
            """(id) => { const f = document.querySelector(`form[action='/claims/${id}/approve/']`);
            const n = document.createElement('input'); n.type = 'hidden'; n.name = 'next';
            n.value = 'https://evil.example/'; f.appendChild(n); f.submit(); }""",
            claim.pk,
        )
    page.wait_for_load_state()
    assert page.url.startswith(page.base_url + "/claims/")
