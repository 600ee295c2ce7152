"""The database is the last guard: go around the services (raw SQL, ``.update()``) and expect
the database itself to refuse. Plus the project rule that only the ledger writes postings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from civicpoints.ledger.models import Account, AccountKind, ChainLink, Entry, Posting
from civicpoints.ledger.services import Award, household_account, post_awards, system_account
from tests.factories import fund, make_household
from tests.ledger.helpers import assert_ledger_ok, ledger_snapshot

SRC = Path(__file__).resolve().parents[2] / "src" / "civicpoints"


@pytest.fixture
def funded(world):  # type: ignore[no-untyped-def]
    """A household with 50.00 points from one chained award."""
    household = make_household(world.scheme, world.village_a1)
    award = fund(household, 5_000)
    assert_ledger_ok(world.scheme.pk)
    return household, award


def refused(sql: str, params: list) -> IntegrityError:  # type: ignore[type-arg]
    """Run raw SQL in a savepoint and return the IntegrityError the database raised."""
    with pytest.raises(IntegrityError) as err, transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)
    return err.value


# -- append-only postings, entries and chain links --------------------------------------------


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE ledger_entry SET amount = amount + 100 WHERE posting_id = %s", "ledger_entry"),
        ("UPDATE ledger_posting SET memo = 'rewritten' WHERE id = %s", "ledger_posting"),
        ("UPDATE ledger_chainlink SET hash = 'x' WHERE posting_id = %s", "ledger_chainlink"),
    ],
)
def test_update_of_ledger_rows_is_refused(world, funded, sql, table):
    # Given a chained award; when its rows are rewritten behind the services' back
    _household, award = funded
    before = ledger_snapshot(world.scheme.pk)
    error = refused(sql, [award.pk])
    # Then the append-only trigger refuses (on both databases) and nothing changed
    assert f"ledger is append-only: UPDATE on {table} refused" in str(error)
    assert ledger_snapshot(world.scheme.pk) == before
    assert_ledger_ok(world.scheme.pk)


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("DELETE FROM ledger_chainlink WHERE posting_id = %s", "ledger_chainlink"),
        ("DELETE FROM ledger_entry WHERE posting_id = %s", "ledger_entry"),
        ("DELETE FROM ledger_posting WHERE id = %s", "ledger_posting"),
    ],
)
def test_delete_of_ledger_rows_is_refused(world, funded, postgres_only, sql, table):
    # Given a chained award; when its rows are deleted with raw SQL
    _household, award = funded
    before = ledger_snapshot(world.scheme.pk)
    error = refused(sql, [award.pk])
    # Then PostgreSQL refuses with SQLSTATE 23000 (the trigger, not merely a foreign key)
    assert error.__cause__.sqlstate == "23000"
    assert f"ledger is append-only: DELETE on {table} refused" in str(error)
    assert ledger_snapshot(world.scheme.pk) == before


# -- every posting sums to zero (PostgreSQL: deferred constraint trigger) ---------------------


def _raw_posting(scheme_id: int, legs: list[tuple[int, int]]) -> int:
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO ledger_posting (scheme_id, kind, idempotency_key, request_hash, "
            "actor_id, created_at, memo, reverses_id, ref_type, ref_id) "
            "VALUES (%s, 'adjustment', NULL, '', NULL, %s, 'raw', NULL, '', '') RETURNING id",
            [scheme_id, timezone.now()],
        )
        posting_id = c.fetchone()[0]
        for account_id, amount in legs:
            c.execute(
                "INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, "
                "balance_after, member_id) VALUES (%s, %s, %s, %s, NULL, NULL)",
                [scheme_id, posting_id, account_id, amount],
            )
    return posting_id


def _system_accounts(world):  # type: ignore[no-untyped-def]
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    adjustment = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ADJUSTMENT)
    return issuance.pk, adjustment.pk


def test_unbalanced_posting_is_refused_when_checked_inside_a_transaction(world, postgres_only):
    # Given a raw posting with one entry of 1.00 point (sums to 100, not 0)
    issuance, _adjustment = _system_accounts(world)
    with pytest.raises(IntegrityError) as err, transaction.atomic():
        _raw_posting(world.scheme.pk, [(issuance, 100)])
        # When the deferred check runs now instead of at COMMIT
        with connection.cursor() as c:
            c.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # Then it is refused as a check violation, and nothing was written
    assert err.value.__cause__.sqlstate == "23514"
    assert "is unbalanced: 100 over 1 entries" in str(err.value)
    assert Posting.objects.count() == Entry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_unbalanced_posting_fails_at_commit(world, postgres_only):
    issuance, adjustment = _system_accounts(world)
    # Given raw postings written in their own transactions (the check is deferred to COMMIT)
    # When one sums to 100 (or has a single leg), then COMMIT fails and nothing stays
    for legs in ([(issuance, 100), (adjustment, -99)], [(issuance, 100)], []):
        with pytest.raises(IntegrityError) as err, transaction.atomic():
            _raw_posting(world.scheme.pk, legs)
        assert err.value.__cause__.sqlstate == "23514", legs
        assert Posting.objects.count() == Entry.objects.count() == 0
    # And a balanced one commits: the trigger checks the sum, it does not refuse everything
    with transaction.atomic():
        posting_id = _raw_posting(world.scheme.pk, [(issuance, 100), (adjustment, -100)])
    assert list(Entry.objects.filter(posting_id=posting_id).values_list("amount", flat=True)) in (
        [100, -100],
        [-100, 100],
    )
    assert_ledger_ok(world.scheme.pk)


@pytest.mark.django_db(transaction=True)
def test_an_entry_added_to_an_earlier_posting_is_refused_at_once(world, postgres_only):
    # Given an award committed in its own transaction (its sum was checked at that COMMIT)
    issuance, adjustment = _system_accounts(world)
    award = fund(make_household(world.scheme, world.village_a1), 5_000)
    before = ledger_snapshot(world.scheme.pk)
    # When entries are added to it later, even a pair that keeps it at zero
    error = refused(
        "INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, balance_after, "
        "member_id) VALUES (%s, %s, %s, 100, NULL, NULL), (%s, %s, %s, -100, NULL, NULL)",
        [world.scheme.pk, award.pk, issuance, world.scheme.pk, award.pk, adjustment],
    )
    # Then the statement is refused at once, and nothing changed
    assert error.__cause__.sqlstate == "23514"
    assert f"posting {award.pk} was written by an earlier transaction" in str(error)
    assert ledger_snapshot(world.scheme.pk) == before
    assert_ledger_ok(world.scheme.pk)


@pytest.mark.django_db(transaction=True)
def test_entries_written_before_their_posting_are_summed_at_commit(world, postgres_only):
    issuance, adjustment = _system_accounts(world)

    def entries_then_posting(amounts: list[int]) -> int:
        with connection.cursor() as c:
            c.execute("SELECT nextval(pg_get_serial_sequence('ledger_posting', 'id'))")
            posting_id = c.fetchone()[0]
            for account, amount in zip((issuance, adjustment), amounts, strict=True):
                c.execute(
                    "INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, "
                    "balance_after, member_id) VALUES (%s, %s, %s, %s, NULL, NULL)",
                    [world.scheme.pk, posting_id, account, amount],
                )
            c.execute(
                "INSERT INTO ledger_posting (id, scheme_id, kind, idempotency_key, request_hash, "
                "actor_id, created_at, memo, reverses_id, ref_type, ref_id) "
                "VALUES (%s, %s, 'adjustment', NULL, '', NULL, %s, 'raw', NULL, '', '')",
                [posting_id, world.scheme.pk, timezone.now()],
            )
        return posting_id

    # Given entries inserted first and their posting after them, in one transaction:
    # when they do not sum to zero, COMMIT refuses them
    with pytest.raises(IntegrityError) as err, transaction.atomic():
        entries_then_posting([100, -99])
    assert err.value.__cause__.sqlstate == "23514"
    assert Posting.objects.count() == Entry.objects.count() == 0
    # and when they do, they commit
    with transaction.atomic():
        posting_id = entries_then_posting([100, -100])
    assert Entry.objects.filter(posting_id=posting_id).count() == 2
    assert_ledger_ok(world.scheme.pk)


def test_each_posting_is_summed_once_however_it_was_written(world, postgres_only):
    # Given the call counts of this transaction's functions (PL/pgSQL ones)
    households = [make_household(world.scheme, world.village_a1) for _ in range(3)]
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    with connection.cursor() as c:
        c.execute("SET LOCAL track_functions = 'pl'")
    # When a batch of five credits and one single posting are written
    post_awards(
        scheme_id=world.scheme.pk,
        issuance=issuance,
        awards=[
            Award(account=household_account(household=h), amount=100 + n, idempotency_key=f"b:{n}")
            for n, h in enumerate(households + households[:2])
        ],
    )
    fund(households[0], 700)
    # and the deferred checks run (as at COMMIT)
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
        c.execute(
            "SELECT coalesce(pg_stat_get_xact_function_calls(%s::regproc), 0), "
            "coalesce(pg_stat_get_xact_function_calls(%s::regproc), 0)",
            ["ledger_posting_balanced", "ledger_check_balanced"],
        )
        per_posting, helper = c.fetchone()
    # Then each of the six postings was summed exactly once (not once per entry as well)
    assert (per_posting, helper) == (6, 0)


# -- household accounts: balance >= 0, held >= 0, held <= balance (both databases) ------------


@pytest.mark.parametrize(
    "change",
    [
        {"balance": -1, "held": 0},
        {"balance": 5_000, "held": 5_001},
        {"balance": 5_000, "held": -1},
    ],
    ids=["negative-balance", "held-above-balance", "negative-held"],
)
def test_household_account_update_around_the_guard_is_refused(world, funded, change):
    # Given a household with 50.00 points; when its row is updated around post()
    household, _award = funded
    account = household_account(household=household)
    with pytest.raises(IntegrityError) as err, transaction.atomic():
        Account.objects.filter(pk=account.pk).update(**change)
    # Then the CHECK constraint refuses, and the balance is as it was
    assert "household_balance_covers_held" in str(err.value)
    assert Account.objects.filter(pk=account.pk).values_list("balance", "held").get() == (5_000, 0)


def test_busy_account_cannot_keep_a_running_balance(world, funded):
    # Given the issuance account (no hot row: its balance is the sum of its entries)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    # When someone writes a running balance into it, then the database refuses
    with pytest.raises(IntegrityError) as err, transaction.atomic():
        Account.objects.filter(pk=issuance.pk).update(balance=-5_000)
    assert "only_household_keeps_balance" in str(err.value)
    assert Account.objects.filter(pk=issuance.pk).values_list("balance", "held").get() == (0, 0)


def test_a_chain_seq_is_unique_per_scheme(world, funded):
    # Given a chained award; when a second link claims the same seq, then it is refused
    second = fund(make_household(world.scheme, world.village_a1), 100)
    with pytest.raises(IntegrityError), transaction.atomic():
        ChainLink.objects.bulk_create(
            [ChainLink(scheme=world.scheme, seq=1, posting=second, prev_hash="0", hash="0")]
        )
    assert ChainLink.objects.filter(scheme=world.scheme).count() == 1


# -- project rule -------------------------------------------------------------------------------

WRITES_LEDGER = re.compile(
    r"\b(Entry|Posting)\.objects(\.using\([^)]*\))?\.(create|bulk_create|get_or_create|update_or_create)\b"
)


def test_only_the_ledger_creates_postings_and_entries():
    """Only ledger.services writes postings (STYLE: every leg goes through post())."""
    assert WRITES_LEDGER.search("x = Entry.objects.bulk_create(rows)")  # the rule can fire
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if "ledger" not in path.relative_to(SRC).parts[:1]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WRITES_LEDGER.search(line)
    ]
    assert offenders == []


# Account rows are locked only by ledger code (``lock_household_accounts`` and ``post()``):
# a lock taken elsewhere in another order is how two batches deadlock.
LOCKS_ACCOUNTS = re.compile(
    r"\bAccount\.objects(?:\s*\.\w+\([^()]*\))*\s*\.select_for_update\("
    r"|ledger_account\b[^\"']*\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b",
    re.DOTALL,
)
# "available = balance - held" lives in the ledger (``Account.available``, ``Balance``).
COMPUTES_AVAILABLE = re.compile(r"\bbalance\b\s*(?:-|\|sub:)\s*[\w.]*\bheld\b")

PLANTED_LOCK = """
def grab(ids):
    list(
        Account.objects.select_for_update()
        .filter(household_id__in=ids)
        .order_by("pk")
    )
    cursor.execute("SELECT id FROM ledger_account WHERE id = %s FOR UPDATE", [1])
