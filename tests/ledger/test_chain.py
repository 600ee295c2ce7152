"""The journal follower: every committed posting chained once, in id order, gapless per scheme,
with a hash anyone can recompute from the published canonical form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from civicpoints.ledger.chain import GENESIS, chain_follow, chain_head
from civicpoints.ledger.models import AccountKind, ChainLink, PostingKind
from civicpoints.ledger.services import (
    Leg,
    capture,
    hold,
    household_account,
    post,
    reverse,
    system_account,
)
from civicpoints.ledger.verify import verify
from tests.factories import fund, make_household


def some_postings(world) -> list[int]:  # type: ignore[no-untyped-def]
    """Award, redemption, reversal and a hold's capture: four postings, in this order."""
    household = make_household(world.scheme, world.village_a1)
    account = household_account(household=household)
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")
    award = fund(household, 10_000)
    redemption = post(
        scheme_id=world.scheme.pk,
        kind=PostingKind.REDEMPTION,
        legs=[Leg(account, -2_500), Leg(store, 2_500)],
    )
    reversal = reverse(posting=redemption)
    captured = capture(hold_obj=hold(account=account, amount=1_000), to_account=store)
    return [award.pk, redemption.pk, reversal.pk, captured.pk]


def test_follower_chains_every_posting_once_in_id_order(world):
    # Given four postings not yet chained
    posting_ids = some_postings(world)

    # When the follower runs (twice)
    added = chain_follow(scheme_id=world.scheme.pk)
    added_again = chain_follow(scheme_id=world.scheme.pk)

    # Then each posting has one link, seq 1..4 in posting id order, each naming its predecessor
    assert (added, added_again) == (4, 0)
    links = list(ChainLink.objects.filter(scheme=world.scheme).order_by("seq"))
    assert [(link.seq, link.posting_id) for link in links] == list(
        zip(range(1, 5), posting_ids, strict=True)
    )
    assert [link.prev_hash for link in links] == [GENESIS] + [link.hash for link in links[:3]]
    assert chain_head(scheme_id=world.scheme.pk) == {"seq": 4, "hash": links[-1].hash}
    report = verify(scheme_id=world.scheme.pk)
    assert (report.ok, report.postings, report.chained, report.lag) == (True, 4, 4, 0)
    assert (report.head_seq, report.head_hash) == (4, links[-1].hash)


def test_link_hash_is_sha256_of_prev_hash_and_canonical_json(world):
    # Given one award, chained
    household = make_household(world.scheme, world.village_a1)
    award = fund(household, 1_250, memo="垃圾分类")
    chain_follow(scheme_id=world.scheme.pk)

    # When an outsider recomputes the first link from the published canonical form
    issuance_leg, household_leg = award.entries.order_by("pk")
    body = {
        "id": award.pk,
        "scheme": world.scheme.pk,
        "kind": "award",
        "created_at": award.created_at.astimezone(dt.UTC).isoformat(),
        "memo": "垃圾分类",
        "reverses": None,
        "key": None,
        "ref": ["", ""],
        "entries": [
            [issuance_leg.pk, issuance_leg.account_id, -1_250, None],
            [household_leg.pk, household_leg.account_id, 1_250, None],
        ],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256((GENESIS + text).encode()).hexdigest()

    # Then it is the stored hash
    link = ChainLink.objects.get(posting=award)
    assert (link.seq, link.prev_hash, link.hash) == (1, GENESIS, expected)


def test_follower_works_in_batches(world):
    # Given four postings
    posting_ids = some_postings(world)

    # When the follower takes one batch of two
    assert chain_follow(scheme_id=world.scheme.pk, batch=2, max_batches=1) == 2

    # Then the oldest two are chained and the other two show as lag until the next run
    chained = ChainLink.objects.order_by("seq").values_list("posting_id", flat=True)
    assert list(chained) == posting_ids[:2]
    report = verify(scheme_id=world.scheme.pk)
    assert (report.ok, report.chained, report.lag, report.head_seq) == (True, 2, 2, 2)
    assert chain_follow(scheme_id=world.scheme.pk, batch=2) == 2
    report = verify(scheme_id=world.scheme.pk)
    assert (report.ok, report.chained, report.lag, report.head_seq) == (True, 4, 0, 4)


def test_posting_after_chaining_is_lag_until_the_follower_runs(world):
    # Given a chained ledger
    some_postings(world)
    chain_follow(scheme_id=world.scheme.pk)
    head = chain_head(scheme_id=world.scheme.pk)

    # When one more posting is made
    late = fund(make_household(world.scheme, world.village_b1), 300)

    # Then verify is still ok but reports it as lag, and the head has not moved
    report = verify(scheme_id=world.scheme.pk)
    assert (report.ok, report.postings, report.chained, report.lag) == (True, 5, 4, 1)
    assert {"seq": report.head_seq, "hash": report.head_hash} == head
    assert report.as_dict()["lag"] == 1

    # And after the follower runs it is link 5, chained to the old head
    assert chain_follow(scheme_id=world.scheme.pk) == 1
    link = ChainLink.objects.get(posting=late)
    assert (link.seq, link.prev_hash) == (5, head["hash"])
    report = verify(scheme_id=world.scheme.pk)
    assert (report.ok, report.lag, report.head_seq) == (True, 0, 5)


def test_each_scheme_has_its_own_chain(world):
    # Given postings in two schemes
    mine = some_postings(world)
    theirs = fund(make_household(world.other_scheme, world.other_village), 700)

    # When each scheme's follower runs
    assert chain_follow(scheme_id=world.other_scheme.pk) == 1
    assert chain_follow(scheme_id=world.scheme.pk) == 4

    # Then each chain starts at seq 1 from the genesis hash and holds only its own postings
    other = ChainLink.objects.get(scheme=world.other_scheme)
    assert (other.seq, other.posting_id, other.prev_hash) == (1, theirs.pk, GENESIS)
    assert list(
        ChainLink.objects.filter(scheme=world.scheme).order_by("seq").values_list("posting_id")
    ) == [(pk,) for pk in mine]
    assert verify(scheme_id=world.scheme.pk).head_seq == 4
    assert verify(scheme_id=world.other_scheme.pk).head_seq == 1
