"""The staff home per role: counts that link to the work, only those the person can act on,
each counted by a selector of the domain app (scoped by the actor)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from civicpoints.activities.services import mutual_help_report
from civicpoints.awards.models import Claim, ClaimStatus
from civicpoints.awards.selectors import (
    notices_ending_today_count,
    objections_waiting_count,
    review_queue_count,
)
from civicpoints.awards.services import claim_approve, claim_object, claim_submit
from civicpoints.community.models import FeedbackKind
from civicpoints.community.services import feedback_submit
from civicpoints.households.importing.pending import Pending, pending_uploads
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Product
from civicpoints.stores.selectors import (
    deliveries_to_do_count,
    low_stock_count,
    orders_to_pick_count,
)
from civicpoints.stores.services import Item, order_place, product_create, store_create
from tests.factories import World, fund, make_household, make_staff

pytestmark = pytest.mark.django_db


def _tiles(client: Client) -> dict[str, int]:
    html = client.get("/").content.decode()
    return {
        k: int(n)
        for k, n in re.findall(r'id="tile-(\w+)" href="[^"]*"><span class="count">(\d+)', html)
    }


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(world: World):
    load_catalogue(scheme=world.scheme)
    s = world.scheme
    return {
        "county": make_staff("c-admin", Role.COUNTY_ADMIN, world.county, s),
        "township": make_staff("t-admin", Role.TOWNSHIP_ADMIN, world.township_a, s),
        "village": make_staff("v-admin", Role.VILLAGE_ADMIN, world.village_a1, s),
        "grid": make_staff("grid", Role.GRID_WORKER, world.village_a1, s),
        "clerk": make_staff("clerk", Role.STORE_CLERK, world.village_a1, s),
        "cashier": make_staff("cashier", Role.MERCHANT_CLERK, world.county, s),
        "auditor": make_staff("auditor", Role.AUDITOR, world.county, s),
    }


def _rule(world: World, code: str) -> int:
    return Rule.objects.get(scheme=world.scheme, code=code, effective_to__isnull=True).pk


def _claim(world: World, staff, household, code: str = "P02", note: str = "调解") -> Claim:
    return claim_submit(
        actor=actor_for_user(staff["grid"]),
        household=household,
        rule_id=_rule(world, code),
        quantity=1,
        note=note,
    )


def test_the_review_queue_counts_the_village_stage_for_admins_and_the_township_stage_apart(
    world, staff
):
    # Given two households of 晓光村: one claim at the village stage, one needing the township
    a = make_household(world.scheme, world.village_a1)
    b = make_household(world.scheme, world.village_a1)
    _claim(world, staff, a)
    big = _claim(world, staff, b, code="F02", note="最美家庭")
    village, township = actor_for_user(staff["village"]), actor_for_user(staff["township"])
    assert (review_queue_count(village), review_queue_count(township)) == (2, 2)
    # When the village admin approves the big one, it waits for the township, not for them
    claim_approve(actor=village, claim=big)
    assert Claim.objects.get(pk=big.pk).status == ClaimStatus.APPROVED
    assert review_queue_count(village) == 1
    assert review_queue_count(township) == 2
    assert review_queue_count(township, stage="village") == 1
    assert review_queue_count(township, stage="township") == 1
    assert review_queue_count(village, stage="township") == 0
    tiles = _tiles(_client(staff["township"]))
    assert (tiles["review"], tiles["township_review"]) == (1, 1)
    assert "township_review" not in _tiles(_client(staff["village"]))
    # Whoever approved the village stage is not asked for the township stage too
    assert review_queue_count(actor_for_user(staff["county"])) == 2
    county_admin = actor_for_user(staff["county"])
    third = make_household(world.scheme, world.village_a1)
    own = _claim(world, staff, third, code="F02", note="最美家庭")
    claim_approve(actor=county_admin, claim=own)  # the county admin does the village stage
    assert review_queue_count(county_admin, stage="township") == 1  # big only, never their own
    assert review_queue_count(township, stage="township") == 2
    assert review_queue_count(actor_for_user(staff["grid"])) == 0
    assert review_queue_count(actor_for_user(staff["auditor"])) == 0


def test_objections_and_notices_ending_today_are_counted_for_the_right_people(world, staff):
    a, b = (make_household(world.scheme, world.village_a1) for _ in range(2))
    village = actor_for_user(staff["village"])
    objected = _claim(world, staff, a)
    claim_approve(actor=village, claim=objected)
    claim_object(actor=actor_for_user(staff["grid"]), claim=objected, reason="不属实")
    ending = _claim(world, staff, b)
    claim_approve(actor=village, claim=ending)
    end_today = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(23, 59)))
    Claim.objects.filter(pk=ending.pk).update(notice_ends_at=end_today)

    assert objections_waiting_count(village) == 1
    assert objections_waiting_count(actor_for_user(staff["grid"])) == 0
    assert notices_ending_today_count(village) == 1
    assert notices_ending_today_count(actor_for_user(staff["auditor"])) == 1
    # ... and a claim of another scheme's village is nobody's here
    assert notices_ending_today_count(actor_for_user(staff["cashier"])) == 0

    tiles = _tiles(_client(staff["village"]))
    assert tiles["review"] == 1 and tiles["objections"] == 1 and tiles["notices"] == 1
    page = _client(staff["village"]).get("/claims/?queue=objected").content.decode()
    assert "不属实" in page and f'id="claim-{objected.pk}"' in page
    assert f'id="claim-{ending.pk}"' not in page


def test_store_counts_cover_the_stores_the_person_runs(world, staff):
    county = actor_for_user(staff["county"])
    store = store_create(
        actor=county,
        scheme_id=world.scheme.pk,
        region=world.village_a1,
        name="晓光村爱心超市",
        clerk_ids=[staff["clerk"].pk],
    )
    soap = product_create(actor=county, store=store, name="香皂", price=300, unit="块")
    Product.objects.filter(pk=soap.pk).update(stock=2, low_stock_at=5)
    rice = product_create(actor=county, store=store, name="大米", price=3000, unit="袋")
    Product.objects.filter(pk=rice.pk).update(stock=50)
    home = make_household(world.scheme, world.village_a1)
    fund(home, 100_000)
    order_place(household=home, store=store, items=[Item(product_id=rice.pk, quantity=1)])

    clerk = actor_for_user(staff["clerk"])
    assert (low_stock_count(clerk), orders_to_pick_count(clerk), deliveries_to_do_count(clerk)) == (
        1,
        1,
        0,
    )
    # An auditor reads the store but does not run it; a grid worker has nothing to do with it.
    for who in ("auditor", "grid"):
        actor = actor_for_user(staff[who])
        assert (low_stock_count(actor), orders_to_pick_count(actor)) == (0, 0)
    assert _tiles(_client(staff["clerk"])) == {"stock": 1, "orders": 1, "deliveries": 0}


def test_each_role_sees_only_the_counts_it_can_act_on(world, staff):
    keys = {who: set(_tiles(_client(user))) for who, user in staff.items()}
    assert keys["county"] == {
        "review",
        "township_review",
        "objections",
        "notices",
        "overdue",
        "mutual_help",
        "feedback",
        "household_imports",
        "claim_imports",
    }
    assert keys["village"] == {
        "review",
        "objections",
        "notices",
        "mutual_help",
        "feedback",
        "household_imports",
        "claim_imports",
    }
    assert keys["grid"] == {"notices", "mutual_help", "claim_imports"}
    assert keys["auditor"] == {"notices", "overdue"}
    assert keys["clerk"] == set()  # no store yet: nothing to run
    assert keys["cashier"] == set()


def test_a_zero_is_calm_and_a_count_is_highlighted(world, staff):
    html = _client(staff["village"]).get("/").content.decode()
    assert '<a class="tile" id="tile-review"' in html
    _claim(world, staff, make_household(world.scheme, world.village_a1))
    html = _client(staff["village"]).get("/").content.decode()
    assert '<a class="tile due" id="tile-review" href="/claims/?queue=village">' in html


def test_counter_staff_home_leads_to_the_counter_and_an_auditor_home_has_no_form(world, staff):
    county = actor_for_user(staff["county"])
    store_create(
        actor=county,
        scheme_id=world.scheme.pk,
        region=world.village_a1,
        name="晓光村爱心超市",
        clerk_ids=[staff["clerk"].pk],
    )
    html = _client(staff["clerk"]).get("/").content.decode()
    assert 'id="to-counter" href="/counter/"' in html
    html = _client(staff["auditor"]).get("/").content.decode()
    main = html[html.index("<main>") :]
    assert "<form" not in main
    assert "审计员只能查看" in main


def test_imports_waiting_are_this_persons_uploads_not_yet_confirmed(
    world, staff, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    mine = Pending.create(b"x", {"user_id": staff["village"].pk, "scheme_id": world.scheme.pk})
    Pending.create(b"x", {"user_id": staff["grid"].pk, "kind": "claims", "scheme_id": 1})
    done = Pending.create(b"x", {"user_id": staff["village"].pk, "kind": "claims"})
    done.finish({"kind": "claims"})
    waiting = pending_uploads(user_id=staff["village"].pk)
    assert [(u["token"], u["kind"]) for u in waiting] == [(mine.token, "households")]
    tiles = _tiles(_client(staff["village"]))
    assert (tiles["household_imports"], tiles["claim_imports"]) == (1, 0)
    page = _client(staff["village"]).get("/households/import/").content.decode()
    assert f'value="{mine.token}"' in page


def test_help_to_confirm_and_feedback_to_answer_are_counted(world, staff):
    helper = make_household(world.scheme, world.village_a1, "李勤")
    helped = make_household(world.scheme, world.village_a1, "张老汉")
    mutual_help_report(
        actor=actor_for_user(staff["grid"]),
        helper=helper,
        helped=helped,
        hours=2,
        occurred_on=timezone.localdate(),
    )
    feedback_submit(household=helped, kind=FeedbackKind.COMPLAINT, text="村口路灯坏了")
    feedback_submit(household=helper, kind=FeedbackKind.SUGGESTION, text="多办几次义诊")

    village = _tiles(_client(staff["village"]))
    assert (village["mutual_help"], village["feedback"]) == (1, 2)
    # The grid worker who reported the help does not confirm it himself.
    assert _tiles(_client(staff["grid"]))["mutual_help"] == 0
    assert "feedback" not in _tiles(_client(staff["auditor"]))
