"""The end of notice for a county's month, set-based: plain awards go to the ledger in one call
per batch, the claims are marked in one call, and nothing a batch reads is found by scanning a
table (autovacuum is off where the product runs and no table has statistics)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from civicpoints.awards.models import Claim, ClaimEvent, ClaimStatus
from civicpoints.awards.services import notices, notices_finalize
from civicpoints.households.models import Household
from civicpoints.ledger.models import Entry, Posting
from civicpoints.ledger.selectors import household_balance
from tests.awards.test_import import add_households, imported, name, row, xlsx_bytes
from tests.ledger.helpers import assert_ledger_ok

TABLES = (
    "awards_claim",
    "ledger_posting",
    "ledger_entry",
    "ledger_account",
    "households_household",
)


def seq_scans() -> dict[str, int]:
    with connection.cursor() as c:
        c.execute(
            "SELECT relname, seq_scan FROM pg_stat_xact_user_tables WHERE relname = ANY (%s)",
            [list(TABLES)],
        )
        return dict(c.fetchall())


@pytest.mark.django_db
def test_a_months_sheet_is_posted_in_batches_without_scanning_a_table(
    earning, postgres_only, monkeypatch
):
    # Given 1,200 households, each with one award on notice and one approved a day later,
    # in tables that were never analysed
    monkeypatch.setattr(notices, "BATCH", 250)
    add_households(earning, earning.world.village_a1, range(1, 1201))
    imported(
        earning,
        xlsx_bytes([row(n, "B01", 10) for n in range(1, 1201)]),
        actor=earning.village_admin,
        approve=True,
    )
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM pg_stats WHERE tablename = ANY (%s)", [list(TABLES)])
        assert c.fetchone()[0] == 0
    before = seq_scans()

    # When notice ends
    result = notices_finalize(at=timezone.now() + dt.timedelta(days=4))

    # Then every claim is posted, in five batches, and no table was scanned to do it
    assert result.count == 1200
    after = seq_scans()
    assert {t: after.get(t, 0) - before.get(t, 0) for t in TABLES} == dict.fromkeys(TABLES, 0)
    claims = Claim.objects.filter(scheme=earning.scheme)
    assert claims.filter(status=ClaimStatus.POSTED, posting__isnull=False).count() == 1200
    assert ClaimEvent.objects.filter(action="post", reason="公示期满，积分入账").count() == 1200
    assert Posting.objects.filter(kind="award", ref_type="claim").count() == 1200
    assert Entry.objects.count() == 2400
    first = Household.objects.get(head_name=name(1))
    assert household_balance(household_id=first.pk).balance == 1000
    claim = claims.get(household=first)
    assert (claim.posting.memo, claim.posting.ref_id, claim.posting.idempotency_key) == (
        claim.rule.name,
        str(claim.pk),
        f"claim:{claim.pk}",
    )
    assert_ledger_ok(earning.scheme.pk)
