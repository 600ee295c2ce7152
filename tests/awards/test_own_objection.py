"""A household cannot object to its own claim on the notice board."""

from __future__ import annotations

import datetime as dt

import pytest

from civicpoints.audit.models import AuditEvent
from civicpoints.awards.models import ClaimEvent, ClaimStatus
from civicpoints.awards.services import claim_approve, claim_object, claim_submit
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.notifications.models import Notification
from tests.awards.conftest import MONDAY
from tests.factories import make_household


@pytest.fixture(autouse=True)
def _frozen_today(monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda value=None: dt.date(2026, 11, 2))


def test_the_claims_own_household_cannot_object_and_nothing_is_written(earning):
    # Given a household's claim on notice
    household = make_household(earning.scheme, earning.world.village_a1, phone="13912345678")
    claim = claim_submit(
        actor=earning.grid_worker,
        household=household,
        rule_id=earning.rules["V02"].pk,
        quantity=1,
        occurred_on=dt.date(2026, 11, 1),
    )
    claim_approve(actor=earning.village_admin, claim=claim, at=MONDAY)
    claim.refresh_from_db()
    ends_at = claim.notice_ends_at
    counts = (ClaimEvent.objects.count(), AuditEvent.objects.count())

    # When the same household objects to it
    with pytest.raises(ApplicationError) as caught:
        claim_object(
            claim=claim, objector=household, reason="我家想撤回", at=MONDAY + dt.timedelta(days=1)
        )

    # Then it is refused in plain Chinese and the claim stays on notice, untouched
    assert caught.value.code == ErrorCode.PERMISSION_DENIED
    assert caught.value.message == "不能对自己家的申报提出异议"
    claim.refresh_from_db()
    assert (claim.status, claim.notice_ends_at) == (ClaimStatus.ON_NOTICE, ends_at)
    assert (ClaimEvent.objects.count(), AuditEvent.objects.count()) == counts
    assert Notification.objects.count() == 0


def test_a_neighbour_still_can(earning):
    household = make_household(earning.scheme, earning.world.village_a1)
    neighbour = make_household(earning.scheme, earning.world.village_a1)
    claim = claim_submit(
        actor=earning.grid_worker,
        household=household,
        rule_id=earning.rules["V02"].pk,
        quantity=1,
        occurred_on=dt.date(2026, 11, 1),
    )
    claim_approve(actor=earning.village_admin, claim=claim, at=MONDAY)
    claim_object(
        claim=claim, objector=neighbour, reason="那天他不在村里", at=MONDAY + dt.timedelta(days=1)
    )
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
