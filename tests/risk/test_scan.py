"""The scan itself: idempotent, a closed flag stays closed, incremental, throttled, audited."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ops.scheduler import run_jobs_once
from civicpoints.risk.models import FlagStatus, RiskEvidence, RiskFlag, RiskRun, RiskSettings
from civicpoints.risk.services import (
    flag_dismiss,
    flag_note_add,
    flag_resolve,
    risk_scan,
    risk_settings_update,
)
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import World, make_household, make_staff
from tests.risk.conftest import approved_claim, code_guessing_row, make_rule, scan
from tests.risk.test_rules import Village

pytestmark = pytest.mark.django_db


def own_household_world(world: World) -> tuple[Village, object, object]:
    v = Village(world)
    home = make_household(world.scheme, world.village_a1, "李村长家", address="晓光村1号")
    v.admin.household = home
    v.admin.save(update_fields=["household"])
    return v, home, make_rule(world.scheme, "A1", 500)


def guessing(world: World, count: int = 20) -> None:
    code_guessing_row(scheme_id=world.scheme.pk, merchant_id=1, cashier_id=None, count=count)


def test_rerunning_the_scan_never_duplicates_a_flag(world: World) -> None:
    v, home, rule = own_household_world(world)
    approved_claim(proposer=v.grid_actor, approver=v.admin_actor, household=home, rule=rule)
    guessing(world)
    assert risk_scan(scheme_id=world.scheme.pk, force=True) == 2
    before = list(RiskEvidence.objects.order_by("pk").values_list("flag", "kind", "object_id"))

    assert risk_scan(scheme_id=world.scheme.pk, force=True) == 0
    RiskRun.objects.all().delete()  # even a full rescan from the start of history
    assert risk_scan(scheme_id=world.scheme.pk, force=True) == 0

    assert RiskFlag.objects.count() == 2
    assert list(RiskEvidence.objects.order_by("pk").values_list("flag", "kind", "object_id")) == (
        before
    )


def test_a_dismissed_flag_stays_dismissed_and_an_open_one_gains_new_rows(world: World) -> None:
    v, home, rule = own_household_world(world)
    other_rule = make_rule(world.scheme, "A2", 300)
    first = approved_claim(proposer=v.grid_actor, approver=v.admin_actor, household=home, rule=rule)
    [flag] = scan(world.scheme)
    auditor = actor_for_user(make_staff("auditor", Role.AUDITOR, world.county, world.scheme))

    second = approved_claim(
        proposer=v.grid_actor, approver=v.admin_actor, household=home, rule=other_rule
    )
    [flag] = scan(world.scheme)  # still one flag (same staff, household and month)
    claims = sorted(flag.evidence.filter(kind="claim").values_list("object_id", flat=True))
    assert claims == [first.pk, second.pk] and flag.detail["claims"] == 2

    flag_dismiss(actor=auditor, flag=flag, note="乡镇已复核，属实")
    third_rule = make_rule(world.scheme, "A3", 200)
    approved_claim(proposer=v.grid_actor, approver=v.admin_actor, household=home, rule=third_rule)
    [again] = scan(world.scheme)
    assert again.pk == flag.pk and again.status == FlagStatus.DISMISSED
    assert again.detail["claims"] == 2 and again.evidence.filter(kind="claim").count() == 2


def test_resolve_and_notes_are_audited_and_refused_without_reason_or_twice(world: World) -> None:
    guessing(world)
    [flag] = scan(world.scheme)
    county = make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme)
    actor = actor_for_user(county)
    with pytest.raises(ApplicationError) as caught:
        flag_resolve(actor=actor, flag=flag, note="   ")
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert RiskFlag.objects.get(pk=flag.pk).status == FlagStatus.OPEN

    flag_note_add(actor=actor, flag=flag, text="已电话询问商家")
    flag_resolve(actor=actor, flag=flag, note="收银员换岗，已停用该账号")
    with pytest.raises(ApplicationError) as caught:
        flag_dismiss(actor=actor, flag=flag, note="再排除一次")
    assert caught.value.code == ErrorCode.INVALID_TRANSITION
    flag.refresh_from_db()
    assert (flag.status, flag.closed_by_id) == (FlagStatus.RESOLVED, county.pk)
    assert list(flag.notes.values_list("action", "author")) == [
        ("note", county.pk),
        ("resolve", county.pk),
    ]
    assert list(
        AuditEvent.objects.filter(action__startswith="risk.").values_list("action", flat=True)
    ) == ["risk.note", "risk.resolve"]


def test_only_reviewers_in_scope_may_touch_a_flag(world: World) -> None:
    guessing(world)
    [flag] = scan(world.scheme)
    village = actor_for_user(make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme))
    other = actor_for_user(
        make_staff("other", Role.AUDITOR, world.other_county, world.other_scheme)
    )
    for actor in (village, other):
        with pytest.raises(ApplicationError) as caught:
            flag_dismiss(actor=actor, flag=flag, note="不是我的")
        assert caught.value.code == ErrorCode.PERMISSION_DENIED
    assert RiskFlag.objects.get(pk=flag.pk).status == FlagStatus.OPEN
    auditor = actor_for_user(make_staff("auditor", Role.AUDITOR, world.county, world.scheme))
    with pytest.raises(ApplicationError) as caught:
        risk_settings_update(actor=auditor, scheme=world.scheme, values={"scan_minutes": 5})
    assert caught.value.code == ErrorCode.PERMISSION_DENIED
    assert not RiskSettings.objects.exists()


def test_settings_out_of_range_are_refused(world: World) -> None:
    county = actor_for_user(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    for values in (
        {"assisted_share_pct": 0},
        {"split_min_claims": 1},
        {"nope": 3},
        {"round_unit": "5"},
    ):
        with pytest.raises(ApplicationError) as caught:
            risk_settings_update(actor=county, scheme=world.scheme, values=values)
        assert caught.value.code == ErrorCode.INVALID_INPUT
    assert not RiskSettings.objects.exists()
    risk_settings_update(actor=county, scheme=world.scheme, values={"assisted_share_pct": 50})
    assert RiskSettings.objects.get().assisted_share_pct == 50
    assert AuditEvent.objects.filter(action="risk.settings").count() == 1


def test_the_next_scan_reads_only_since_the_watermark_minus_the_look_back(world: World) -> None:
    county = actor_for_user(make_staff("xian", Role.COUNTY_ADMIN, world.county, world.scheme))
    risk_settings_update(actor=county, scheme=world.scheme, values={"lookback_days": 1})
    assert scan(world.scheme) == []
    old = AuditEvent.objects.create(
        scheme=world.scheme,
        action="merchant.code_guessing",
        detail={"merchant": 1, "cashier": 2, "count": 9},
    )
    # Written (say, restored from a backup) with a time before the last scan's look-back.
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    guessing(world)
    flags = scan(world.scheme)
    assert [f.detail["count"] for f in flags] == [20]  # the old row is outside the window
    RiskRun.objects.all().delete()
    assert sorted(f.detail["count"] for f in scan(world.scheme)) == [9, 20]  # a full scan


def test_the_scheduler_scans_each_scheme_at_most_once_per_interval(world: World) -> None:
    run_jobs_once()
    run = RiskRun.objects.get(scheme=world.scheme)
    guessing(world)
    run_jobs_once()  # within the hour: not scanned again
    assert RiskFlag.objects.count() == 0
    RiskRun.objects.filter(pk=run.pk).update(started_at=run.started_at - dt.timedelta(hours=2))
    run_jobs_once(timezone.now() + dt.timedelta(minutes=2))  # the scheduler's next minute
    assert RiskFlag.objects.count() == 1


def test_the_command_scans_now(world: World) -> None:
    guessing(world)
    out = StringIO()
    call_command("risk_scan", scheme=world.scheme.pk, stdout=out)
    assert "新风险提示 1 条" in out.getvalue()
    assert RiskFlag.objects.filter(scheme=world.scheme).count() == 1
