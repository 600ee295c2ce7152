"""Staff reset PINs and print a village's letters and cards; residents change their PIN.

Who may (admins over the village) and who may not (grid workers, clerks, auditors); a reset
lifts the lockout and signs every phone out; a reprinted card revokes the old code; bad input
writes nothing; parallel guessing of the old PIN gets at most five checks (PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicpoints.audit.models import AuditEvent
from civicpoints.errors import ApplicationError, ErrorCode, NotFound, PermissionDenied
from civicpoints.households.models import Household, HouseholdStatus, ResidentToken
from civicpoints.households.pins import (
    household_access_for,
    household_card_issue,
    household_pin_change,
    household_pin_reset,
    pin_problem,
    village_letters_issue,
    village_letters_plan,
)
from civicpoints.households.selectors import household_search
from civicpoints.households.services import (
    NewHousehold,
    household_check_pin,
    household_pin_login,
    household_set_pin,
    households_bulk_create,
    resident_token_create,
)
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import Actor, actor_for_user
from tests.factories import make_household, make_staff
from tests.ledger.helpers import run_in_threads

PIN = "258369"


def actor(world, username: str, role: str, region) -> Actor:
    return actor_for_user(make_staff(username, role, region, world.scheme))


def state(h: Household) -> tuple:
    h.refresh_from_db()
    return (h.pin_hash, h.pin_failures, h.pin_locked_until, h.login_epoch, h.card_code)


def snapshot() -> dict:
    return {
        "households": sorted(
            Household.objects.values_list(
                "pk", "pin_hash", "pin_failures", "card_code", "card_issued_at", "login_epoch"
            )
        ),
        "tokens": ResidentToken.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def village_admin(world) -> Actor:
    return actor(world, "cun", Role.VILLAGE_ADMIN, world.village_a1)


@pytest.fixture
def household(world) -> Household:
    h = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=h, pin=PIN)
    h.refresh_from_db()
    return h


# --- what a PIN may be ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ("000000", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("123456", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("890123", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("654321", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("121212", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("520520", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("112233", "这个密码太容易被猜到（如000000、123456、121212），请换一个"),
        ("12345", "密码应为6位数字"),
        ("1234567", "密码应为6位数字"),
        ("12a456", "密码应为6位数字"),
        ("１２３４５６", "密码应为6位数字"),
        (123456, "密码应为6位数字"),
    ],
)
def test_trivial_and_malformed_pins_are_refused_with_a_reason(pin, message):
    assert pin_problem(pin) == message


@pytest.mark.parametrize("pin", ["258369", "135792", "907314"])
def test_ordinary_pins_are_fine(pin):
    assert pin_problem(pin) is None


# --- staff reset one household's PIN ----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "region"),
    [
        (Role.VILLAGE_ADMIN, "village_a1"),
        (Role.TOWNSHIP_ADMIN, "township_a"),
        (Role.COUNTY_ADMIN, "county"),
    ],
)
def test_an_admin_over_the_village_resets_the_pin(world, household, role, region):
    # Given a locked household signed in on a phone (a resident token)
    resident_token_create(household=household)
    Household.objects.filter(pk=household.pk).update(
        pin_failures=3, pin_locked_until=timezone.now() + dt.timedelta(minutes=10)
    )
    staff = actor(world, "staff", role, getattr(world, region))
    epoch = household.login_epoch

    # When the admin resets the PIN
    pin = household_pin_reset(actor=staff, household=household)

    # Then a new random 6-digit PIN works, the old one does not, the lock is lifted, every
    # phone is signed out and the reset is audited
    assert pin_problem(pin) is None
    assert pin not in household.pin_hash
    assert household_check_pin(household=household, pin=pin)
    assert not household_check_pin(household=household, pin=PIN)
    assert (household.pin_failures, household.pin_locked_until) == (0, None)
    assert household.login_epoch == epoch + 1
    assert household.pin_set_at is not None
    assert ResidentToken.objects.filter(household=household).count() == 0
    event = AuditEvent.objects.get(action="household.pin_reset")
    assert (event.actor_id, event.object_id) == (staff.user_id, str(household.pk))
    assert household_pin_login(card_code=household.card_code, pin=pin) == household


@pytest.mark.parametrize("role", [Role.GRID_WORKER, Role.STORE_CLERK, Role.AUDITOR])
def test_grid_workers_clerks_and_auditors_may_not_reset(world, household, role):
    staff = actor(world, "staff", role, world.village_a1)
    before = snapshot()

    with pytest.raises(PermissionDenied):
        household_pin_reset(actor=staff, household=household)
    with pytest.raises(PermissionDenied):
        household_card_issue(actor=staff, household=household)
    with pytest.raises(NotFound):
        household_access_for(staff, household.pk)

    assert snapshot() == before


def test_an_admin_of_another_village_does_not_find_the_household(world, household):
    other = actor(world, "other", Role.VILLAGE_ADMIN, world.village_a2)
    with pytest.raises(NotFound):
        household_access_for(other, household.pk)
    with pytest.raises(NotFound):
        household_access_for(other, "１")


# --- cards ----------------------------------------------------------------------------------


def test_the_first_print_keeps_the_code_and_a_reprint_revokes_it(world, household, village_admin):
    first_code = household.card_code
    grid = actor(world, "grid", Role.GRID_WORKER, world.village_a1)

    printed = household_card_issue(actor=village_admin, household=household)
    assert printed.card_code == first_code
    assert printed.card_issued_at is not None

    reprinted = household_card_issue(actor=village_admin, household=household)

    assert reprinted.card_code != first_code
    assert len(reprinted.card_code) == 10
    # The old card works nowhere: not at login, not in a counter's search
    with pytest.raises(ApplicationError) as err:
        household_pin_login(card_code=first_code, pin=PIN)
    assert err.value.code == ErrorCode.LOGIN_FAILED
    assert list(household_search(grid, first_code)) == []
    assert list(household_search(grid, reprinted.card_code)) == [household]
    assert household_pin_login(card_code=reprinted.card_code, pin=PIN) == household
    assert list(
        AuditEvent.objects.filter(object_id=str(household.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )[-2:] == ["household.card_issue", "household.card_reissue"]


# --- a village's letters and cards ------------------------------------------------------------


def many(world, n: int) -> list[int]:
    rows = [NewHousehold(village_id=world.village_a1.pk, head_name=f"批量户{i}") for i in range(n)]
    return households_bulk_create(actor_id=None, scheme=world.scheme, rows=rows)


def test_three_hundred_letters_and_cards_in_one_go(world, village_admin):
    # Given 300 households in one village, 40 of which already had a card printed
    ids = many(world, 300)
    reprint = ids[:40]
    Household.objects.filter(pk__in=reprint).update(card_issued_at=timezone.now())
    old_codes = dict(Household.objects.filter(pk__in=ids).values_list("pk", "card_code"))

    # When the village admin prints letters and cards for all of them
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        letters = village_letters_issue(
            actor=village_admin, village=world.village_a1, household_ids=ids, pins=True, cards=True
        )
    took = time.monotonic() - started

    # Then it is set-based (a few dozen statements, not a few per household) and quick
    assert len(queries) < 40, len(queries)
    assert took < 10
    assert [letter.household.pk for letter in letters] == sorted(ids)
    # each household's printed PIN is its PIN
    stored = dict(Household.objects.filter(pk__in=ids).values_list("pk", "pin_hash"))
    for letter in letters:
        assert letter.pin is not None and pin_problem(letter.pin) is None
        h = Household(pk=letter.household.pk, pin_hash=stored[letter.household.pk])
        assert household_check_pin(household=h, pin=letter.pin)
    # the 40 reprinted cards have new codes (the old ones are gone), the 260 others kept theirs
    now_codes = dict(Household.objects.filter(pk__in=ids).values_list("pk", "card_code"))
    assert sorted(h for h in ids if now_codes[h] != old_codes[h]) == sorted(reprint)
    assert {letter.household.pk for letter in letters if letter.card_renewed} == set(reprint)
    assert not Household.objects.filter(card_code__in=[old_codes[h] for h in reprint]).exists()
    assert Household.objects.filter(pk__in=ids, card_issued_at__isnull=True).count() == 0
    event = AuditEvent.objects.get(action="village.letters_print")
    assert event.detail["households"] == sorted(ids)
    assert event.detail["cards_renewed"] == sorted(reprint)


def test_the_plan_counts_what_will_change_and_writes_nothing(world, village_admin):
    ids = many(world, 5)
    Household.objects.filter(pk__in=ids[:2]).update(card_issued_at=timezone.now())
    before = snapshot()

    plan = village_letters_plan(
        actor=village_admin, village=world.village_a1, household_ids=ids, pins=True, cards=True
    )

    assert (plan.households, plan.cards_renewed) == (5, 2)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("choose", "pins", "cards", "field", "message"),
    [
        ("none", True, True, "households", "请至少选择一户"),
        ("mine", False, False, "what", "请选择要打印密码信还是积分卡"),
        ("other_village", True, True, "households", "所选农户有的不在本村或已注销，请重新打开本页"),
        ("closed", True, False, "households", "所选农户有的不在本村或已注销，请重新打开本页"),
        ("junk", True, False, "households", "所选农户有误，请重新打开本页"),
    ],
)
def test_bad_choices_print_nothing(world, village_admin, choose, pins, cards, field, message):
    mine = many(world, 3)
    elsewhere = make_household(world.scheme, world.village_a2, "新华户")
    closed = make_household(world.scheme, world.village_a1, "注销户", status=HouseholdStatus.CLOSED)
    chosen = {
        "none": [],
        "mine": mine,
        "other_village": [*mine, elsewhere.pk],
        "closed": [*mine, closed.pk],
        "junk": [*mine, "1; DROP"],
    }[choose]
    before = snapshot()

    for service in (village_letters_plan, village_letters_issue):
        with pytest.raises(ApplicationError) as err:
            service(
                actor=village_admin,
                village=world.village_a1,
                household_ids=chosen,
                pins=pins,
                cards=cards,
            )
        assert (err.value.code, err.value.message) == (ErrorCode.INVALID_INPUT, message)
        assert err.value.detail == {"field": field}

    assert snapshot() == before


def test_a_grid_worker_prints_no_letters(world):
    ids = many(world, 2)
    grid = actor(world, "grid", Role.GRID_WORKER, world.village_a1)
    before = snapshot()
    with pytest.raises(ApplicationError) as err:
        village_letters_issue(
            actor=grid, village=world.village_a1, household_ids=ids, pins=True, cards=True
        )
    assert err.value.message == "所选农户有的不在本村或已注销，请重新打开本页"
    assert snapshot() == before


# --- residents change their PIN ---------------------------------------------------------------


def test_a_resident_changes_the_pin(household):
    resident_token_create(household=household)
    epoch = household.login_epoch

    household_pin_change(household=household, old_pin=PIN, new_pin="907314", again="907314")

    assert household_check_pin(household=household, pin="907314")
    assert not household_check_pin(household=household, pin=PIN)
    assert household.login_epoch == epoch + 1
    assert ResidentToken.objects.filter(household=household).count() == 0
    assert (
        AuditEvent.objects.filter(
            action="household.pin_change", object_id=str(household.pk)
        ).count()
        == 1
    )


@pytest.mark.parametrize(
    ("old", "new", "again", "field", "message"),
    [
        (
            PIN,
            "123456",
            "123456",
            "new_pin",
            "这个密码太容易被猜到（如000000、123456、121212），请换一个",
        ),
        (
            PIN,
            "000000",
            "000000",
            "new_pin",
            "这个密码太容易被猜到（如000000、123456、121212），请换一个",
        ),
        (PIN, "90731", "90731", "new_pin", "密码应为6位数字"),
        (PIN, "", "", "new_pin", "请输入新密码"),
        (PIN, "907314", "907315", "again", "两次输入的新密码不一样"),
        (PIN, PIN, PIN, "new_pin", "新密码不能和原密码一样"),
        ("", "907314", "907314", "old_pin", "请输入原密码"),
    ],
)
def test_bad_pin_changes_change_nothing_and_cost_no_try(household, old, new, again, field, message):
    before = state(household)
    with pytest.raises(ApplicationError) as err:
        household_pin_change(household=household, old_pin=old, new_pin=new, again=again)
    assert (err.value.code, err.value.message) == (ErrorCode.INVALID_INPUT, message)
    assert err.value.detail == {"field": field}
    assert state(household) == before


def test_wrong_old_pins_count_and_lock_like_a_login(household):
    for left in (4, 3, 2, 1):
        with pytest.raises(ApplicationError) as err:
            household_pin_change(
                household=household, old_pin="111112", new_pin="907314", again="907314"
            )
        assert err.value.code == ErrorCode.PIN_INCORRECT
        assert err.value.message == f"原密码不对，还可以再试{left}次"
        assert err.value.detail == {"field": "old_pin", "attempts_left": left}
    with pytest.raises(ApplicationError) as err:
        household_pin_change(
            household=household, old_pin="111112", new_pin="907314", again="907314"
        )
    assert err.value.message == "原密码不对，已锁定15分钟"
    before = state(household)
    assert before[2] is not None  # locked

    # Then even the right old PIN is refused for 15 minutes, and so is the card login
    with pytest.raises(ApplicationError) as err:
        household_pin_change(household=household, old_pin=PIN, new_pin="907314", again="907314")
    assert err.value.code == ErrorCode.LOCKED_OUT
    with pytest.raises(ApplicationError) as err:
        household_pin_login(card_code=household.card_code, pin=PIN)
    assert err.value.code == ErrorCode.LOCKED_OUT
    assert state(household) == before
    assert not household_check_pin(household=household, pin="907314")


def test_a_household_without_a_pin_sets_its_first(world):
    h = make_household(world.scheme, world.village_a1, "短信户", phone="13912345678")
    household_pin_change(household=h, old_pin="", new_pin="907314", again="907314")
    assert household_check_pin(household=h, pin="907314")
    assert AuditEvent.objects.filter(action="household.pin_first_set").count() == 1


# --- parallel guessing (PostgreSQL) ---------------------------------------------------------

pytest_races = pytest.mark.django_db(transaction=True)


@pytest_races
def test_twenty_parallel_guesses_of_the_old_pin_get_at_most_five_checks(world, postgres_only):
    # Given a household and twenty wrong guesses of its PIN fired at once
    h = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=h, pin=PIN)
    guesses = [f"{100000 + i * 7919:06d}" for i in range(20)]

    def guess(i: int) -> str:
        household_pin_change(
            household=Household.objects.get(pk=h.pk),
            old_pin=guesses[i],
            new_pin="907314",
            again="907314",
        )
        return "ok"

    outcomes = run_in_threads(20, guess)

    # Then five were checked (and refused), fifteen never reached the check, the PIN is locked
    codes = [str(o.error.code) if isinstance(o.error, ApplicationError) else o for o in outcomes]
    assert codes.count(ErrorCode.PIN_INCORRECT) == 5, codes
    assert codes.count(ErrorCode.LOCKED_OUT) == 15, codes
    h.refresh_from_db()
    assert h.pin_locked_until is not None and h.pin_failures == 0
    assert household_check_pin(household=h, pin=PIN)


@pytest_races
def test_twenty_parallel_card_logins_get_at_most_five_checks(world, postgres_only):
    h = make_household(world.scheme, world.village_a1, "王秀英")
    household_set_pin(actor_id=None, household=h, pin=PIN)

    def guess(i: int) -> str:
        household_pin_login(card_code=h.card_code, pin=f"{300000 + i:06d}")
        return "ok"

    outcomes = run_in_threads(20, guess)
    codes = [
        str(o.error.code) if isinstance(o.error, ApplicationError) else o.error for o in outcomes
    ]
    assert codes.count(ErrorCode.LOGIN_FAILED) == 5, codes
    assert codes.count(ErrorCode.LOCKED_OUT) == 15, codes
    h.refresh_from_db()
    assert h.pin_locked_until is not None and h.pin_failures == 0
