"""The faces' form keys and the points of a refusal's detail (``civicpoints.faces.forms``)."""

from __future__ import annotations

import pytest

from civicpoints.errors import ApplicationError, ErrorCode
from civicpoints.faces.forms import KEY_PATTERN, FormKeys, detail_hundredths, detail_points

KEYS = FormKeys(prefix="test-", expired="页面已过期")


def test_a_new_key_carries_the_prefix_and_passes_its_own_check():
    key = KEYS.new()

    assert key.startswith("test-")
    assert len(key) == len("test-") + 32
    assert KEY_PATTERN.match(key)
    assert KEYS.check(f"  {key}\n") == key
    assert KEYS.new() != key


@pytest.mark.parametrize(
    "raw", [None, "", "short", "has space in it 123", "全角ｋｅｙ-00000000000000", "x" * 101]
)
def test_a_missing_or_malformed_key_is_refused_at_the_key_field(raw: str | None):
    with pytest.raises(ApplicationError) as refused:
        KEYS.check(raw)

    assert refused.value.code == ErrorCode.INVALID_INPUT
    assert refused.value.message == "页面已过期"
    assert refused.value.detail == {"field": "key"}


def test_after_a_refusal_the_form_keeps_its_key_unless_spent_or_bad():
    key = KEYS.new()
    short = ApplicationError(ErrorCode.INSUFFICIENT_POINTS)
    reused = ApplicationError(ErrorCode.IDEMPOTENCY_KEY_REUSED)

    assert KEYS.after(key, short) == key  # nothing happened: a retry is still one write
    fresh = KEYS.after(key, reused)
    assert fresh != key and fresh.startswith("test-")
    bad = KEYS.after("forged", short)
    assert bad != "forged" and KEY_PATTERN.match(bad)


@pytest.mark.parametrize(
    ("value", "hundredths", "text"),
    [
        ("12.5", 1250, "12.5"),
        (12.5, 1250, "12.5"),
        ("3", 300, "3"),
        ("0.01", 1, "0.01"),
        ("", None, ""),
        ("abc", None, "abc"),
        ("Infinity", None, "Infinity"),
        (None, None, "None"),
    ],
)
def test_points_in_a_refusals_detail(value: object, hundredths: int | None, text: str):
    assert detail_hundredths(value) == hundredths
    assert detail_points(value) == text
