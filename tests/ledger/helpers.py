"""Assert every ledger invariant (the same checks ``civicpoints verify`` runs)."""

from __future__ import annotations

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.verify import verify


def assert_ledger_ok(scheme_id: int, *, follow: bool = True) -> None:
    if follow:
        chain_follow(scheme_id=scheme_id)
    report = verify(scheme_id=scheme_id)
    assert report.ok, report.as_dict()
    if follow:
        assert report.lag == 0
