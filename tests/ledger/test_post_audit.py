"""post(audit=AuditNote(...)): the action's audit row is written with its posting (in the one
SQL call of ledger_post() on PostgreSQL), once, and never for a replay or a refusal."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from civicpoints.audit.models import AuditAction, AuditEvent
from civicpoints.audit.services import AuditNote
from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.ledger.models import AccountKind, Posting, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, reverse, system_account
from civicpoints.schemes.models import Role
from tests.factories import fund, make_household, make_staff
from tests.ledger.helpers import assert_ledger_ok


def _award(world, household, key, audit, points=4500):
    return post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.AWARD,
        legs=[
            Leg(system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE), -points),
            Leg(household_account(household=household), points),
        ],
        actor_id=world.actor_user.pk,
        memo="志愿服务 3小时",
        idempotency_key=key,
        ref=("claim", 7),
        audit=audit,
    )


@pytest.fixture
def world(world):
    world.actor_user = make_staff("county-admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    return world


def test_the_posting_itself_is_recorded_with_its_id(world):
    h = make_household(world.scheme, world.village_a1, "王秀英")
    note = AuditNote(action=AuditAction.CLAIM_APPROVE, detail={"points": "45"})

    posting = _award(world, h, "k1", note)

    row = AuditEvent.objects.get(action=AuditAction.CLAIM_APPROVE)
    assert (row.object_type, row.object_id) == ("Posting", str(posting.pk))
    assert row.detail == {"points": "45", "posting": posting.pk}
    assert (row.scheme_id, row.actor_id, row.region_id) == (
        world.scheme.pk,
        world.actor_user.pk,
        None,
    )
    assert row.created_at == Posting.objects.get(pk=posting.pk).created_at
    assert_ledger_ok(world.scheme.pk)


def test_an_object_is_recorded_under_its_region(world):
    h = make_household(world.scheme, world.village_b1, "张桂芝")

    posting = _award(world, h, "k1", AuditNote(action=AuditAction.CLAIM_APPROVE, obj=h))

    row = AuditEvent.objects.get(action=AuditAction.CLAIM_APPROVE)
    assert (row.object_type, row.object_id) == ("Household", str(h.pk))
    assert row.region_id == world.village_b1.pk
    assert row.detail == {"posting": posting.pk}


def test_a_replay_writes_no_second_row(world):
    h = make_household(world.scheme, world.village_a1)
    note = AuditNote(action=AuditAction.CLAIM_APPROVE)

    first = _award(world, h, "same", note)
    again = _award(world, h, "same", note)

    assert again.pk == first.pk
    assert AuditEvent.objects.filter(action=AuditAction.CLAIM_APPROVE).count() == 1


def test_a_refused_posting_leaves_no_row(world):
    h = make_household(world.scheme, world.village_a1)
    fund(h, 1000)
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s")
    before = AuditEvent.objects.count()

    with pytest.raises(ApplicationError) as err:
        post(
            scheme_id=world.scheme.pk,
            kind=PostingKind.REDEMPTION,
            legs=[Leg(household_account(household=h), -1001), Leg(store, 1001)],
            audit=AuditNote(action=AuditAction.STORE_REDEEM),
        )

    assert err.value.code == ErrorCode.INSUFFICIENT_POINTS
    assert AuditEvent.objects.count() == before


def test_a_reversal_carries_its_own_row(world):
    h = make_household(world.scheme, world.village_a1)
    award = _award(world, h, "k1", None)

    undone = reverse(
        posting=award,
        actor_id=world.actor_user.pk,
        audit=AuditNote(action=AuditAction.REVERSAL_POST, obj=award),
    )

    row = AuditEvent.objects.get(action=AuditAction.REVERSAL_POST)
    assert (row.object_type, row.object_id) == ("Posting", str(award.pk))
    assert row.detail == {"posting": undone.pk}
    assert_ledger_ok(world.scheme.pk)


def test_an_unknown_action_is_a_programming_error(world):
    h = make_household(world.scheme, world.village_a1)
    with pytest.raises(ValueError):
        _award(world, h, "k1", AuditNote(action="no.such.action"))  # type: ignore[arg-type]
    assert not Posting.objects.filter(idempotency_key="k1").exists()


# --- PostgreSQL: the call of ledger_post() is prepared once per connection -------------------


def _ledger_post_statements() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%ledger_post(%%'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_the_posting_call_is_prepared_and_survives_a_forgetful_session(postgres_only):
    from tests.factories import build_world

    connection.close()  # a fresh connection: nothing prepared on it yet
    world = build_world()
    world.actor_user = make_staff("county-admin", Role.COUNTY_ADMIN, world.county, world.scheme)
    h = make_household(world.scheme, world.village_a1)
    try:
        _award(world, h, "k1", None)
        _award(world, h, "k2", AuditNote(action=AuditAction.CLAIM_APPROVE))
        assert _ledger_post_statements() == 2  # with and without the audit row
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")  # as a pooler resetting the session would

        third = _award(world, h, "k3", None)  # outside a transaction: prepared again

        assert _ledger_post_statements() == 1
        assert Posting.objects.filter(pk=third.pk).exists()
        connection.set_autocommit(False)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # a transaction to roll back
        connection.rollback()  # psycopg deallocates its statements itself
        connection.set_autocommit(True)
        assert _ledger_post_statements() == 0
        with transaction.atomic():  # inside a transaction: prepared again as well
            _award(world, h, "k4", AuditNote(action=AuditAction.CLAIM_APPROVE))
        assert _ledger_post_statements() == 1
        assert AuditEvent.objects.filter(action=AuditAction.CLAIM_APPROVE).count() == 2
        assert_ledger_ok(world.scheme.pk)
    finally:
        connection.close()
