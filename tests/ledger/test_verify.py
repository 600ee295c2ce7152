"""verify(): a clean ledger passes; tampering behind the append-only guard is found and the
first bad ``seq`` is named, by the function, the ``civicpoints verify`` command and the API.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import Account, AccountKind, ChainLink, PostingKind
from civicpoints.ledger.services import Leg, hold, household_account, post, system_account
from civicpoints.ledger.verify import verify
from civicpoints.schemes.models import Role
from tests.factories import api_client, fund, make_household, make_staff
from tests.ledger.helpers import append_only_lifted, assert_ledger_ok


@pytest.fixture
def ledger(world):  # type: ignore[no-untyped-def]
    """Five chained postings: four awards to two households, then one redemption."""
    first = make_household(world.scheme, world.village_a1)
    second = make_household(world.scheme, world.village_b1)
    postings = [fund(first, 1_000), fund(second, 2_000), fund(first, 3_000), fund(second, 4_000)]
    store = system_account(scheme_id=world.scheme.pk, kind=AccountKind.STORE, owner_ref="s:1")
    postings.append(
        post(
            scheme_id=world.scheme.pk,
            kind=PostingKind.REDEMPTION,
            legs=[Leg(household_account(household=first), -500), Leg(store, 500)],
        )
    )
    assert chain_follow(scheme_id=world.scheme.pk) == 5
    return {"households": (first, second), "postings": postings, "store": store}


def problems(report) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    return sorted((p.check, p.seq, p.posting, p.account) for p in report.problems)


def rewrite(sql: str, params: list, table: str) -> None:  # type: ignore[type-arg]
    with append_only_lifted(table), connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.rowcount >= 1


def seq_of(posting) -> int:  # type: ignore[no-untyped-def]
    return ChainLink.objects.get(posting=posting).seq


def test_clean_ledger_verifies(world, ledger):
    # Given five postings, all chained; when verified
    report = verify(scheme_id=world.scheme.pk)
    # Then every invariant holds and the head is the fifth link
    head = ChainLink.objects.get(scheme=world.scheme, seq=5)
    assert report.as_dict() == {
        "scheme": world.scheme.pk,
        "ok": True,
        "postings": 5,
        "chained": 5,
        "lag": 0,
        "head": {"seq": 5, "hash": head.hash},
        "first_bad_seq": None,
        "problems": [],
    }


def test_rewritten_chain_hash_names_its_seq(world, ledger):
    # Given the stored hash of link 3 is rewritten
    rewrite(
        "UPDATE ledger_chainlink SET hash = %s WHERE scheme_id = %s AND seq = 3",
        ["f" * 64, world.scheme.pk],
        "ledger_chainlink",
    )
    # When verified, then link 3 is named as the first bad one; nothing else is wrong
    report = verify(scheme_id=world.scheme.pk)
    third = ledger["postings"][2]
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert problems(report) == [("chain_hash", 3, third.pk, None)]
    # All five postings still have a link: the follower is not behind
    assert (report.postings, report.lag) == (5, 0)
    assert report.head_seq == 2


def test_rewritten_prev_hash_names_its_seq(world, ledger):
    # Given link 4 no longer names link 3's hash as its predecessor
    rewrite(
        "UPDATE ledger_chainlink SET prev_hash = %s WHERE scheme_id = %s AND seq = 4",
        ["0" * 64, world.scheme.pk],
        "ledger_chainlink",
    )
    report = verify(scheme_id=world.scheme.pk)
    assert report.first_bad_seq == 4
    assert problems(report) == [("chain_linked", 4, None, None)]


def test_missing_link_names_the_gap(world, ledger, postgres_only):
    # Given link 2 is deleted (PostgreSQL refuses that unless the trigger is disabled)
    rewrite(
        "DELETE FROM ledger_chainlink WHERE scheme_id = %s AND seq = 2",
        [world.scheme.pk],
        "ledger_chainlink",
    )
    report = verify(scheme_id=world.scheme.pk)
    assert report.first_bad_seq == 2
    assert problems(report) == [("chain_gapless", 2, None, None)]
    assert report.lag == 1  # posting 2 really has no link now


def test_rewritten_amounts_found_by_balance_and_chain(world, ledger):
    # Given the third posting (an award of 30.00 to the first household) is rewritten to
    # 31.00 on both legs, so that it still sums to zero, but the household balance is not
    first, _second = ledger["households"]
    award = ledger["postings"][2]
    rewrite(
        "UPDATE ledger_entry SET amount = amount + 100 WHERE posting_id = %s AND amount > 0",
        [award.pk],
        "ledger_entry",
    )
    rewrite(
        "UPDATE ledger_entry SET amount = amount - 100 WHERE posting_id = %s AND amount < 0",
        [award.pk],
        "ledger_entry",
    )
    # When verified
    report = verify(scheme_id=world.scheme.pk)
    # Then the household's balance no longer equals its entries, and the chain breaks exactly
    # at that posting's link; the ledger as a whole still sums to zero
    account = household_account(household=first)
    assert problems(report) == [
        ("balance_equals_entries", None, None, account.pk),
        ("chain_hash", seq_of(award), award.pk, None),
    ]
    assert report.first_bad_seq == seq_of(award) == 3


def test_one_sided_rewrite_breaks_the_posting_and_the_ledger_sum(world, ledger):
    # Given only the household leg of the redemption (-5.00) is rewritten to -1.00
    redemption = ledger["postings"][4]
    first, _second = ledger["households"]
    rewrite(
        "UPDATE ledger_entry SET amount = -100 WHERE posting_id = %s AND amount = -500",
        [redemption.pk],
        "ledger_entry",
    )
    report = verify(scheme_id=world.scheme.pk)
    account = household_account(household=first)
    assert problems(report) == [
        ("balance_equals_entries", None, None, account.pk),
        ("chain_hash", 5, redemption.pk, None),
        ("ledger_sums_to_zero", None, None, None),
        ("posting_sums_to_zero", None, redemption.pk, None),
    ]
    assert report.first_bad_seq == 5


def test_verify_command_passes_then_names_first_bad_seq(world, ledger):
    # Given a clean ledger, the command reports it and exits normally
    out = StringIO()
    call_command("verify", "--scheme", str(world.scheme.pk), stdout=out)
    assert "通榆县文明积分: 正常；记账 5 笔，已入链 5 笔（待入链 0）" in out.getvalue()

    # When link 2's hash is rewritten, then the command fails (exit 1) and names seq 2
    rewrite(
        "UPDATE ledger_chainlink SET hash = %s WHERE scheme_id = %s AND seq = 2",
        ["e" * 64, world.scheme.pk],
        "ledger_chainlink",
    )
    out = StringIO()
    with pytest.raises(CommandError, match="账本校验未通过"):
        call_command("verify", stdout=out)
    lines = out.getvalue().splitlines()
    assert "  第一个损坏的 seq: 2" in lines
    assert any(line.startswith("  - [chain_hash] 哈希链序号 2") for line in lines)
    # The other scheme (no postings) is reported as fine
    assert "镇赉县文明积分: 正常；记账 0 笔" in out.getvalue()


def test_verify_command_follow_chains_first(world, ledger):
    # Given a posting made after the last follower run
    fund(ledger["households"][1], 100)
    out = StringIO()
    # When verify runs with --follow, then it chains it first and reports no lag
    call_command("verify", "--scheme", str(world.scheme.pk), "--follow", stdout=out)
    assert "记账 6 笔，已入链 6 笔（待入链 0），链头 seq=6" in out.getvalue()


def test_verify_api_for_auditors(world, ledger):
    # Given an auditor of the county
    auditor = make_staff("auditor", Role.AUDITOR, world.county, world.scheme)
    client = api_client(auditor)

    # When the ledger is clean, then the report says ok
    response = client.get("/api/v1/ledger/verify")
    assert response.status_code == 200
    assert response.json() == [verify(scheme_id=world.scheme.pk).as_dict()]
    assert (response.json()[0]["ok"], response.json()[0]["head"]["seq"]) == (True, 5)

    # When link 4's hash has been rewritten, then it says not ok and names seq 4
    rewrite(
        "UPDATE ledger_chainlink SET hash = %s WHERE scheme_id = %s AND seq = 4",
        ["d" * 64, world.scheme.pk],
        "ledger_chainlink",
    )
    response = client.get("/api/v1/ledger/verify")
    assert response.status_code == 200
    [report] = response.json()
    assert (report["scheme"], report["ok"], report["first_bad_seq"]) == (world.scheme.pk, False, 4)
    assert [(p["check"], p["seq"]) for p in report["problems"]] == [("chain_hash", 4)]


def test_verify_api_refuses_village_admins(world, ledger):
    village_admin = make_staff("village-admin", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    response = api_client(village_admin).get("/api/v1/ledger/verify")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_held_that_no_active_hold_explains_is_reported(world):
    h = make_household(world.scheme, world.village_a1)
    fund(h, 5000)
    account = household_account(household=h)
    hold(account=account, amount=1000)
    assert_ledger_ok(world.scheme.pk)
    Account.objects.filter(pk=account.pk).update(held=1500)
    report = verify(scheme_id=world.scheme.pk)
    assert [p.check for p in report.problems] == ["held_equals_active_holds"]
    assert report.problems[0].account == account.pk
