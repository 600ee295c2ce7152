"""The resident side of activities and mutual help, through the services and selectors:
self check-in by the activity's code under the door's rules, help recorded from either side
(the helper's claim exists only once both agree), and refusals that write nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from civicpoints.activities.models import (
    Activity,
    Attendance,
    Enrolment,
    EnrolmentStatus,
    MutualHelp,
    MutualHelpStatus,
)
from civicpoints.activities.selectors import (
    activities_upcoming,
    activity_by_code,
    mutual_help_waiting,
    neighbour_for,
    neighbours_of,
)
from civicpoints.activities.services import (
    activity_close,
    activity_enrol,
    activity_self_check_in,
    activity_self_check_out,
    mutual_help_confirm,
    mutual_help_record_received,
    mutual_help_reject,
    mutual_help_report,
)
from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services import claim_approve, notices_finalize
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import HouseholdStatus
from civicpoints.households.sms import MemoryBackend
from civicpoints.ledger.selectors import household_balance
from tests.activities.conftest import CREATED, Acts, at, build_acts
from tests.factories import make_household
from tests.ledger.helpers import assert_ledger_ok, run_in_threads

SIGN_UP = CREATED + dt.timedelta(days=1)
DAY = dt.date(2026, 11, 1)


def written() -> tuple[int, ...]:
    """What a refusal must leave unchanged."""
    return (
        MutualHelp.objects.count(),
        Claim.objects.count(),
        Attendance.objects.count(),
        Enrolment.objects.filter(status=EnrolmentStatus.ENROLLED).count(),
        AuditEvent.objects.count(),
    )


def refused(call, code: ErrorCode, message: str) -> None:
    before = written()
    with pytest.raises(ApplicationError) as info:
        call()
    assert (info.value.code, info.value.message) == (code, message)
    assert written() == before


# --- activities on the phone ----------------------------------------------------------------


def test_a_household_sees_its_village_and_township_activities_with_places_left(acts: Acts):
    home = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    ours = acts.activity(capacity=2, title="清理村道垃圾")
    township = acts.activity(region=acts.world.township_a, capacity=None, title="镇上义诊")
    acts.activity(region=acts.world.village_a2, title="新华村植树")  # a sibling village
    acts.activity(region=acts.world.township_b, title="兴隆山镇义诊")  # another township
    acts.activity(publish=False, title="草稿活动")
    other = make_household(acts.scheme, acts.world.village_a1)
    activity_enrol(activity=ours, household=other, at=SIGN_UP)
    activity_enrol(activity=township, household=home, at=SIGN_UP)

    rows = activities_upcoming(home, at=SIGN_UP)

    assert [(a.title, a.places_left, a.enrolment is not None) for a in rows] == [
        ("清理村道垃圾", 1, False),
        ("镇上义诊", None, True),
    ]
    # ... and once an activity has ended it is no longer offered
    assert activities_upcoming(home, at=at(17)) == []


def test_a_resident_checks_in_and_out_by_the_activitys_code(acts: Acts):
    activity = acts.activity()
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    activity_enrol(activity=activity, household=wang, at=SIGN_UP)
    typed = " " + activity.code[:6].lower() + " " + activity.code[6:] + "\n"

    came = activity_self_check_in(household=wang, code=typed, at=at(13, 50))
    left = activity_self_check_out(household=wang, code=activity.code, at=at(16, 10))

    assert (came.checked_in_at, came.checked_in_by_id, left.checked_out_at) == (
        at(13, 50),
        None,
        at(16, 10),
    )
    assert list(
        AuditEvent.objects.filter(action__startswith="activity.self").values_list(
            "action", "actor_id"
        )
    ) == [("activity.self_check_in", None), ("activity.self_check_out", None)]
    # The close turns it into a claim like any scan at the door: 14:00-16:10 -> 2 h -> 30 points
    result = activity_close(actor=acts.village_admin, activity=activity, at=at(17, 5))
    claim = Claim.objects.get(pk=result.created[0])
    assert (claim.household_id, claim.quantity, claim.points, claim.witness) == (
        wang.pk,
        Decimal("2.00"),
        3000,
        "活动签到记录",
    )


def test_self_check_in_keeps_the_doors_rules(acts: Acts):
    activity = acts.activity(capacity=1)
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    late = make_household(acts.scheme, acts.world.village_a1, "曾国涛")
    away = make_household(acts.scheme, acts.world.village_b1, "外村户")
    activity_enrol(activity=activity, household=wang, at=SIGN_UP)
    code = activity.code

    refused(
        lambda: activity_self_check_in(household=wang, code=code, at=at(12, 59)),
        ErrorCode.OUTSIDE_CHECKIN_WINDOW,
        "签到时间为 11月07日 13:00 至 17:00",
    )
    refused(
        lambda: activity_self_check_out(household=wang, code=code, at=at(14)),
        ErrorCode.NOT_CHECKED_IN,
        "王秀英 尚未签到，不能签退",
    )
    activity_self_check_in(household=wang, code=code, at=at(13, 55))
    refused(
        lambda: activity_self_check_in(household=wang, code=code, at=at(14)),
        ErrorCode.ALREADY_CHECKED_IN,
        "王秀英 已于 13:55 签到，请勿重复签到",
    )
    # The one place is taken: a walk-in is refused
    refused(
        lambda: activity_self_check_in(household=late, code=code, at=at(14)),
        ErrorCode.ACTIVITY_FULL,
        "「清理村道垃圾」1 个名额已满",
    )
    # Another township's household does not find the activity at all
    refused(
        lambda: activity_self_check_in(household=away, code=code, at=at(14)),
        ErrorCode.NOT_FOUND,
        "没有找到这个活动码，或这个活动不在您村的范围内",
    )
    refused(
        lambda: activity_self_check_in(household=wang, code="NOSUCHCODE12", at=at(14)),
        ErrorCode.NOT_FOUND,
        "没有找到这个活动码，或这个活动不在您村的范围内",
    )
    activity_self_check_out(household=wang, code=code, at=at(15))
    refused(
        lambda: activity_self_check_out(household=wang, code=code, at=at(15, 30)),
        ErrorCode.ALREADY_CHECKED_OUT,
        "王秀英 已于 15:00 签退",
    )


def test_a_walk_in_takes_a_free_place_and_a_closed_household_is_refused(acts: Acts):
    activity = acts.activity()
    walk_in = make_household(acts.scheme, acts.world.village_a1, "曾国涛")
    closed = make_household(
        acts.scheme, acts.world.village_a1, "已销户", status=HouseholdStatus.CLOSED
    )
    activity_self_check_in(household=walk_in, code=activity.code, at=at(14))
    enrolment = Enrolment.objects.get(household=walk_in)
    assert (enrolment.walk_in, enrolment.created_by_id, enrolment.status) == (
        True,
        None,
        EnrolmentStatus.ENROLLED,
    )
    refused(
        lambda: activity_self_check_in(household=closed, code=activity.code, at=at(14)),
        ErrorCode.HOUSEHOLD_CLOSED,
        "该户已注销",
    )


def test_an_activity_without_self_check_in_needs_the_staff_scan(acts: Acts):
    activity = acts.activity()
    Activity.objects.filter(pk=activity.pk).update(self_check_in=False)
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    refused(
        lambda: activity_self_check_in(household=wang, code=activity.code, at=at(14)),
        ErrorCode.PERMISSION_DENIED,
        "这个活动不能扫码自助签到，请到现场请工作人员扫您的积分卡",
    )


def test_an_activity_is_found_by_code_only_within_the_households_reach(acts: Acts):
    activity = acts.activity()
    wang = make_household(acts.scheme, acts.world.village_a1)
    sibling = make_household(acts.scheme, acts.world.village_a2)
    assert activity_by_code(wang, activity.code.lower()) == activity
    assert activity_by_code(sibling, activity.code) is None
    assert activity_by_code(wang, "") is None
    assert activity_by_code(wang, "X" * 40) is None


# --- mutual help from both sides ------------------------------------------------------------


def test_help_given_on_the_phone_waits_for_the_helped_household(
    acts: Acts, django_capture_on_commit_callbacks
):
    MemoryBackend.outbox.clear()
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英", phone="13912345678")

    # Given the helper household records 3 hours of help given (no staff involved)
    with django_capture_on_commit_callbacks(execute=True):
        row = mutual_help_report(
            helper=helper, helped=helped, hours="3", occurred_on=DAY, note="帮忙收玉米", at=CREATED
        )

    # Then nothing can be approved yet, and the helped household is asked to confirm
    assert (row.status, row.claim_id, row.reported_by_id, row.reported_by_helped) == (
        MutualHelpStatus.PENDING,
        None,
        None,
        False,
    )
    assert Claim.objects.count() == 0
    assert list(mutual_help_waiting(helped)) == [row]
    assert list(mutual_help_waiting(helper)) == []
    assert MemoryBackend.outbox == [
        ("13912345678", "【文明积分】李德福 登记了 11月1日 帮助您 3 小时，请在手机上确认。")
    ]

    # When the helped household confirms, the helper's claim is made
    confirmed = mutual_help_confirm(help_row=row, household=helped, at=CREATED)
    assert (confirmed.claim.household_id, confirmed.claim.points, confirmed.claim.witness) == (
        helper.pk,
        4500,
        "受助户 王秀英 确认",
    )
    assert list(mutual_help_waiting(helped)) == []


def test_help_received_recorded_by_the_helped_household_is_confirmed_at_once(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")

    row = mutual_help_record_received(
        helped=helped, helper=helper, hours="2.5", occurred_on=DAY, note="送我去医院", at=CREATED
    )

    row.refresh_from_db()
    claim = row.claim
    assert (row.status, row.reported_by_helped, row.decided_by_helped, row.decided_at) == (
        MutualHelpStatus.CONFIRMED,
        True,
        True,
        CREATED,
    )
    assert (
        claim.household_id,
        claim.quantity,
        claim.points,
        claim.status,
        claim.source,
        claim.witness,
        claim.note,
        claim.origin_ref,
    ) == (
        helper.pk,
        Decimal("2.50"),
        3750,
        ClaimStatus.SUBMITTED,
        ClaimSource.MUTUAL_HELP,
        "受助户 王秀英 登记",
        "邻里互助：帮助 王秀英 2.5 小时。送我去医院",
        f"mutual_help:{row.pk}",
    )
    assert AuditEvent.objects.filter(action="mutual_help.record_received").count() == 1
    # Nothing waits for anyone, and the helped side cannot take its word back
    assert list(mutual_help_waiting(helped)) == []
    refused(
        lambda: mutual_help_reject(help_row=row, household=helped, reason="记错了"),
        ErrorCode.INVALID_TRANSITION,
        "这条互助已确认，不能再表示不属实",
    )
    # After review and notice the helper is paid 2.5 x 15 points
    claim_approve(actor=acts.village_admin, claim=claim, at=CREATED)
    notices_finalize(at=CREATED + dt.timedelta(days=3))
    assert household_balance(household_id=helper.pk).balance == 3750
    assert household_balance(household_id=helped.pk).balance == 0
    assert_ledger_ok(acts.scheme.pk)


RECORD_REFUSALS = [
    ("self", "3", DAY, ErrorCode.INVALID_INPUT, "帮助户和受助户不能是同一户"),
    ("other_village", "3", DAY, ErrorCode.INVALID_INPUT, "只能登记本村农户之间的互助"),
    ("closed", "3", DAY, ErrorCode.HOUSEHOLD_CLOSED, "已销户 户已注销，不能登记互助"),
    ("neighbour", "0", DAY, ErrorCode.INVALID_INPUT, "数量必须大于0"),
    ("neighbour", "-2", DAY, ErrorCode.INVALID_INPUT, "数量必须大于0"),
    ("neighbour", "24.5", DAY, ErrorCode.INVALID_INPUT, "一次互助不超过24小时"),
    ("neighbour", "三", DAY, ErrorCode.INVALID_INPUT, "数量必须是数字"),
    ("neighbour", "3", dt.date(2026, 11, 3), ErrorCode.INVALID_INPUT, "日期不能晚于今天"),
    ("neighbour", "3", dt.date(2025, 10, 1), ErrorCode.INVALID_INPUT, "日期不能早于一年前"),
]


@pytest.mark.parametrize("side", ["gave", "received"])
@pytest.mark.parametrize(("other", "hours", "day", "code", "message"), RECORD_REFUSALS)
def test_bad_records_of_help_are_refused_with_nothing_written(
    acts: Acts, side, other, hours, day, code, message
):
    me = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    others = {
        "self": me,
        "other_village": make_household(acts.scheme, acts.world.village_a2, "新华村户"),
        "closed": make_household(
            acts.scheme, acts.world.village_a1, "已销户", status=HouseholdStatus.CLOSED
        ),
        "neighbour": make_household(acts.scheme, acts.world.village_a1, "李德福"),
    }
    if side == "gave":
        call = lambda: mutual_help_report(  # noqa: E731
            helper=me, helped=others[other], hours=hours, occurred_on=day, at=CREATED
        )
    else:
        call = lambda: mutual_help_record_received(  # noqa: E731
            helped=me, helper=others[other], hours=hours, occurred_on=day, at=CREATED
        )
    refused(call, code, message)


def test_only_the_helped_household_answers_and_only_once(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    stranger = make_household(acts.scheme, acts.world.village_a1, "曾国涛")
    row = mutual_help_report(helper=helper, helped=helped, hours=3, occurred_on=DAY, at=CREATED)

    # The helper cannot confirm or dispute its own report; a third household does not see it
    for call in (
        lambda: mutual_help_confirm(help_row=row, household=helper, at=CREATED),
        lambda: mutual_help_reject(help_row=row, household=helper, reason="x", at=CREATED),
    ):
        refused(call, ErrorCode.SAME_APPROVER, "您是帮助的一方，不能自己确认，须由受助户确认")
    refused(
        lambda: mutual_help_confirm(help_row=row, household=stranger, at=CREATED),
        ErrorCode.NOT_FOUND,
        "未找到",
    )
    # A dispute needs a reason
    refused(
        lambda: mutual_help_reject(help_row=row, household=helped, reason="  ", at=CREATED),
        ErrorCode.INVALID_INPUT,
        "不能为空",
    )
    mutual_help_reject(help_row=row, household=helped, reason="那天他没来", at=CREATED)
    refused(
        lambda: mutual_help_confirm(help_row=row, household=helped, at=CREATED),
        ErrorCode.INVALID_TRANSITION,
        "受助户已表示不属实，这条互助不能再确认",
    )
    refused(
        lambda: mutual_help_reject(help_row=row, household=helped, reason="再说一次", at=CREATED),
        ErrorCode.INVALID_TRANSITION,
        "这条互助已表示过不属实",
    )
    row.refresh_from_db()
    assert (row.status, row.reason, row.claim_id, row.decided_by_helped) == (
        MutualHelpStatus.REJECTED,
        "那天他没来",
        None,
        True,
    )


def test_a_grid_worker_confirms_for_a_household_without_a_phone(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    row = mutual_help_report(helper=helper, helped=helped, hours=4, occurred_on=DAY, at=CREATED)
    confirmed = mutual_help_confirm(help_row=row, actor=acts.grid_worker, at=CREATED)
    assert (confirmed.claim.points, confirmed.claim.witness, confirmed.decided_by_helped) == (
        6000,
        "受助户 王秀英（网格员李明 核实）",
        False,
    )


def test_neighbours_are_the_other_open_households_of_the_village(acts: Acts):
    me = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    li = make_household(acts.scheme, acts.world.village_a1, "李德福")
    make_household(acts.scheme, acts.world.village_a1, "已销户", status=HouseholdStatus.CLOSED)
    away = make_household(acts.scheme, acts.world.village_a2, "新华村户")
    assert list(neighbours_of(me)) == [li]
    assert neighbour_for(me, household_id=str(li.pk)) == li
    assert neighbour_for(me, card_code=f" {li.card_code.lower()} ") == li
    for kwargs, message in [
        ({"household_id": away.pk}, "请从本村农户中选择"),
        ({"household_id": "abc"}, "请选择对方户主，或输入对方的积分卡号"),
        ({}, "请选择对方户主，或输入对方的积分卡号"),
        ({"card_code": away.card_code}, "没有找到这个卡号，或对方不是本村农户"),
    ]:
        with pytest.raises(ApplicationError) as info:
            neighbour_for(me, **kwargs)
        assert info.value.message == message


# --- races: a double tap, or two phones of one household -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_tapped_on_two_phones_at_once_makes_one_claim():
    acts = build_acts()
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    row = mutual_help_report(helper=helper, helped=helped, hours=3, occurred_on=DAY, at=CREATED)

    outcomes = run_in_threads(
        6, lambda i: mutual_help_confirm(help_row=row, household=helped, at=CREATED).claim_id
    )

    assert [o.error for o in outcomes] == [None] * 6
    claim = Claim.objects.get()
    assert {o.value for o in outcomes} == {claim.pk}
    assert AuditEvent.objects.filter(action="mutual_help.confirm").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_self_check_in_tapped_twice_at_once_checks_in_once():
    acts = build_acts()
    activity = acts.activity()
    household = make_household(acts.scheme, acts.world.village_a1, "王秀英")

    outcomes = run_in_threads(
        4,
        lambda i: activity_self_check_in(household=household, code=activity.code, at=at(14)).pk,
    )

    errors = sorted(str(o.error.code) for o in outcomes if o.error is not None)
    assert errors == [ErrorCode.ALREADY_CHECKED_IN] * 3
    assert Attendance.objects.filter(activity=activity).count() == 1
    assert Enrolment.objects.filter(activity=activity, walk_in=True).count() == 1


def test_the_same_help_is_recorded_once_from_either_side(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    mutual_help_report(helper=helper, helped=helped, hours="3", occurred_on=DAY, at=CREATED)
    message = "李德福 户在这一天帮助 王秀英 户的互助已经登记过了"

    # A second tap on the helper's phone, and the helped side recording the same help, pay once
    refused(
        lambda: mutual_help_report(
            helper=helper, helped=helped, hours="3", occurred_on=DAY, at=CREATED
        ),
        ErrorCode.DUPLICATE_CLAIM,
        message,
    )
    refused(
        lambda: mutual_help_record_received(
            helped=helped, helper=helper, hours="3", occurred_on=DAY, at=CREATED
        ),
        ErrorCode.DUPLICATE_CLAIM,
        message,
    )
    # Another day is other help; the other direction is other help.
    mutual_help_report(
        helper=helper, helped=helped, hours="1", occurred_on=DAY - dt.timedelta(days=1), at=CREATED
    )
    mutual_help_record_received(
        helped=helper, helper=helped, hours="1", occurred_on=DAY, at=CREATED
    )
    assert MutualHelp.objects.count() == 3


def test_a_household_is_asked_to_confirm_by_text_at_most_once_a_day(
    acts: Acts, django_capture_on_commit_callbacks
):
    MemoryBackend.outbox.clear()
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英", phone="13912345678")
    with django_capture_on_commit_callbacks(execute=True):
        for n, name in enumerate(["李德福", "张大山", "赵小红"]):
            helper = make_household(acts.scheme, acts.world.village_a1, name)
            mutual_help_report(
                helper=helper,
                helped=helped,
                hours="1",
                occurred_on=DAY - dt.timedelta(days=n),
                at=CREATED,
            )
    assert len(MemoryBackend.outbox) == 1
    assert mutual_help_waiting(helped).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_same_help_recorded_on_two_phones_at_once_is_recorded_once():
    acts = build_acts()
    helper = make_household(acts.scheme, acts.world.village_a1, "李德福")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")

    outcomes = run_in_threads(
        6,
        lambda i: (
            mutual_help_record_received(
                helped=helped, helper=helper, hours="3", occurred_on=DAY, at=CREATED
            ).pk
        ),
    )

    errors = [str(o.error.code) for o in outcomes if o.error is not None]
    assert errors == [ErrorCode.DUPLICATE_CLAIM] * 5
    assert MutualHelp.objects.filter(helper=helper, helped=helped).count() == 1
    assert Claim.objects.filter(household=helper).count() == 1
