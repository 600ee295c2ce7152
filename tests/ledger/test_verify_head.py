"""A published chain head (seq, hash) checked later: ``civicpoints verify --head SEQ:HASH``
and ``GET /api/v1/ledger/verify-head`` (public, no token) pass while nothing up to it changed,
and fail with a clear message when the head is not in the chain or the chain was tampered with.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client

from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.models import ChainLink
from civicpoints.ledger.verify import parse_head, verify_head
from tests.factories import fund, make_household
from tests.ledger.helpers import append_only_lifted
from tests.ledger.test_verify import rewrite

URL = "/api/v1/ledger/verify-head"


@pytest.fixture
def chain(world):  # type: ignore[no-untyped-def]
    """Four chained awards; the head after the third was 'printed on the notice board'."""
    cache.clear()
    household = make_household(world.scheme, world.village_a1)
    postings = [fund(household, 1_000 * (i + 1)) for i in range(3)]
    chain_follow(scheme_id=world.scheme.pk)
    printed = ChainLink.objects.get(scheme=world.scheme, seq=3)
    postings.append(fund(household, 4_000))
    chain_follow(scheme_id=world.scheme.pk)
    return {"printed": printed, "postings": postings, "household": household}


def run(head: str, *extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify", f"--head={head}", *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_printed_head_still_verifies_after_more_postings(world, chain):
    printed = chain["printed"]
    out, _ = run(f"{printed.seq}:{printed.hash}")
    lines = out.splitlines()
    assert lines[0] == f"链头 seq=3 hash={printed.hash}"
    assert lines[1].startswith(f"方案：通榆县文明积分（{world.scheme.pk}），该条入链时间 20")
    assert lines[2:] == ["通过：第 1 条到第 3 条记账的哈希链完整，第 3 条的校验码与公布的一致。"]
    # Upper-case hex, spaces around, and naming the scheme work the same
    out, _ = run(f" 3:{printed.hash.upper()} ", "--scheme", str(world.scheme.pk))
    assert out.splitlines()[-1].startswith("通过：")


def test_json_output(world, chain):
    printed = chain["printed"]
    out, _ = run(f"3:{printed.hash}", "--json")
    body = json.loads(out)
    assert {k: body[k] for k in ("ok", "seq", "hash", "scheme", "first_bad_seq")} == {
        "ok": True,
        "seq": 3,
        "hash": printed.hash,
        "scheme": world.scheme.pk,
        "first_bad_seq": None,
    }


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("3", "链头应写成 序号:校验码"),
        ("x:" + "a" * 64, "序号应为从 1 开始的整数"),
        ("0:" + "a" * 64, "序号应为从 1 开始的整数"),
        ("-1:" + "a" * 64, "序号应为从 1 开始的整数"),
        ("3:abc", "校验码应为 64 位十六进制数字"),
        ("3:" + "g" * 64, "校验码应为 64 位十六进制数字"),
    ],
)
def test_a_malformed_head_is_refused_with_a_clear_message(world, chain, head, message):
    with pytest.raises(CommandError) as caught:
        run(head)
    assert message in str(caught.value)


def test_a_hash_that_is_not_the_chains_fails(world, chain):
    with pytest.raises(CommandError) as caught:
        run("3:" + "a" * 64)
    assert str(caught.value) == "链头核对未通过"
    check = verify_head(seq=3, hash="a" * 64)
    assert (check.ok, check.message) == (
        False,
        "不通过：链上第 3 条的校验码与公布的不同。公布之后账本被改动过，或者校验码抄错了。",
    )
    beyond = verify_head(seq=99, hash=chain["printed"].hash)
    assert (beyond.ok, beyond.message) == (
        False,
        "不通过：链上没有第 99 条。序号抄错了，或者账本被删改过。",
    )
    # The right hash with the wrong scheme is not found either
    other = verify_head(seq=3, hash=chain["printed"].hash, scheme_id=world.other_scheme.pk)
    assert other.ok is False


def test_a_tampered_entry_before_the_head_fails_and_names_its_seq(world, chain):
    # Given the amount of posting 2 (chained at seq 2) is changed behind the guard
    second = chain["postings"][1]
    rewrite(
        "UPDATE ledger_entry SET amount = amount * 10 WHERE posting_id = %s",
        [second.pk],
        "ledger_entry",
    )
    printed = chain["printed"]
    # When the printed head is checked, then it fails at seq 2
    check = verify_head(seq=3, hash=printed.hash)
    assert (check.ok, check.first_bad_seq) == (False, 2)
    assert check.message.startswith("不通过：从第 1 条到第 3 条重新计算，第 2 条对不上：")
    with pytest.raises(CommandError):
        run(f"3:{printed.hash}")
    # A head before the tampering still verifies
    first = ChainLink.objects.get(scheme=world.scheme, seq=1)
    assert verify_head(seq=1, hash=first.hash).ok is True


def test_a_rewritten_chain_no_longer_matches_the_printed_head(world, chain):
    # Given someone rewrites the stored hash of link 3 (to hide a change) ...
    printed = chain["printed"]
    with append_only_lifted("ledger_chainlink"):
        ChainLink.objects.filter(pk=printed.pk).update(hash="b" * 64)
    # ... then the printed head is no longer in the chain
    assert verify_head(seq=3, hash=printed.hash).ok is False


def test_parse_head():
    assert parse_head(" 12:" + "AB" * 32) == (12, "ab" * 32)
    with pytest.raises(ValueError):
        parse_head("12;" + "ab" * 32)


# --- the API -------------------------------------------------------------------------------


def test_the_api_answers_without_a_token(world, chain):
    printed = chain["printed"]
    response = Client().get(URL, {"seq": "3", "hash": printed.hash})
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("ok", "seq", "hash", "scheme", "first_bad_seq", "message")} == {
        "ok": True,
        "seq": 3,
        "hash": printed.hash,
        "scheme": world.scheme.pk,
        "first_bad_seq": None,
        "message": "通过：第 1 条到第 3 条记账的哈希链完整，第 3 条的校验码与公布的一致。",
    }
    assert body["date"] is not None


def test_the_api_says_no_for_a_wrong_or_tampered_head(world, chain):
    printed = chain["printed"]
    wrong = Client().get(URL, {"seq": "3", "hash": "c" * 64}).json()
    assert (wrong["ok"], wrong["scheme"]) == (False, None)
    rewrite(
        "UPDATE ledger_entry SET amount = amount * 10 WHERE posting_id = %s",
        [chain["postings"][0].pk],
        "ledger_entry",
    )
    tampered = Client().get(URL, {"seq": "3", "hash": printed.hash}).json()
    assert (tampered["ok"], tampered["first_bad_seq"]) == (False, 1)


def test_a_good_answer_is_remembered_for_a_minute_a_bad_one_is_not(world, chain):
    printed = chain["printed"]
    assert Client().get(URL, {"seq": "3", "hash": printed.hash}).json()["ok"] is True
    rewrite(
        "UPDATE ledger_entry SET amount = amount * 10 WHERE posting_id = %s",
        [chain["postings"][0].pk],
        "ledger_entry",
    )
    # Within the minute the remembered answer is given; once it expires the walk runs again
    assert Client().get(URL, {"seq": "3", "hash": printed.hash}).json()["ok"] is True
    cache.clear()
    assert Client().get(URL, {"seq": "3", "hash": printed.hash}).json()["ok"] is False
    assert Client().get(URL, {"seq": "3", "hash": printed.hash}).json()["ok"] is False


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"hash": "a" * 64}, "seq"),
        ({"seq": "0", "hash": "a" * 64}, "seq"),
        ({"seq": "1.5", "hash": "a" * 64}, "seq"),
        ({"seq": "3"}, "hash"),
        ({"seq": "3", "hash": "xyz"}, "hash"),
        ({"seq": "3", "hash": "a" * 65}, "hash"),
        ({"seq": "3", "hash": "a" * 64, "scheme": "abc"}, "scheme"),
    ],
)
def test_bad_api_input_is_422_with_the_field(world, chain, query, field):
    response = Client().get(URL, query)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["detail"]) == ("invalid_input", {"field": field})
    assert error["message"]
