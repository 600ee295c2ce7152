"""The review queue and the pages around it: buttons per person and claim stage, objections
marked with their reason, claims started from the household page, lists paged with a total,
words instead of codes."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.awards.models import Claim
from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import World, make_household, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(world: World):
    load_catalogue(scheme=world.scheme)
    s = world.scheme
    return {
        "township": make_staff("t-admin", Role.TOWNSHIP_ADMIN, world.township_a, s),
        "village": make_staff("v-admin", Role.VILLAGE_ADMIN, world.village_a1, s),
        "grid": make_staff("grid", Role.GRID_WORKER, world.village_a1, s),
        "clerk": make_staff("clerk", Role.STORE_CLERK, world.village_a1, s),
        "auditor": make_staff("auditor", Role.AUDITOR, world.county, s),
    }


def _get(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _submit(world, staff, household, code="P02", note="调解", quantity=1) -> Claim:
    return claim_submit(
        actor=actor_for_user(staff["grid"]),
        household=household,
        rule_id=Rule.objects.get(scheme=world.scheme, code=code, effective_to__isnull=True).pk,
        quantity=quantity,
        note=note,
        witness="邻居",
    )


def _forms(html: str, claim: Claim) -> set[str]:
    return set(re.findall(rf'action="/claims/{claim.pk}/(approve|reject|object)/"', html))


def test_review_buttons_follow_the_person_and_the_claim_stage(world, staff):
    home = make_household(world.scheme, world.village_a1)
    small = _submit(world, staff, home)
    big = _submit(world, staff, make_household(world.scheme, world.village_a1), "F02", "最美家庭")
    claim_approve(actor=actor_for_user(staff["village"]), claim=big)  # now at the township stage

    village = _get(staff["village"], "/claims/")
    assert _forms(village, small) == {"approve", "reject"}
    assert _forms(village, big) == {"reject"}  # the township stage is not theirs, and they
    township = _get(staff["township"], "/claims/")  # approved it: not theirs twice either
    assert _forms(township, small) == {"approve", "reject"}
    assert _forms(township, big) == {"approve", "reject"}
    for who in ("grid", "auditor"):
        page = _get(staff[who], "/claims/")
        assert _forms(page, small) == set() and _forms(page, big) == set()
    assert 'href="/claims/new/"' in _get(staff["grid"], "/claims/")
    assert 'href="/claims/import/"' in _get(staff["grid"], "/claims/")
    auditor = _get(staff["auditor"], "/claims/")
    assert 'href="/claims/new/"' not in auditor and 'href="/claims/import/"' not in auditor
    detail = _get(staff["auditor"], f"/claims/{small.pk}/")
    assert '<form method="post"' not in detail[detail.index("<main>") :]


def test_a_claim_is_started_from_the_household_page_with_the_household_chosen(world, staff):
    home = make_household(world.scheme, world.village_a1, name="王秀英")
    link = f'href="/claims/new/?household={home.pk}"'
    assert link in _get(staff["grid"], f"/households/{home.pk}/")
    assert link in _get(staff["village"], f"/households/{home.pk}/")
    assert link not in _get(staff["auditor"], f"/households/{home.pk}/")
    assert link not in _get(staff["clerk"], f"/households/{home.pk}/")
    form = _get(staff["grid"], f"/claims/new/?household={home.pk}")
    assert f'<input type="hidden" name="household" value="{home.pk}">' in form
    assert "<strong>王秀英</strong>" in form
    # Points per unit in words: "15 分/小时", never the hundredths.
    assert "邻里互助（帮工）（15 分/小时）" in form
    assert "1500" not in form


def test_an_objected_claim_shows_the_reason_and_the_history_speaks_chinese(world, staff):
    from civicpoints.awards.services import claim_object

    claim = _submit(world, staff, make_household(world.scheme, world.village_a1))
    claim_approve(actor=actor_for_user(staff["village"]), claim=claim)
    claim_object(actor=actor_for_user(staff["grid"]), claim=claim, reason="当天他不在村里")

    queue = _get(staff["village"], "/claims/")
    row = queue[queue.index(f'id="claim-{claim.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "有异议" in row and "当天他不在村里" in row
    detail = _get(staff["village"], f"/claims/{claim.pk}/")
    history = detail[detail.index("办理记录") :]
    assert "<td>申报</td>" in history and "<td>审核通过</td>" in history
    assert "<td>提出异议</td>" in history and "公示中 → 待审核" in history
    assert not re.search(r"\b(submitted|approved|on_notice|object)\b", history)


def test_lists_page_with_a_total_and_the_household_list_shows_township_and_village(world, staff):
    for n in range(55):
        make_household(world.scheme, world.village_a1, name=f"户{n:02d}")
    first = _get(staff["village"], "/households/")
    assert "共 55 条" in first
    assert len(re.findall(r'href="/households/\d+/"', first)) == 50
    assert '<a href="?page=2">2</a>' in first and 'rel="next"' in first
    assert "<td>开通镇</td><td>晓光村</td>" in first
    second = _get(staff["village"], "/households/?page=2")
    assert "共 55 条" in second
    assert second.count("<td>开通镇</td><td>晓光村</td>") == 5
    # A page number out of range gives the last page, never an error.
    assert _get(staff["village"], "/households/?page=99").count("<td>晓光村</td>") == 5
    # Bad page numbers and unknown filters fall back to the first page / the default queue.
    assert _get(staff["village"], "/households/?page=abc").count("<td>晓光村</td>") == 50
    assert _get(staff["village"], "/households/?page=-1").count("<td>晓光村</td>") == 5
    assert "共 0 条" in _get(staff["village"], "/claims/?queue=nobody&status=nothing")
    # The search is kept by the page links.
    found = _get(staff["village"], "/households/?q=户")
    assert "共 55 条" in found and '<a href="?q=%E6%88%B7&amp;page=2">2</a>' in found
