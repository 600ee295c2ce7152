"""The rule catalogue: create (every field checked), change (a new version, the old one closed),
retire, the version in force at a time, and the rounding of quantity x rate. Each refusal
writes nothing; the database refuses what goes around the service."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.rules.catalogue import CATALOGUE, load_catalogue
from civicpoints.rules.models import Rounding, Rule
from civicpoints.rules.selectors import rule_in_force, rules_in_force
from civicpoints.rules.services import claim_points, rule_change, rule_create, rule_retire

TZ = dt.timezone(dt.timedelta(hours=8))
NOV1 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=TZ)
DEC1 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TZ)
GOOD: dict[str, Any] = {
    "code": "H01",
    "category": "互助",
    "name": "邻里互助（帮工）",
    "unit": "hour",
    "points_per_unit": 1500,
    "sign": "award",
}


def create(world, at: dt.datetime = NOV1, **changes: Any) -> Rule:
    return rule_create(actor_id=None, scheme=world.scheme, effective_from=at, **(GOOD | changes))


def test_a_rule_is_created_in_force_with_its_audit_row(world):
    rule = create(world, cap_day=8000)

    assert (rule.code, rule.points_per_unit, rule.cap_day, rule.effective_to) == (
        "H01",
        1500,
        8000,
        None,
    )
    assert list(rules_in_force(scheme_id=world.scheme.pk, at=NOV1)) == [rule]
    assert list(AuditEvent.objects.values_list("action", "object_id")) == [
        (AuditAction.RULE_CREATE.value, str(rule.pk))
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"code": " "}, "code", "细则编号不能为空"),
        ({"name": ""}, "name", "细则名称不能为空"),
        ({"category": "  "}, "category", "细则类别不能为空"),
        ({"unit": "mu"}, "unit", "单位无效"),
        ({"sign": "bonus"}, "sign", "请选择加分或扣分"),
        ({"points_per_unit": 0}, "points_per_unit", "每单位积分必须为正数"),
        ({"points_per_unit": "1500"}, "points_per_unit", "每单位积分必须为正数"),
        ({"points_per_unit": MAX_HUNDREDTHS + 1}, "points_per_unit", "每单位积分必须为正数"),
        ({"cap_month": -100}, "cap_month", "上限必须为正数"),
        ({"township_threshold": 0}, "township_threshold", "上限必须为正数"),
        ({"approval_level": "county"}, "approval_level", "审核级别无效"),
        ({"rounding": "up"}, "rounding", "取整方式无效"),
    ],
)
def test_each_bad_field_is_refused_and_nothing_is_written(world, changes, field, message):
    with pytest.raises(ApplicationError) as refused:
        create(world, **changes)

    assert (refused.value.code, refused.value.message) == (ErrorCode.INVALID_INPUT, message)
    assert refused.value.detail == {"field": field}
    assert (Rule.objects.count(), AuditEvent.objects.count()) == (0, 0)


def test_a_code_has_one_rule_in_force_per_scheme(world):
    first = create(world)

    with pytest.raises(ApplicationError) as refused:
        create(world, name="另一条")

    assert (refused.value.code, refused.value.message) == (
        ErrorCode.DUPLICATE,
        "该编号的细则已存在",
    )
    assert refused.value.detail == {"code": "H01"}
    assert list(Rule.objects.filter(scheme=world.scheme)) == [first]
    other = rule_create(actor_id=None, scheme=world.other_scheme, effective_from=NOV1, **GOOD)
    assert other.code == first.code


def test_a_change_closes_the_version_and_opens_the_next(world):
    rule = create(world)

    new = rule_change(actor_id=None, rule=rule, at=DEC1, points_per_unit=2000, cap_day=6000)

    rule.refresh_from_db()
    assert (rule.effective_to, new.effective_from, new.effective_to) == (DEC1, DEC1, None)
    assert (new.code, new.points_per_unit, new.cap_day, new.name) == (
        "H01",
        2000,
        6000,
        GOOD["name"],
    )
    # Any version's id names the rule; the time picks the version.
    before = DEC1 - dt.timedelta(minutes=1)
    assert rule_in_force(scheme_id=world.scheme.pk, rule_id=new.pk, at=before) == rule
    assert rule_in_force(scheme_id=world.scheme.pk, rule_id=rule.pk, at=DEC1) == new
    change = AuditEvent.objects.get(action=AuditAction.RULE_CHANGE)
    assert (change.object_id, change.detail) == (
        str(new.pk),
        {"previous": rule.pk, "changes": {"points_per_unit": "2000", "cap_day": "6000"}},
    )


def test_only_the_version_in_force_changes_and_only_editable_fields(world):
    rule = create(world)
    rule_change(actor_id=None, rule=rule, at=DEC1, points_per_unit=2000)
    rule.refresh_from_db()

    with pytest.raises(ApplicationError) as stale:
        rule_change(actor_id=None, rule=rule, at=DEC1 + dt.timedelta(days=1), name="旧版")
    with pytest.raises(ApplicationError) as locked:
        rule_change(actor_id=None, rule=rule, code="H02", scheme_id=world.other_scheme.pk)

    assert stale.value.message == "只能修改当前有效的细则"
    assert (locked.value.message, locked.value.detail) == (
        "不能修改这些字段",
        {"fields": ["code", "scheme_id"]},
    )
    assert Rule.objects.filter(code="H01").count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.RULE_CHANGE).count() == 1


def test_a_retired_rule_is_no_longer_in_force_and_retires_once(world):
    rule = create(world)

    rule_retire(actor_id=None, rule=rule, at=DEC1)

    assert list(rules_in_force(scheme_id=world.scheme.pk, at=DEC1)) == []
    assert list(rules_in_force(scheme_id=world.scheme.pk, at=NOV1)) == [rule]
    with pytest.raises(NotFound):
        rule_in_force(scheme_id=world.scheme.pk, rule_id=rule.pk, at=DEC1)
    with pytest.raises(ApplicationError) as again:
        rule_retire(actor_id=None, rule=rule, at=DEC1 + dt.timedelta(days=1))
    assert again.value.message == "该细则已停用"
    rule.refresh_from_db()
    assert rule.effective_to == DEC1
    assert AuditEvent.objects.filter(action=AuditAction.RULE_RETIRE).count() == 1


def test_a_rule_of_another_scheme_is_not_found(world):
    rule = create(world)

    for rule_id in (rule.pk, str(rule.pk), "x", None):
        with pytest.raises(NotFound):
            rule_in_force(scheme_id=world.other_scheme.pk, rule_id=rule_id, at=NOV1)


@pytest.mark.parametrize(
    ("rate", "quantity", "rounding", "points"),
    [
        (1500, Decimal("2.5"), Rounding.HALF_UP, 3750),  # 2.5 hours x 15 points
        (1500, Decimal("0.33"), Rounding.HALF_UP, 495),
        (1, Decimal("0.5"), Rounding.HALF_UP, 1),
        (1, Decimal("0.5"), Rounding.DOWN, 0),
        (333, Decimal("1.5"), Rounding.HALF_UP, 500),  # 499.5
        (333, Decimal("1.5"), Rounding.DOWN, 499),
    ],
)
def test_quantity_times_rate_is_rounded_by_the_rule(rate, quantity, rounding, points):
    rule = Rule(points_per_unit=rate, rounding=rounding)

    assert claim_points(rule=rule, quantity=quantity) == points


def test_the_database_refuses_what_goes_around_the_service(world):
    rule = create(world)

    with pytest.raises(IntegrityError), transaction.atomic():
        Rule.objects.filter(pk=rule.pk).update(points_per_unit=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rule.objects.create(scheme=world.scheme, effective_from=DEC1, **GOOD)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rule.objects.filter(pk=rule.pk).update(effective_to=NOV1)
    rule.refresh_from_db()
    assert (rule.points_per_unit, rule.effective_to, Rule.objects.count()) == (1500, None, 1)


def test_the_demo_standard_loads_whole_points_as_hundredths(world):
    rules = {r.code: r for r in load_catalogue(scheme=world.scheme)}

    assert len(rules) == len(CATALOGUE)
    volunteer = rules["V01"]
    assert (
        volunteer.unit,
        volunteer.points_per_unit,
        volunteer.cap_day,
        volunteer.needs_photo,
    ) == (
        "hour",
        1000,
        8000,
        True,
    )
    assert all(r.effective_to is None for r in rules.values())
