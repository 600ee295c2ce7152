"""A demo county shaped like Tongyu (Jilin): townships, villages, households, staff, history.

Deterministic for a given seed. Households are loaded set-based (``households_bulk_create``);
the history goes through ``ledger.services.post()`` like every other posting.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.db import reset_queries, transaction
from django.utils import timezone

from civicpoints.audit.models import AuditAction
from civicpoints.awards.services import claim_approve, claim_submit
from civicpoints.demo.activities import build_activities
from civicpoints.demo.community import build_village_life
from civicpoints.demo.credit import build_credit
from civicpoints.demo.honours import build_honours
from civicpoints.demo.spending import build_spending
from civicpoints.households import idcard
from civicpoints.households.models import Household, HouseholdStatus, Relation
from civicpoints.households.services import (
    NewHousehold,
    NewMember,
    households_bulk_create,
)
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import Account, AccountKind, PostingKind
from civicpoints.ledger.services import Leg, post, system_account
from civicpoints.rules.catalogue import CATALOGUE, load_catalogue
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import Region, RegionLevel, Role, Scheme, User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.services import region_get_or_create, role_grant, scheme_create

COUNTY_CODE = "220822000000"
DEMO_PIN = "258369"
DEMO_VILLAGE = "晓光村"  # the demo residents, the Excel fixtures and the village staff are here

# Real township names of Tongyu county; the first three hold the villages the Excel fixtures use.
TOWNSHIPS: list[tuple[str, list[str]]] = [
    ("开通镇", ["晓光村", "新华村", "东风村"]),
    ("兴隆山镇", ["兴盛村", "永胜村"]),
    ("四井子镇", ["四井子村", "六井子村"]),
    ("瞻榆镇", []),
    ("双岗镇", []),
    ("边昭镇", []),
    ("鸿兴镇", []),
    ("新华镇", []),
    ("乌兰花镇", []),
    ("陆家镇", []),
    ("什花道乡", []),
    ("向海蒙古族乡", []),
    ("包拉温都蒙古族乡", []),
    ("团结乡", []),
    ("新兴乡", []),
    ("八面乡", []),
]
VILLAGE_STEMS = [
    "胜利",
    "红旗",
    "前进",
    "永丰",
    "长发",
    "团结",
    "光明",
    "幸福",
    "建设",
    "和平",
    "太平",
    "富强",
    "民主",
    "新发",
    "中心",
    "保安",
    "同心",
    "平安",
    "兴旺",
    "向阳",
    "友谊",
    "复兴",
    "大岗",
    "三合",
    "双山",
    "宝山",
    "新立",
    "义和",
    "东升",
    "西荒",
    "南岗",
    "北山",
    "五一",
    "新城",
    "庆丰",
]
VILLAGES_TOTAL = 172
SURNAMES = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "赵",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "郭",
    "马",
    "罗",
    "梁",
    "宋",
    "郑",
    "谢",
    "韩",
    "唐",
    "冯",
    "于",
    "董",
    "萧",
    "程",
    "曹",
    "袁",
    "邓",
    "许",
    "傅",
    "沈",
    "曾",
    "彭",
    "吕",
    "苏",
    "卢",
    "蒋",
    "蔡",
    "贾",
    "丁",
    "魏",
    "薛",
    "叶",
    "阎",
    "单",
    "解",
    "仇",
    "朴",
    "包",
    "白",
]
GIVEN = [
    "国",
    "建",
    "军",
    "玉",
    "兰",
    "秀",
    "英",
    "凤",
    "春",
    "海",
    "明",
    "志",
    "伟",
    "丽",
    "桂",
    "淑",
    "宝",
    "金",
    "文",
    "华",
    "平",
    "成",
    "永",
    "德",
    "福",
    "芳",
    "红",
    "霞",
    "涛",
    "鹏",
]

STAFF = [
    ("county-admin", "县文明办管理员", Role.COUNTY_ADMIN, "county"),
    ("township-admin", "开通镇管理员", Role.TOWNSHIP_ADMIN, "township"),
    ("village-admin", "晓光村书记", Role.VILLAGE_ADMIN, "village"),
    ("grid-worker", "晓光村网格员", Role.GRID_WORKER, "village"),
    ("store-clerk", "晓光村爱心超市店员", Role.STORE_CLERK, "village"),
    ("merchant-clerk", "签约商家收银员", Role.MERCHANT_CLERK, "county"),
    ("auditor", "县纪检审计员", Role.AUDITOR, "county"),
]


@dataclass
class DemoResult:
    scheme: Scheme
    households: int
    postings: int
    villages: int


def _regions() -> tuple[Region, dict[str, Region], list[Region]]:
    province = region_get_or_create(
        code="220000000000", name="吉林省", level=RegionLevel.PROVINCE, parent=None
    )
    city = region_get_or_create(
        code="220800000000", name="白城市", level=RegionLevel.CITY, parent=province
    )
    county = region_get_or_create(
        code=COUNTY_CODE, name="通榆县", level=RegionLevel.COUNTY, parent=city
    )
    townships: dict[str, Region] = {}
    villages: list[Region] = []
    per_township = VILLAGES_TOTAL // len(TOWNSHIPS)
    extra = VILLAGES_TOTAL - per_township * len(TOWNSHIPS)
    for t_index, (t_name, named) in enumerate(TOWNSHIPS):
        t_code = f"220822{100 + t_index:03d}000"
        township = region_get_or_create(
            code=t_code, name=t_name, level=RegionLevel.TOWNSHIP, parent=county
        )
        townships[t_name] = township
        want = per_township + (1 if t_index < extra else 0)
        names = list(named)
        stems = iter(VILLAGE_STEMS)
        while len(names) < want:
            candidate = next(stems) + "村"
            if candidate not in names:
                names.append(candidate)
        for v_index, v_name in enumerate(names):
            villages.append(
                region_get_or_create(
                    code=f"{t_code[:9]}{200 + v_index:03d}",
                    name=v_name,
                    level=RegionLevel.VILLAGE,
                    parent=township,
                )
            )
    return county, townships, villages


def _person(rng: random.Random, used_ids: set[str], surname: str | None = None) -> tuple[str, str]:
    name = (surname or rng.choice(SURNAMES)) + "".join(
        rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))
    )
    while True:
        born = f"{rng.randint(1940, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        number = idcard.make(f"220822{born}{rng.randint(0, 999):03d}")
        if number not in used_ids:
            used_ids.add(number)
            return name, number


def _phone(rng: random.Random) -> str:
    return rng.choice(["13", "15", "17", "18"]) + "".join(str(rng.randint(0, 9)) for _ in range(9))


def build_demo(
    *,
    households: int = 300,
    seed: int = 2026,
    password: str,
    history: int | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> DemoResult:
    rng = random.Random(seed)
    # Spouses' phones come from a generator of their own, so the rest of the county stays as
    # it was for a given seed; with them a spouse logs in by SMS code as well as the head.
    phones = random.Random(seed + 1)
    with transaction.atomic():
        county, townships, villages = _regions()
        scheme = Scheme.objects.filter(operator_region=county).first() or scheme_create(
            name="通榆县文明积分", operator_region=county
        )
        if not scheme.offline_allowance:
            # The offline counter's floor limit: 100 points a household a day
            Scheme.objects.filter(pk=scheme.pk).update(offline_allowance=10_000)
            scheme.offline_allowance = 10_000
        demo_village = next(v for v in villages if v.name == DEMO_VILLAGE)
        scope = {"county": county, "township": townships["开通镇"], "village": demo_village}
        for username, display, role, level in STAFF:
            user, _ = User.objects.get_or_create(username=username)
            user.display_name = display
            user.is_staff = role == Role.COUNTY_ADMIN
            user.is_superuser = role == Role.COUNTY_ADMIN
            user.set_password(password)
            user.save()
            role_grant(user=user, scheme=scheme, region=scope[level], role=role)
    progress(f"区划：{len(townships)} 个乡镇，{len(villages)} 个村")

    used_ids: set[str] = set()
    rows: list[NewHousehold] = []
    # The demo village gets a visible share so the village admin has people to work with.
    weights = [20 if v == demo_village else 1 for v in villages]
    chosen = rng.choices(villages, weights=weights, k=households)
    for i, village in enumerate(chosen):
        name, number = _person(rng, used_ids, surname="曾" if i == 0 else None)
        size = rng.choice((1, 2, 3, 3, 4, 4, 5))
        members = []
        if size >= 2:
            spouse, spouse_id = _person(rng, used_ids)
            members.append(
                NewMember(
                    name=spouse,
                    relation=Relation.SPOUSE,
                    id_number=spouse_id,
                    phone=_phone(phones),
                )
            )
        if size >= 3:
            child, child_id = _person(rng, used_ids, surname=name[0])
            members.append(NewMember(name=child, relation=Relation.CHILD, id_number=child_id))
        township = village.parent.name if village.parent else ""
        rows.append(
            NewHousehold(
                village_id=village.pk,
                head_name=name,
                id_number=number,
                phone=_phone(rng),
                address=f"{township}{village.name}{rng.randint(1, 12)}组{rng.randint(1, 99)}号",
                size=size,
                status=rng.choices(
                    [HouseholdStatus.ACTIVE, HouseholdStatus.AWAY, HouseholdStatus.UNABLE],
                    weights=[85, 10, 5],
                )[0],
                members=members,
            )
        )
    ids = households_bulk_create(
        actor_id=None,
        scheme=scheme,
        rows=rows,
        pin=DEMO_PIN,
        action=AuditAction.DEMO_HOUSEHOLDS,
        progress=lambda done, total: _batch_done(progress, done, total),
    )
    postings = _history(scheme, ids, rng, history if history is not None else min(len(ids), 3000))
    progress(f"积分记录：{postings} 笔")
    claims = _claims(scheme, demo_village, rng)
    progress(f"积分细则 {len(CATALOGUE)} 条；申报 {claims} 条（待审核、公示中）")
    helps = build_activities(scheme=scheme, township=townships["开通镇"], village=demo_village)
    progress(f"志愿活动 2 个（报名中）；邻里互助 {helps} 条（待确认、已确认）")
    redeemed = build_spending(
        scheme=scheme, township=townships["开通镇"], village=demo_village, rng=rng
    )
    progress(f"爱心超市 2 家、签约商家 1 家；柜台兑换 {redeemed} 笔，商家结算单 2 张")
    votes = build_honours(scheme=scheme, village=demo_village)
    progress(f"评比 2 个（已表彰、投票中），投票 {votes} 张")
    notes, complaints = build_village_life(scheme=scheme, village=demo_village)
    progress(f"村务信息 {notes} 条；投诉建议 {complaints} 条（已答复、处理中、待处理）")
    county_admin = actor_for_user(User.objects.get(username="county-admin"))
    lenders = build_credit(scheme=scheme, admin=county_admin)
    progress(
        f"文明积分贷：报告签名密钥 1 把，合作机构 {lenders} 家（接口密钥在“文明积分贷”页发放）"
    )
    chain_follow(scheme_id=scheme.pk)
    return DemoResult(scheme=scheme, households=len(ids), postings=postings, villages=len(villages))


def _claims(scheme: Scheme, village: Region, rng: random.Random) -> int:
    """The rule catalogue, and claims in the demo village's review queue and on its notice."""
    if not Rule.objects.filter(scheme=scheme).exists():
        load_catalogue(scheme=scheme)
    admin = actor_for_user(User.objects.get(username="village-admin"))
    grid = actor_for_user(User.objects.get(username="grid-worker"))
    homes = list(Household.objects.filter(scheme=scheme, village=village).order_by("pk")[:12])
    plan = [("B01", 120, "", ""), ("H01", 4, "", "邻居 王秀英"), ("P02", 1, "调解地界纠纷", "")]
    made = 0
    for index, household in enumerate(homes):
        code, quantity, note, witness = plan[index % len(plan)]
        claim = claim_submit(
            actor=grid,
            household=household,
            rule_id=Rule.objects.get(scheme=scheme, code=code, effective_to__isnull=True).pk,
            quantity=quantity,
            occurred_on=timezone.localdate() - dt.timedelta(days=rng.randint(0, 5)),
            note=note,
            witness=witness,
        )
        made += 1
        if index % 2 == 0:
            claim_approve(actor=admin, claim=claim)  # on the notice board
    return made


