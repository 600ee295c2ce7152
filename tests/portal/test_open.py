"""The public page /open/<village code>/: no login, the village's monthly totals by category,
claims on notice with names masked as the scheme says, the chain head with how to check it;
an unknown code is a friendly 404 and nothing staff-only (phone, card, address) shows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.awards.services import claim_approve, claim_submit, notices_finalize
from civicpoints.community.transparency import display_name, monthly_totals
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import AccountKind, ChainLink, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, reverse, system_account
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import NoticeNameDisplay, Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import build_world, fund, make_household, make_staff


@pytest.mark.parametrize(
    ("name", "full", "masked", "surname"),
    [
        ("张三明", "张三明", "张*明", "张某"),
        ("王五", "王五", "王*", "王某"),
        ("李", "李", "李*", "李某"),
        ("欧阳娜娜", "欧阳娜娜", "欧阳*娜", "欧阳某"),
        ("欧阳娜", "欧阳娜", "欧阳*", "欧阳某"),
        ("司马相如", "司马相如", "司马*如", "司马某"),
        ("诸葛", "诸葛", "诸*", "诸某"),  # two characters: a surname and a given name
        ("阿依古丽", "阿依古丽", "阿**丽", "阿某"),
        (" 赵六 ", "赵六", "赵*", "赵某"),
        ("", "", "", ""),
    ],
)
def test_names_are_written_as_the_policy_says(name, full, masked, surname):
    assert display_name(name, NoticeNameDisplay.FULL) == full
    assert display_name(name, NoticeNameDisplay.MASKED) == masked
    assert display_name(name, NoticeNameDisplay.SURNAME) == surname
    # An unknown policy never shows the full name
    assert display_name(name, "whatever") == surname


@pytest.fixture
def village(db):  # type: ignore[no-untyped-def]
    """晓光村 this month: awards by rule and without a claim, a deduction, redemptions (one
    returned), two claims on notice; a household of 新华村 earns too (must not count)."""
    world = build_world()
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}
    admin = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    admin_a2 = actor_for_user(
        make_staff("cun2", Role.VILLAGE_ADMIN, world.village_a2, world.scheme)
    )
    me = make_household(world.scheme, world.village_a1, "王秀英", phone="13912345678")
    neighbour = make_household(
        world.scheme, world.village_a1, "张三明", phone="13700001111", address="晓光村东头三号"
    )
    ouyang = make_household(world.scheme, world.village_a1, "欧阳娜娜")
    other = make_household(world.scheme, world.village_a2, "李四")

    def claim(actor, household, code, quantity, note=""):  # type: ignore[no-untyped-def]
        c = claim_submit(
            actor=actor, household=household, rule_id=rules[code].pk, quantity=quantity, note=note
        )
        return claim_approve(actor=actor, claim=c)

    now = timezone.now()
    claim(admin, me, "E03", 2)  # 人居环境 +20
    claim(admin_a2, other, "E03", 4)  # 新华村: not ours
    notices_finalize(at=now + dt.timedelta(days=4))
    fund(me, 3000)  # an award without a claim: 其他
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")
    account = household_account(household=me)
    post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.REDEMPTION,
        legs=[Leg(account, -500), Leg(store, 500)],
    )
    returned = post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.REDEMPTION,
        legs=[Leg(account, -300), Leg(store, 300)],
    )
    reverse(posting=returned)
    claim(admin, me, "D01", 1, note="违规搭建")  # 扣分 -20
    notices_finalize(at=now + dt.timedelta(days=8))
    claim(admin, neighbour, "V02", 1)  # on notice
    claim(admin, ouyang, "E03", 1)  # on notice
    chain_follow(scheme_id=world.scheme.pk)
    return world, me, neighbour


def open_page(world, policy: str | None = None) -> str:  # type: ignore[no-untyped-def]
    if policy is not None:
        world.scheme.notice_name_display = policy
        world.scheme.save(update_fields=["notice_name_display"])
    response = Client().get(f"/open/{world.village_a1.code}/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    return response.content.decode()


def test_monthly_totals_by_category(village):
    world, _, _ = village
    months = monthly_totals(scheme_id=world.scheme.pk, village_id=world.village_a1.pk)
    this = months[0]
    assert len(months) == 12 and this.month == timezone.localdate().replace(day=1)
    assert (this.awarded, this.deducted, this.redeemed) == (5000, 2000, 500)
    assert [(c.category, c.awarded, c.deducted) for c in this.categories] == [
        ("其他", 3000, 0),
        ("人居环境", 2000, 0),
        ("扣分", 0, 2000),
    ]
    assert all(
        (m.awarded, m.deducted, m.redeemed, m.categories) == (0, 0, 0, []) for m in months[1:]
    )
    # A month later the same postings are last month's; thirteen months later they are gone
    later = monthly_totals(
        scheme_id=world.scheme.pk,
        village_id=world.village_a1.pk,
        now=timezone.now() + dt.timedelta(days=32),
    )
    assert (later[0].awarded, later[1].awarded, later[1].redeemed) == (0, 5000, 500)
    gone = monthly_totals(
        scheme_id=world.scheme.pk,
        village_id=world.village_a1.pk,
        now=timezone.now() + dt.timedelta(days=400),
    )
    assert sum(m.awarded + m.deducted + m.redeemed for m in gone) == 0


def test_the_page_shows_totals_masked_notice_and_the_head(village):
    world, _, _ = village
    page = open_page(world)
    assert "开通镇晓光村文明积分公开" in page
    month = timezone.localdate()
    assert (
        f'<tr class="month"><td>{month.year}年{month.month}月</td><td class="num">50</td>'
        f'<td class="num minus">20</td><td class="num">5</td></tr>'
    ) in page
    assert '<tr class="cat"><td>人居环境</td><td class="num">20</td><td class="num">0</td>' in page
    # Masked by default: 张*明, 欧阳*娜
    assert '<td class="name">张*明</td>' in page and '<td class="name">欧阳*娜</td>' in page
    assert "张三明" not in page and "欧阳娜娜" not in page
    head = ChainLink.objects.filter(scheme=world.scheme).order_by("-seq").first()
    assert head is not None
    assert f'<p class="hash">{head.seq}:{head.hash}</p>' in page
    assert f"civicpoints verify --head {head.seq}:{head.hash}" in page
    assert f"/api/v1/ledger/verify-head?seq={head.seq}&amp;hash={head.hash}" in page


@pytest.mark.parametrize(
    ("policy", "shown", "hidden"),
    [
        (NoticeNameDisplay.FULL, ["张三明", "欧阳娜娜"], []),
        (NoticeNameDisplay.MASKED, ["张*明", "欧阳*娜"], ["张三明", "欧阳娜娜"]),
        (NoticeNameDisplay.SURNAME, ["张某", "欧阳某"], ["张三明", "张*明", "欧阳娜娜"]),
    ],
)
def test_names_on_notice_follow_the_schemes_policy(village, policy, shown, hidden):
    page = open_page(village[0], policy)
    for name in shown:
        assert f'<td class="name">{name}</td>' in page
    for name in hidden:
        assert name not in page


def test_nothing_staff_only_leaks(village):
    world, me, neighbour = village
    page = open_page(world, NoticeNameDisplay.FULL)
    for secret in (
        "13912345678",
        "139****5678",
        "13700001111",
        "137****1111",
        "晓光村东头三号",
        me.card_code,
        neighbour.card_code,
        "王秀英",  # posted, not on notice: never named here
        "李四",
        "违规搭建",  # a claim's note
    ):
        assert secret not in page, secret


@pytest.mark.parametrize(
    "code", ["220822100299", "220822100000", "22082210020", "abc", "２２０８２２１００２０１"]
)
def test_an_unknown_or_malformed_code_is_a_friendly_404(db, code):
    build_world()
    response = Client().get(f"/open/{code}/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "没有找到这个村" in page and "村代码是12位数字" in page


def test_a_village_with_nothing_yet_says_so(db):
    world = build_world()
    page = open_page(world)
    assert "目前没有公示中的申报" in page and "账本还没有记账，暂无校验码。" in page


def test_the_page_costs_the_same_queries_whatever_the_village_holds(village, db):
    world, _, _ = village
    with CaptureQueriesContext(connection) as busy:
        open_page(world)
    empty = build_world_village(world)
    with CaptureQueriesContext(connection) as quiet:
        assert Client().get(f"/open/{empty.code}/").status_code == 200
    assert len(busy) == len(quiet) <= 8


def build_world_village(world):  # type: ignore[no-untyped-def]
    """Another village of the same scheme, with no households at all."""
    from civicpoints.schemes.models import RegionLevel
    from civicpoints.schemes.services import region_create

    return region_create(
        code="220822100203", name="新立村", level=RegionLevel.VILLAGE, parent=world.township_a
    )


def test_the_cached_public_page_holds_nothing_of_one_visitor(village):
    # Given a visitor whose session carries a message (e.g. a resident who just filed something)
    world, _, _ = village
    client = Client()
    session = client.session
    session["_messages"] = '[["__json_message",0,25,"您的私人消息"]]'
    session.save()
    # When they open the public page (cached by proxies for everyone for a minute)
    response = client.get(f"/open/{world.village_a1.code}/")
    page = response.content.decode()
    # Then it carries no form, no CSRF token, no message and sets no cookie
    assert response.status_code == 200
    assert "<form" not in page and "csrfmiddlewaretoken" not in page
    assert "您的私人消息" not in page
    assert "csrftoken" not in response.cookies
