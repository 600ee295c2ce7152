"""A realistic points standard drawn from published village rules (used by the demo county).

Points are whole points here; ``load_catalogue`` converts them to hundredths.
"""

from __future__ import annotations

from typing import Any

from civicpoints.rules.models import ApprovalLevel, Rule, Sign, Unit
from civicpoints.rules.services import rule_create
from civicpoints.schemes.models import Scheme

A, D = Sign.AWARD, Sign.DEDUCTION

# code, category, name, unit, points, sign, caps (day, month, year), evidence, township above
CATALOGUE: list[tuple[Any, ...]] = [
    ("V01", "志愿服务", "志愿服务（按小时计）", Unit.HOUR, 10, A, (80, None, None), "photo", None),
    ("V02", "志愿服务", "参加村集体义务劳动", Unit.OCCURRENCE, 10, A, (10, None, None), "", None),
    ("E01", "人居环境", "美丽庭院", Unit.OCCURRENCE, 700, A, (None, None, 700), "photo", 200),
    ("E02", "人居环境", "干净人家", Unit.OCCURRENCE, 20, A, (None, 20, None), "photo", None),
    ("E03", "人居环境", "环境卫生整治", Unit.HOUR, 10, A, (40, None, None), "", None),
    ("F01", "孝老爱亲", "好媳妇", Unit.OCCURRENCE, 100, A, (None, None, 100), "note", None),
    ("F02", "孝老爱亲", "最美家庭", Unit.OCCURRENCE, 200, A, (None, None, 200), "note", 150),
    (
        "S01",
        "重视教育",
        "培育优秀人才（考入大学）",
        Unit.OCCURRENCE,
        200,
        A,
        (None, None, 400),
        "photo",
        150,
    ),
    (
        "C01",
        "移风易俗",
        "红白喜事简办、不大操大办",
        Unit.OCCURRENCE,
        50,
        A,
        (None, None, 100),
        "note",
        None,
    ),
    (
        "M01",
        "社会公德",
        "拾金不昧、见义勇为",
        Unit.OCCURRENCE,
        30,
        A,
        (None, None, None),
        "witness",
        None,
    ),
    (
        "R01",
        "勤劳致富",
        "庭院经济示范户",
        Unit.OCCURRENCE,
        100,
        A,
        (None, None, 100),
        "photo",
        None,
    ),
    ("P01", "平安建设", "抢险救灾", Unit.HOUR, 20, A, (160, None, None), "witness", None),
    ("P02", "平安建设", "调解邻里矛盾", Unit.OCCURRENCE, 20, A, (None, 60, None), "note", None),
    ("H01", "互助", "邻里互助（帮工）", Unit.HOUR, 15, A, (150, None, None), "witness", None),
    ("B01", "农药瓶回收", "回收农药瓶", Unit.BOTTLE, 1, A, (None, None, None), "", None),
    ("D01", "扣分", "违反村规民约", Unit.OCCURRENCE, 20, D, (None, None, None), "note", None),
    (
        "D02",
        "扣分",
        "乱堆乱放、乱倒垃圾",
        Unit.OCCURRENCE,
        10,
        D,
        (None, None, None),
        "photo",
        None,
    ),
    ("D03", "扣分", "大操大办红白喜事", Unit.OCCURRENCE, 50, D, (None, None, None), "note", None),
]


def _hundredths(points: int | None) -> int | None:
    return None if points is None else points * 100


def load_catalogue(*, scheme: Scheme, actor_id: int | None = None) -> list[Rule]:
    rules = []
    for code, category, name, unit, points, sign, caps, evidence, township in CATALOGUE:
        rules.append(
            rule_create(
                actor_id=actor_id,
                scheme=scheme,
                code=code,
                category=category,
                name=name,
                unit=unit,
                points_per_unit=points * 100,
                sign=sign,
                cap_day=_hundredths(caps[0]),
                cap_month=_hundredths(caps[1]),
                cap_year=_hundredths(caps[2]),
                needs_photo=evidence == "photo",
                needs_note=evidence == "note",
                needs_witness=evidence == "witness",
                approval_level=ApprovalLevel.TOWNSHIP if township else ApprovalLevel.VILLAGE,
                township_threshold=_hundredths(township),
            )
        )
    return rules