def _batch_done(progress: Callable[[str], None], done: int, total: int) -> None:
    # Under DEBUG Django keeps the text of every query; the bulk inserts are megabytes.
    reset_queries()
    progress(f"农户：{done}/{total}")


AWARDS = [
    ("志愿服务 3小时", 4500),
    ("美丽庭院", 70000),
    ("干净人家", 2000),
    ("农药瓶回收 120个", 12000),
    ("互助 帮邻居秋收 4小时", 6000),
    ("孝老爱亲 好媳妇", 10000),
]


def _history(scheme: Scheme, household_ids: list[int], rng: random.Random, count: int) -> int:
    """Awards for ``count`` households and a redemption at the village store for some."""
    issuance = system_account(scheme_id=scheme.pk, kind=AccountKind.ISSUANCE)
    store = system_account(scheme_id=scheme.pk, kind=AccountKind.STORE, owner_ref="store:demo")
    accounts = dict(
        Household.objects.filter(pk__in=household_ids[:count]).values_list("pk", "account")
    )
    by_id = Account.objects.in_bulk(list(accounts.values()))
    made = 0
    for index, household_id in enumerate(household_ids[:count]):
        account = by_id[accounts[household_id]]
        memo, amount = AWARDS[index % len(AWARDS)]
        if index == 0:
            memo, amount = "农药瓶回收 1,800,000 个（演示：全县积分最高户）", 1800000
        post(
            scheme_id=scheme.pk,
            kind=PostingKind.AWARD,
            legs=[Leg(issuance, -amount), Leg(account, amount)],
            memo=memo,
            idempotency_key=f"demo:award:{household_id}",
        )
        made += 1
        if rng.random() < 0.3:
            spend = min(amount, rng.choice((500, 1000, 2500, 4000)))
            post(
                scheme_id=scheme.pk,
                kind=PostingKind.REDEMPTION,
                legs=[Leg(account, -spend), Leg(store, spend)],
                memo="爱心超市兑换：洗衣粉、食用油",
                idempotency_key=f"demo:redeem:{household_id}",
            )
            made += 1
    return made