"""
PLANTED_ARITHMETIC = """
available = account.balance - account.held
<td>{{ h.account.balance|sub:h.account.held|points }}</td>
"""


def _offenders(pattern: re.Pattern[str], suffixes: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*")):
        rel = path.relative_to(SRC)
        if path.suffix not in suffixes or rel.parts[0] in ("ledger", "locale"):
            continue
        if "migrations" in rel.parts:
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{rel}:{text.count(chr(10), 0, m.start()) + 1}" for m in pattern.finditer(text)]
    return found


def test_the_rules_fire_on_planted_violations():
    # A module that locks account rows itself, and one that computes "available" itself
    assert len(LOCKS_ACCOUNTS.findall(PLANTED_LOCK)) == 2
    assert len(COMPUTES_AVAILABLE.findall(PLANTED_ARITHMETIC)) == 2
    # while the ledger's own call and reads do not
    assert not LOCKS_ACCOUNTS.search("accounts = lock_household_accounts(households)")
    assert not COMPUTES_AVAILABLE.search("take = min(claim.points, account.available)")
    assert not LOCKS_ACCOUNTS.search("Account.objects.filter(pk=1).first()\nx.select_for_update()")


def test_only_the_ledger_locks_household_accounts():
    assert _offenders(LOCKS_ACCOUNTS, (".py",)) == []


def test_only_the_ledger_computes_available_points():
    assert _offenders(COMPUTES_AVAILABLE, (".py", ".html")) == []
