"""Set-based postings on tables that were never analysed (autovacuum is off where the product
runs, and nothing runs ANALYZE): every row a batch touches is reached by its unique key, so the
cost of a batch does not grow with the tables. Checked through PostgreSQL's own counters of
this transaction's scans, on a ledger of a few thousand postings."""

from __future__ import annotations

import pytest
from django.db import connection

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.households.models import Household
from civicpoints.households.services import NewHousehold, households_bulk_create
from civicpoints.ledger.models import Account, AccountKind, Entry, Posting
from civicpoints.ledger.selectors import household_account_ids, household_balance
from civicpoints.ledger.services import (
    Award,
    AwardRow,
    household_account,
    post_award_rows,
    post_awards,
    system_account,
)
from tests.factories import make_household
from tests.ledger.helpers import assert_ledger_ok

LEDGER_TABLES = ("ledger_posting", "ledger_entry", "ledger_account")


def scans() -> dict[str, tuple[int, int]]:
    """(sequential scans, index scans) of each ledger table in this transaction so far."""
    with connection.cursor() as c:
        c.execute(
            "SELECT relname, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = ANY (%s)",
            [list(LEDGER_TABLES)],
        )
        return {name: (seq, idx) for name, seq, idx in c.fetchall()}


def index_scans(table: str) -> dict[str, int]:
    """Scans of each of the table's indexes in this transaction so far."""
    with connection.cursor() as c:
        c.execute(
            "SELECT indexrelid::regclass::text, pg_stat_get_xact_numscans(indexrelid) "
            "FROM pg_index WHERE indrelid = %s::regclass",
            [table],
        )
        return dict(c.fetchall())


def never_analysed() -> bool:
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY (%s) "
            "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)",
            [list(LEDGER_TABLES)],
        )
        analysed = c.fetchone()[0]
        c.execute("SELECT count(*) FROM pg_stats WHERE tablename = ANY (%s)", [list(LEDGER_TABLES)])
        return analysed == 0 and c.fetchone()[0] == 0


def test_a_batch_reaches_rows_by_unique_keys_on_tables_never_analysed(world, postgres_only):
    # Given 3,000 households, each with an award posted in batches of 500, in ledger tables
    # that have no statistics at all
    ids = households_bulk_create(
        actor_id=None,
        scheme=world.scheme,
        rows=[
            NewHousehold(village_id=world.village_a1.pk, head_name=f"批量户{n}")
            for n in range(3000)
        ],
    )
    accounts = household_account_ids(household_ids=ids)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)

    def batch(keys: range, amount: int) -> dict[str, int]:
        posted: dict[str, int] = {}
        for start in range(keys.start, keys.stop, 500):
            posted |= post_award_rows(
                scheme_id=world.scheme.pk,
                issuance_id=issuance.pk,
                rows=[
                    AwardRow(accounts[ids[n]], amount, f"claim:{n}", memo="回收农药瓶")
                    for n in range(start, min(start + 500, keys.stop))
                ],
            )
        return posted

    first = batch(range(0, 3000), 4000)
    assert never_analysed()
    before = scans()
    postings_by_index = index_scans("ledger_posting")

    # When the last 500 are posted again (a re-run: every key is looked up) with 500 new ones
    again = batch(range(2500, 3000), 4000)
    more = post_award_rows(
        scheme_id=world.scheme.pk,
        issuance_id=issuance.pk,
        rows=[AwardRow(accounts[ids[n]], 100, f"extra:{n}") for n in range(500)],
    )

    # Then no ledger table was scanned: households by id, postings by (scheme, key)
    after = scans()
    assert {t: after[t][0] - before[t][0] for t in LEDGER_TABLES} == dict.fromkeys(LEDGER_TABLES, 0)
    used = {
        name: n - postings_by_index[name]
        for name, n in index_scans("ledger_posting").items()
        if n != postings_by_index[name]
    }
    assert set(used) <= {"ledger_posting_pkey", "posting_idempotency_unique"}
    assert used["posting_idempotency_unique"] >= 500  # the re-run's 500 keys, one by one
    # and the re-run named the first postings and posted nothing again
    assert again == {k: first[k] for k in again}
    assert len(more) == 500
    assert Posting.objects.filter(scheme=world.scheme).count() == 3500
    assert Entry.objects.filter(scheme=world.scheme).count() == 7000
    assert household_balance(household_id=ids[0]).balance == 4100
    assert household_balance(household_id=ids[2999]).balance == 4000
    assert_ledger_ok(world.scheme.pk)


