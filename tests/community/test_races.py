"""Village life under parallel taps (PostgreSQL, real threads, committed data): a household
cannot get past the daily limit by filing at once, and an announcement withdrawn from two
screens at once is withdrawn once with one audit row."""

from __future__ import annotations

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.community.models import Announcement, AnnouncementStatus, Feedback
from civicpoints.community.services import (
    DAILY_LIMIT,
    announcement_post,
    announcement_withdraw,
    feedback_submit,
)
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from tests.factories import make_household, make_staff
from tests.ledger.helpers import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifteen_filings_at_once_keep_the_daily_limit(world, settings, tmp_path, postgres_only):
    settings.EVIDENCE_ROOT = tmp_path
    me = make_household(world.scheme, world.village_a1, "王秀英")
    outcomes = run_in_threads(
        15, lambda i: feedback_submit(household=me, kind="suggestion", text=f"建议{i}")
    )
    refused = [o.error for o in outcomes if o.error is not None]
    assert len(refused) == 15 - DAILY_LIMIT
    assert all(
        isinstance(e, ApplicationError) and e.code == ErrorCode.INVALID_INPUT for e in refused
    )
    assert Feedback.objects.filter(household=me).count() == DAILY_LIMIT
    assert AuditEvent.objects.filter(action="feedback.submit").count() == DAILY_LIMIT


def test_a_withdrawal_from_two_screens_happens_once(world, postgres_only):
    user = make_staff("cun", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    other = make_staff("zhen", Role.TOWNSHIP_ADMIN, world.township_a, world.scheme)
    actors = [actor_for_user(user), actor_for_user(other)]
    a = announcement_post(
        actor=actors[0], village_id=world.village_a1.pk, title="通知", body="内容"
    )
    outcomes = run_in_threads(
        2,
        lambda i: announcement_withdraw(
            actor=actors[i], announcement=Announcement.objects.get(pk=a.pk), reason=f"撤回{i}"
        ),
    )
    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 1 and errors[0].code == ErrorCode.INVALID_TRANSITION  # type: ignore[union-attr]
    a.refresh_from_db()
    assert a.status == AnnouncementStatus.WITHDRAWN
    assert AuditEvent.objects.filter(action="announcement.withdraw").count() == 1
