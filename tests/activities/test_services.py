"""Activities and mutual help through the services: exact numbers, refusals that change
nothing, claims that post only after review and notice, and races on the real databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail  # noqa: F401  (keeps Django's test mail outbox set up)

from civicpoints.activities.models import (
    ActivityStatus,
    Attendance,
    Enrolment,
    EnrolmentStatus,
    MutualHelp,
    MutualHelpStatus,
)
from civicpoints.activities.selectors import activities_visible, activity_for, mutual_help_for
from civicpoints.activities.services import (
    activity_cancel,
    activity_check_in,
    activity_check_out,
    activity_close,
    activity_enrol,
    activity_enrolment_cancel,
    activity_publish,
    attendance_close_checkout,
    mutual_help_confirm,
    mutual_help_reject,
    mutual_help_report,
)
from civicpoints.activities.services.hours import credited_hours
from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import Claim, ClaimSource, ClaimStatus
from civicpoints.awards.services import claim_approve, notices_finalize
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.sms import MemoryBackend
from civicpoints.ledger.selectors import household_balance
from civicpoints.rules.models import Rounding
from tests.activities.conftest import CREATED, END, START, Acts, at, build_acts
from tests.factories import make_household
from tests.ledger.helpers import Outcome, assert_ledger_ok, run_in_threads

SIGN_UP = CREATED + dt.timedelta(days=1)


def refused(call, code: ErrorCode) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value


def codes(outcomes: list[Outcome]) -> list[str]:
    result = []
    for outcome in outcomes:
        if outcome.error is None:
            result.append("ok")
        elif isinstance(outcome.error, ApplicationError):
            result.append(str(outcome.error.code))
        else:
            raise outcome.error
    return result


# --- publish and enrol ----------------------------------------------------------------------


def test_a_draft_is_published_then_takes_sign_ups_up_to_its_capacity(acts: Acts):
    # Given a draft activity with two places
    activity = acts.activity(capacity=2, publish=False)
    first, second, third = (make_household(acts.scheme, acts.world.village_a1) for _ in range(3))
    assert (activity.status, len(activity.code)) == (ActivityStatus.DRAFT, 12)
    refused(
        lambda: activity_enrol(
            activity=activity, household=first, actor=acts.grid_worker, at=SIGN_UP
        ),
        ErrorCode.ACTIVITY_NOT_OPEN,
    )

    # When it is published, two households sign up (one through staff, one by itself)
    activity_publish(actor=acts.village_admin, activity=activity)
    activity_enrol(activity=activity, household=first, actor=acts.grid_worker, at=SIGN_UP)
    activity_enrol(activity=activity, household=second, at=SIGN_UP)

    # Then the third is refused, naming the limit, and nothing is written
    audit_before = AuditEvent.objects.count()
    error = refused(
        lambda: activity_enrol(
            activity=activity, household=third, actor=acts.grid_worker, at=SIGN_UP
        ),
        ErrorCode.ACTIVITY_FULL,
    )
    assert error.message == "「清理村道垃圾」2 个名额已满"
    assert error.detail == {"capacity": 2, "enrolled": 2}
    assert Enrolment.objects.filter(activity=activity).count() == 2
    assert AuditEvent.objects.count() == audit_before

    # A household that signs up twice is told so; one that gives its place back frees it
    refused(
        lambda: activity_enrol(
            activity=activity, household=second, actor=acts.grid_worker, at=SIGN_UP
        ),
        ErrorCode.DUPLICATE,
    )
    activity_enrolment_cancel(enrolment=Enrolment.objects.get(household=first), household=first)
    taken = activity_enrol(activity=activity, household=third, actor=acts.grid_worker, at=SIGN_UP)
    assert taken.status == EnrolmentStatus.ENROLLED
    assert sorted(
        Enrolment.objects.filter(activity=activity).values_list("household_id", "status")
    ) == sorted(
        [
            (first.pk, EnrolmentStatus.CANCELLED),
            (second.pk, EnrolmentStatus.ENROLLED),
            (third.pk, EnrolmentStatus.ENROLLED),
        ]
    )


def test_only_households_under_the_activity_region_may_enrol(acts: Acts):
    activity = acts.activity()
    outsider = make_household(acts.scheme, acts.world.village_a2)
    refused(
        lambda: activity_enrol(
            activity=activity, household=outsider, actor=acts.county_admin, at=SIGN_UP
        ),
        ErrorCode.NOT_FOUND,
    )
    # and a grid worker enrols only households of their own village
    refused(
        lambda: activity_enrol(
            activity=activity, household=outsider, actor=acts.grid_worker_a2, at=SIGN_UP
        ),
        ErrorCode.NOT_FOUND,
    )
    assert Enrolment.objects.count() == 0


def test_a_township_activity_is_open_to_its_villages_and_seen_by_their_staff(acts: Acts):
    activity = acts.activity(region=acts.world.township_a, title="全镇植树")
    a2 = make_household(acts.scheme, acts.world.village_a2, "新华村户")
    assert activity_for(acts.grid_worker, activity.pk) == activity
    assert list(activities_visible(acts.grid_worker_a2)) == [activity]
    # the grid worker of 晓光村 checks in a household of 新华村 at the township's event
    attendance = activity_check_in(
        actor=acts.grid_worker, activity=activity, code=a2.card_code, at=at(13, 50)
    )
    assert attendance.household_id == a2.pk
    # another township's staff and counter clerks do not see it at all
    for actor in (acts.grid_worker_b1, acts.village_admin_b, acts.store_clerk):
        with pytest.raises(ApplicationError) as info:
            activity_for(actor, activity.pk)
        assert info.value.code == ErrorCode.NOT_FOUND
        assert list(activities_visible(actor)) == []


def test_staff_of_another_village_get_not_found_and_cannot_scan(acts: Acts):
    activity = acts.activity()
    household = make_household(acts.scheme, acts.world.village_a1)
    with pytest.raises(ApplicationError) as info:
        activity_for(acts.grid_worker_a2, activity.pk)
    assert info.value.code == ErrorCode.NOT_FOUND
    refused(
        lambda: activity_check_in(
            actor=acts.grid_worker_a2, activity=activity, code=household.card_code, at=at(14)
        ),
        ErrorCode.PERMISSION_DENIED,
    )
    refused(
        lambda: activity_close(actor=acts.grid_worker, activity=activity, at=at(18)),
        ErrorCode.PERMISSION_DENIED,
    )
    assert Attendance.objects.count() == 0


# --- check-in and check-out -----------------------------------------------------------------


def test_check_in_and_out_by_the_scanned_card_code(acts: Acts):
    activity = acts.activity()
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    activity_enrol(activity=activity, household=wang, actor=acts.grid_worker, at=SIGN_UP)

    # A USB scanner types the code with a newline; a hand-typed code may be lower case
    scanned = f"  {wang.card_code.lower()}\r\n"
    attendance = activity_check_in(
        actor=acts.grid_worker, activity=activity, code=scanned, at=at(13, 55)
    )
    assert (attendance.household_id, attendance.checked_in_at, attendance.checked_out_at) == (
        wang.pk,
        at(13, 55),
        None,
    )

    # A second scan is refused with the time of the first
    error = refused(
        lambda: activity_check_in(
            actor=acts.grid_worker, activity=activity, code=wang.card_code, at=at(14, 5)
        ),
        ErrorCode.ALREADY_CHECKED_IN,
    )
    assert error.message == "王秀英 已于 13:55 签到，请勿重复签到"
    assert Attendance.objects.count() == 1

    out = activity_check_out(
        actor=acts.village_admin, activity=activity, code=wang.card_code, at=at(16, 40)
    )
    assert out.checked_out_at == at(16, 40)
    assert credited_hours(activity, out.checked_in_at, at(16, 40)) == Decimal("2.50")
    error = refused(
        lambda: activity_check_out(
            actor=acts.grid_worker, activity=activity, code=wang.card_code, at=at(16, 41)
        ),
        ErrorCode.ALREADY_CHECKED_OUT,
    )
    assert error.message == "王秀英 已于 16:40 签退"
    refused(
        lambda: activity_check_in(
            actor=acts.grid_worker, activity=activity, code=wang.card_code, at=at(16, 45)
        ),
        ErrorCode.ALREADY_CHECKED_OUT,
    )


def test_check_out_needs_a_check_in_and_unknown_cards_are_not_found(acts: Acts):
    activity = acts.activity()
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    outsider = make_household(acts.scheme, acts.world.village_b1)
    error = refused(
        lambda: activity_check_out(
            actor=acts.grid_worker, activity=activity, code=wang.card_code, at=at(15)
        ),
        ErrorCode.NOT_CHECKED_IN,
    )
    assert error.message == "王秀英 尚未签到，不能签退"
    for code in ("NOSUCHCARD", outsider.card_code, "", "x" * 500):
        error = refused(
            lambda code=code: activity_check_in(
                actor=acts.grid_worker, activity=activity, code=code, at=at(15)
            ),
            ErrorCode.NOT_FOUND,
        )
        assert error.message == "未找到该卡号，或该户不在本活动范围内"
    assert Attendance.objects.count() == 0


def test_check_in_opens_an_hour_before_the_start_and_closes_at_the_end(acts: Acts):
    activity = acts.activity()
    early, on_time, late = (make_household(acts.scheme, acts.world.village_a1) for _ in range(3))
    error = refused(
        lambda: activity_check_in(
            actor=acts.grid_worker, activity=activity, code=early.card_code, at=at(12, 59)
        ),
        ErrorCode.OUTSIDE_CHECKIN_WINDOW,
    )
    assert error.message == "签到时间为 11月07日 13:00 至 17:00"
    activity_check_in(actor=acts.grid_worker, activity=activity, code=on_time.card_code, at=at(13))
    activity_check_in(actor=acts.grid_worker, activity=activity, code=early.card_code, at=END)
    refused(
        lambda: activity_check_in(
            actor=acts.grid_worker,
            activity=activity,
            code=late.card_code,
            at=END + dt.timedelta(seconds=1),
        ),
        ErrorCode.OUTSIDE_CHECKIN_WINDOW,
    )
    assert Attendance.objects.count() == 2


def test_a_walk_in_takes_a_place_if_one_is_left(acts: Acts):
    activity = acts.activity(capacity=1)
    walk_in, too_many = (make_household(acts.scheme, acts.world.village_a1) for _ in range(2))
    activity_check_in(actor=acts.grid_worker, activity=activity, code=walk_in.card_code, at=at(14))
    enrolment = Enrolment.objects.get(activity=activity)
    assert (enrolment.household_id, enrolment.walk_in, enrolment.created_by_id) == (
        walk_in.pk,
        True,
        acts.grid_worker.user_id,
    )
    refused(
        lambda: activity_check_in(
            actor=acts.grid_worker, activity=activity, code=too_many.card_code, at=at(14)
        ),
        ErrorCode.ACTIVITY_FULL,
    )
    assert Attendance.objects.count() == 1


# --- close: attendance becomes claims -------------------------------------------------------


def test_closing_turns_hours_into_claims_that_post_only_after_review_and_notice(
    acts: Acts, django_capture_on_commit_callbacks
):
    MemoryBackend.outbox.clear()
    activity = acts.activity()
    wang = make_household(acts.scheme, acts.world.village_a1, "王秀英", phone="13912345678")
    zeng = make_household(acts.scheme, acts.world.village_a1, "曾国涛", phone="13812345678")
    activity_enrol(activity=activity, household=wang, actor=acts.grid_worker, at=SIGN_UP)

    # 王秀英: 13:30 to 16:35 counts from 14:00: 2 h 35 min, down to half hours: 2.5 h
    activity_check_in(actor=acts.grid_worker, activity=activity, code=wang.card_code, at=at(13, 30))
    activity_check_out(
        actor=acts.grid_worker, activity=activity, code=wang.card_code, at=at(16, 35)
    )
    # 曾国涛 walks in at 13:58 and forgets to check out
    activity_check_in(actor=acts.grid_worker, activity=activity, code=zeng.card_code, at=at(13, 58))

    # Closing with someone still checked in is refused, and nothing changes
    error = refused(
        lambda: activity_close(actor=acts.village_admin, activity=activity, at=at(17, 30)),
        ErrorCode.OPEN_ATTENDANCE,
    )
    assert error.message == "还有 1 户未签退（曾国涛），请先签退或由工作人员补签退"
    activity.refresh_from_db()
    assert (activity.status, Claim.objects.count()) == (ActivityStatus.PUBLISHED, 0)

    # The grid worker closes the forgotten check-out with a reason (at the activity's end)
    forgotten = Attendance.objects.get(household=zeng)
    refused(
        lambda: attendance_close_checkout(
            actor=acts.grid_worker, attendance=forgotten, reason="  ", at=at(17, 20)
        ),
        ErrorCode.INVALID_INPUT,
    )
    closed = attendance_close_checkout(
        actor=acts.grid_worker,
        attendance=forgotten,
        reason="活动结束时一起离开，忘记签退",
        at=at(17, 20),
    )
    assert (closed.checked_out_at, closed.closed_by_staff, closed.close_reason) == (
        END,
        True,
        "活动结束时一起离开，忘记签退",
    )
    event = AuditEvent.objects.filter(action="activity.close_checkout").get()
    assert (event.actor_id, event.detail["reason"]) == (
        acts.grid_worker.user_id,
        "活动结束时一起离开，忘记签退",
    )

    # When the village admin closes the activity
    result = activity_close(actor=acts.village_admin, activity=activity, at=at(17, 30))

    # Then each attendance is one submitted claim: hours x 15 points
    claims = {c.household_id: c for c in Claim.objects.filter(pk__in=result.created)}
    assert (len(result.created), result.skipped, result.earlier) == (2, [], 0)
    got = {
        hid: (c.quantity, c.points, c.status, c.source, c.origin_ref, c.occurred_on)
        for hid, c in claims.items()
    }
    assert got == {
        wang.pk: (
            Decimal("2.50"),
            3750,
            ClaimStatus.SUBMITTED,
            ClaimSource.ACTIVITY,
            f"activity:{activity.pk}",
            dt.date(2026, 11, 7),
        ),
        zeng.pk: (
            Decimal("3.00"),
            4500,
            ClaimStatus.SUBMITTED,
            ClaimSource.ACTIVITY,
            f"activity:{activity.pk}",
            dt.date(2026, 11, 7),
        ),
    }
    assert claims[wang.pk].note == "志愿活动「清理村道垃圾」2.5 小时"
    assert claims[wang.pk].witness == "签到员 网格员李明"
    assert sorted(Attendance.objects.values_list("household_id", "hours", "claim_id")) == sorted(
        [
            (wang.pk, Decimal("2.50"), claims[wang.pk].pk),
            (zeng.pk, Decimal("3.00"), claims[zeng.pk].pk),
        ]
    )
    activity.refresh_from_db()
    assert (activity.status, activity.closed_at) == (ActivityStatus.CLOSED, at(17, 30))

    # Closing again creates nothing twice
    again = activity_close(actor=acts.county_admin, activity=activity, at=at(18))
    assert (again.created, again.skipped, again.earlier) == ([], [], 2)
    assert Claim.objects.count() == 2

    # Nothing is posted until review and the end of notice
    assert household_balance(household_id=wang.pk).balance == 0
    for claim in claims.values():
        claim_approve(actor=acts.village_admin, claim=claim, at=at(9, day=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_finalize(at=at(8, 59, day=11)).count == 0
        assert notices_finalize(at=at(9, day=11)).count == 2
        assert notices_finalize(at=at(9, day=12)).count == 0
    assert household_balance(household_id=wang.pk).balance == 3750
    assert household_balance(household_id=zeng.pk).balance == 4500
    assert sorted(MemoryBackend.outbox) == [
        ("13812345678", "【文明积分】您家「邻里互助（帮工）」45 分已公示期满入账。"),
        ("13912345678", "【文明积分】您家「邻里互助（帮工）」37.5 分已公示期满入账。"),
    ]
    assert_ledger_ok(acts.scheme.pk)


def test_the_per_activity_cap_limits_each_claim(acts: Acts):
    activity = acts.activity(per_activity_cap=3000)  # 30 points
    household = make_household(acts.scheme, acts.world.village_a1)
    activity_check_in(
        actor=acts.grid_worker, activity=activity, code=household.card_code, at=at(14)
    )
    activity_check_out(actor=acts.grid_worker, activity=activity, code=household.card_code, at=END)
    result = activity_close(actor=acts.village_admin, activity=activity, at=at(17, 5))
    claim = Claim.objects.get(pk=result.created[0])
    assert (claim.quantity, claim.points) == (Decimal("2.00"), 3000)
    assert claim.note == "志愿活动「清理村道垃圾」3 小时（已按本次活动上限计）"
    assert Attendance.objects.get().hours == Decimal("3.00")


def test_too_short_an_attendance_makes_no_claim(acts: Acts):
    activity = acts.activity()
    household = make_household(acts.scheme, acts.world.village_a1)
    activity_check_in(
        actor=acts.grid_worker, activity=activity, code=household.card_code, at=at(13)
    )
    activity_check_out(
        actor=acts.grid_worker, activity=activity, code=household.card_code, at=at(14, 20)
    )
    result = activity_close(actor=acts.village_admin, activity=activity, at=at(17, 5))
    assert (result.created, [s["problem"] for s in result.skipped]) == (
        [],
        ["在活动时间内不足一个计时单位"],
    )
    assert (Claim.objects.count(), Attendance.objects.get().hours) == (0, Decimal("0.00"))


@pytest.mark.parametrize(
    ("minutes", "step", "rounding", "hours"),
    [
        (155, 30, Rounding.DOWN, "2.50"),
        (165, 30, Rounding.DOWN, "2.50"),
        (165, 30, Rounding.HALF_UP, "3.00"),
        (164, 30, Rounding.HALF_UP, "2.50"),
        (155, 15, Rounding.DOWN, "2.50"),
        (170, 15, Rounding.DOWN, "2.75"),
        (170, 60, Rounding.DOWN, "2.00"),
        (100, 1, Rounding.DOWN, "1.66"),
        (0, 30, Rounding.DOWN, "0.00"),
    ],
)
def test_hours_are_rounded_by_the_activity(acts: Acts, minutes, step, rounding, hours):
    activity = acts.activity(rounding_minutes=step, rounding=rounding)
    out = START + dt.timedelta(minutes=minutes)
    assert credited_hours(activity, START - dt.timedelta(minutes=30), out) == Decimal(hours)


def test_a_cancelled_activity_takes_no_scans_and_cannot_be_closed(acts: Acts):
    activity = acts.activity()
    household = make_household(acts.scheme, acts.world.village_a1)
    refused(
        lambda: activity_cancel(actor=acts.village_admin, activity=activity, reason=""),
        ErrorCode.INVALID_INPUT,
    )
    activity_cancel(actor=acts.village_admin, activity=activity, reason="大风降温，改期")
    refused(
        lambda: activity_check_in(
            actor=acts.grid_worker, activity=activity, code=household.card_code, at=at(14)
        ),
        ErrorCode.ACTIVITY_NOT_OPEN,
    )
    refused(
        lambda: activity_close(actor=acts.village_admin, activity=activity, at=at(18)),
        ErrorCode.ACTIVITY_NOT_OPEN,
    )


# --- mutual help ----------------------------------------------------------------------------


def test_ten_hours_of_confirmed_mutual_help_give_the_helper_150_points(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "帮工户")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")

    # Given a grid worker's report of 10 hours of help with the autumn harvest
    report = mutual_help_report(
        actor=acts.grid_worker,
        helper=helper,
        helped=helped,
        hours=Decimal("10"),
        occurred_on=dt.date(2026, 11, 1),
        note="帮忙收玉米",
        at=CREATED,
    )
    # Then there is nothing to approve until it is confirmed
    assert (report.status, report.claim_id, Claim.objects.count()) == (
        MutualHelpStatus.PENDING,
        None,
        0,
    )

    # When the helped household confirms it
    confirmed = mutual_help_confirm(help_row=report, household=helped, at=CREATED)
    claim = confirmed.claim
    assert confirmed.status == MutualHelpStatus.CONFIRMED and confirmed.decided_by_helped
    assert (claim.household_id, claim.quantity, claim.points, claim.status, claim.source) == (
        helper.pk,
        Decimal("10.00"),
        15000,
        ClaimStatus.SUBMITTED,
        ClaimSource.MUTUAL_HELP,
    )
    assert (claim.witness, claim.note, claim.origin_ref) == (
        "受助户 王秀英 确认",
        "邻里互助：帮助 王秀英 10 小时。帮忙收玉米",
        f"mutual_help:{report.pk}",
    )
    # confirming twice changes nothing
    assert mutual_help_confirm(help_row=report, household=helped).claim_id == claim.pk
    assert Claim.objects.count() == 1

    # Then review and notice post 10 x 15 = 150 points
    claim_approve(actor=acts.village_admin, claim=claim, at=CREATED)
    notices_finalize(at=CREATED + dt.timedelta(days=3))
    assert household_balance(household_id=helper.pk).balance == 15000
    assert household_balance(household_id=helped.pk).balance == 0
    assert_ledger_ok(acts.scheme.pk)


def test_unconfirmed_or_rejected_mutual_help_makes_no_claim(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "帮工户")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    report = mutual_help_report(
        actor=acts.grid_worker,
        helper=helper,
        helped=helped,
        hours=3,
        occurred_on=dt.date(2026, 11, 1),
        at=CREATED,
    )
    # The reporter cannot confirm their own report; another village's grid worker may not
    error = refused(
        lambda: mutual_help_confirm(help_row=report, actor=acts.grid_worker, at=CREATED),
        ErrorCode.SAME_APPROVER,
    )
    assert error.message == "报告人不能自己确认，请由受助户或另一位工作人员确认"
    refused(
        lambda: mutual_help_confirm(help_row=report, actor=acts.grid_worker_a2, at=CREATED),
        ErrorCode.PERMISSION_DENIED,
    )
    with pytest.raises(ApplicationError) as info:
        mutual_help_for(acts.grid_worker_a2, report.pk)
    assert info.value.code == ErrorCode.NOT_FOUND
    # and the helper household cannot confirm the help it gave
    error = refused(
        lambda: mutual_help_confirm(help_row=report, household=helper, at=CREATED),
        ErrorCode.SAME_APPROVER,
    )
    assert error.message == "您是帮助的一方，不能自己确认，须由受助户确认"
    assert (MutualHelp.objects.get().status, Claim.objects.count()) == (MutualHelpStatus.PENDING, 0)

    mutual_help_reject(help_row=report, household=helped, reason="那天没有来帮忙", at=CREATED)
    refused(
        lambda: mutual_help_confirm(help_row=report, actor=acts.village_admin, at=CREATED),
        ErrorCode.INVALID_TRANSITION,
    )
    row = MutualHelp.objects.get()
    assert (row.status, row.reason, row.claim_id, Claim.objects.count()) == (
        MutualHelpStatus.REJECTED,
        "那天没有来帮忙",
        None,
        0,
    )


def test_staff_covering_the_helped_household_may_confirm(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1, "帮工户")
    helped = make_household(acts.scheme, acts.world.village_a1, "王秀英")
    report = mutual_help_report(
        actor=acts.grid_worker,
        helper=helper,
        helped=helped,
        hours="2.5",
        occurred_on=dt.date(2026, 11, 1),
        at=CREATED,
    )
    confirmed = mutual_help_confirm(help_row=report, actor=acts.village_admin, at=CREATED)
    assert (confirmed.claim.points, confirmed.claim.witness, confirmed.decided_by_id) == (
        3750,
        "受助户 王秀英（village-admin 核实）",
        acts.village_admin.user_id,
    )


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (0, "数量必须大于0"),
        ("25", "一次互助不超过24小时"),
        ("1.234", "数量最多两位小数"),
        ("abc", "数量必须是数字"),
        (None, "数量必须是数字"),
    ],
)
def test_mutual_help_hours_are_checked(acts: Acts, hours, message):
    helper = make_household(acts.scheme, acts.world.village_a1)
    helped = make_household(acts.scheme, acts.world.village_a1)
    error = refused(
        lambda: mutual_help_report(
            actor=acts.grid_worker,
            helper=helper,
            helped=helped,
            hours=hours,
            occurred_on=dt.date(2026, 11, 1),
            at=CREATED,
        ),
        ErrorCode.INVALID_INPUT,
    )
    assert error.message == message
    assert MutualHelp.objects.count() == 0


def test_helper_and_helped_are_two_households_of_one_scheme(acts: Acts):
    helper = make_household(acts.scheme, acts.world.village_a1)
    foreign = make_household(acts.world.other_scheme, acts.world.other_village)
    for helped, message in (
        (helper, "帮助户和受助户不能是同一户"),
        (foreign, "受助户不在本方案内"),
    ):
        error = refused(
            lambda helped=helped: mutual_help_report(
                actor=acts.grid_worker,
                helper=helper,
                helped=helped,
                hours=1,
                occurred_on=dt.date(2026, 11, 1),
                at=CREATED,
            ),
            ErrorCode.INVALID_INPUT,
        )
        assert error.message == message
    assert MutualHelp.objects.count() == 0


# --- races ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ten_sign_ups_for_five_places_give_exactly_five():
    acts = build_acts()
    activity = acts.activity(capacity=5)
    households = [make_household(acts.scheme, acts.world.village_a1) for _ in range(10)]

    outcomes = run_in_threads(
        10,
        lambda i: (
            activity_enrol(
                activity=activity, household=households[i], actor=acts.grid_worker, at=SIGN_UP
            ).pk
        ),
    )

    result = codes(outcomes)
    assert (result.count("ok"), result.count(ErrorCode.ACTIVITY_FULL)) == (5, 5)
    assert Enrolment.objects.filter(activity=activity, status=EnrolmentStatus.ENROLLED).count() == 5


@pytest.mark.django_db(transaction=True)
def test_one_card_scanned_at_two_doors_at_once_checks_in_once():
    acts = build_acts()
    activity = acts.activity()
    household = make_household(acts.scheme, acts.world.village_a1)
    outcomes = run_in_threads(
        6,
        lambda i: (
            activity_check_in(
                actor=acts.grid_worker if i % 2 else acts.village_admin,
                activity=activity,
                code=household.card_code,
                at=at(14),
            ).pk
        ),
    )
    result = codes(outcomes)
    assert (result.count("ok"), result.count(ErrorCode.ALREADY_CHECKED_IN)) == (1, 5)
    assert Attendance.objects.count() == 1 and Enrolment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_admins_closing_at_once_make_each_claim_once():
    acts = build_acts()
    activity = acts.activity()
    households = [make_household(acts.scheme, acts.world.village_a1) for _ in range(4)]
    for h in households:
        activity_check_in(actor=acts.grid_worker, activity=activity, code=h.card_code, at=at(14))
        activity_check_out(actor=acts.grid_worker, activity=activity, code=h.card_code, at=at(16))
    outcomes = run_in_threads(
        2,
        lambda i: len(
            activity_close(
                actor=(acts.village_admin, acts.county_admin)[i], activity=activity, at=at(17)
            ).created
        ),
    )
    assert sorted(o.value for o in outcomes) == [0, 4]
    assert Claim.objects.filter(origin_ref=f"activity:{activity.pk}").count() == 4