def test_award_rows_by_account_id(world):
    a = make_household(world.scheme, world.village_a1)
    b = make_household(world.scheme, world.village_a1)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    acc_a, acc_b = household_account(household=a).pk, household_account(household=b).pk
    rows = [
        AwardRow(acc_a, 500, "c:1", memo="回收农药瓶", ref_type="claim", ref_id="1"),
        AwardRow(acc_b, 700, "c:2"),
        AwardRow(acc_a, 250, "c:3", request_hash="h"),
    ]
    posted = post_award_rows(scheme_id=world.scheme.pk, issuance_id=issuance.pk, rows=rows)
    assert sorted(posted) == ["c:1", "c:2", "c:3"]
    assert household_balance(household_id=a.pk).balance == 750
    assert household_balance(household_id=b.pk).balance == 700
    assert list(
        Entry.objects.filter(account_id=acc_a)
        .order_by("posting_id")
        .values_list("balance_after", flat=True)
    ) == [500, 750]
    first = Posting.objects.get(pk=posted["c:1"])
    assert (first.memo, first.ref_type, first.ref_id, first.kind) == (
        "回收农药瓶",
        "claim",
        "1",
        "award",
    )
    # a re-run names the same postings; the same key for another request is refused
    assert post_award_rows(scheme_id=world.scheme.pk, issuance_id=issuance.pk, rows=rows) == posted
    with pytest.raises(ApplicationError) as err:
        post_award_rows(
            scheme_id=world.scheme.pk,
            issuance_id=issuance.pk,
            rows=[AwardRow(acc_a, 250, "c:3", request_hash="other")],
        )
    assert err.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert household_balance(household_id=a.pk).balance == 750
    assert_ledger_ok(world.scheme.pk)


@pytest.mark.parametrize("which", ["other-scheme", "not-a-household", "missing"])
def test_award_rows_refuse_an_account_that_is_not_a_household_of_the_scheme(world, which):
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    good = household_account(household=make_household(world.scheme, world.village_a1)).pk
    bad = {
        "other-scheme": lambda: (
            household_account(household=make_household(world.other_scheme, world.other_village)).pk
        ),
        "not-a-household": lambda: (
            system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s").pk
        ),
        "missing": lambda: Account.objects.order_by("-pk").values_list("pk", flat=True)[0] + 99,
    }[which]()
    before = (Posting.objects.count(), Entry.objects.count())
    with pytest.raises(ApplicationError) as err:
        post_award_rows(
            scheme_id=world.scheme.pk,
            issuance_id=issuance.pk,
            rows=[AwardRow(good, 100, "ok:1"), AwardRow(bad, 100, "bad:1")],
        )
    assert err.value.code == ErrorCode.UNBALANCED_POSTING
    assert (Posting.objects.count(), Entry.objects.count()) == before
    assert household_balance(household_id=Household.objects.get(account__pk=good).pk).balance == 0


def test_post_awards_still_takes_accounts(world):
    h = make_household(world.scheme, world.village_a1)
    issuance = system_account(scheme_id=world.scheme.pk, kind=AccountKind.ISSUANCE)
    posted = post_awards(
        scheme_id=world.scheme.pk,
        issuance=issuance,
        awards=[Award(account=household_account(household=h), amount=300, idempotency_key="k")],
    )
    assert list(posted) == ["k"]
    assert household_balance(household_id=h.pk).balance == 300
