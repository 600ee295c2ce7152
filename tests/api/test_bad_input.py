"""Bad input on every endpoint with a body or a parameter: always a 4xx in the error format.

Never a 500, never a write. Points are JSON numbers with at most two decimals; more decimals,
NaN, infinities, strings and out-of-range values are 422 (DESIGN.md section 9). Each test
sends a family of bad values and reports every one that was not refused.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from django.test import Client

from civicpoints.schemes.models import Role, User
from tests.api.conftest import assert_error, check_each, snapshot
from tests.factories import fund, make_household, make_staff

HUGE = "长" * 10_000
_keys = itertools.count(1)

WRONG_TYPES: list[Any] = [[], [1], {}, {"a": 1}, True, False, None]
BAD_IDS: list[Any] = [0, -1, 2**63, 2**64 + 1, 10**30, 1.5, 1.0, "1", "１", HUGE, *WRONG_TYPES]
BAD_POINTS: list[Any] = [
    0,
    0.0,
    -0.0,
    0.001,
    12.345,
    -12.345,
    1e-7,
    0.1 + 0.2,
    2**63,
    -(2**63),
    1_000_000_000.01,
    1e300,
    "12",
    "12.00",
    "１２",
    "NaN",
    HUGE,
    *WRONG_TYPES,
]
# Number texts Python's json module reads (NaN, Infinity, 1e309 as inf) but points must not be.
RAW_POINTS_READ = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"]
# Number texts that make the whole body unreadable.
RAW_POINTS_UNREADABLE = ["-NaN", "1" + "0" * 5000, "0x10", "1.", ".5", "+1", "01"]
RAW_BODIES: list[str | bytes] = [
    "",
    "{",
    "{'a': 1}",
    "NaN",
    "1e309",
    "null",
    "[]",
    '"text"',
    "[" * 100_000 + "]" * 100_000,
    b"\xff\xfe",
]
ADJUST = "/api/v1/ledger/adjustments"


@pytest.fixture
def staff(world, client_for):
    """A county admin (may do everything) and a funded household in the county."""
    client = client_for(Role.COUNTY_ADMIN)
    household = make_household(world.scheme, world.village_a1, "张三")
    fund(household, 1000)
    return client, household


def post_json(client: Client, path: str, body: Any, **headers: str):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data, content_type="application/json", **headers)


def adjust(client: Client, body: Any):
    return post_json(client, ADJUST, body, HTTP_IDEMPOTENCY_KEY=f"bad-{next(_keys)}")


def refused(response, status: int | None, code: str) -> dict:
    """A 4xx in the error format; ``status=None`` accepts any 4xx (unreadable bodies)."""
    if status is None:
        assert 400 <= response.status_code < 500, response.status_code
        status = response.status_code
    return assert_error(response, status, code)


def unchanged(send, status: int | None, code: str, field: str | None = None):
    """A check for ``check_each``: the call is refused as given and writes nothing."""

    def check(value: Any) -> None:
        before = snapshot()
        error = refused(send(value), status, code)
        if field is not None:
            assert error["detail"]["errors"][0]["field"] == field, error
        assert snapshot() == before

    return check


# --- POST /ledger/adjustments -----------------------------------------------------------


def test_adjustment_points(staff):
    client, household = staff

    check_each(
        BAD_POINTS,
        unchanged(
            lambda p: adjust(client, {"household": household.pk, "points": p, "reason": "补录"}),
            422,
            "invalid_input",
            field="points",
        ),
    )


@pytest.mark.parametrize(
    "raws,status",
    [(RAW_POINTS_READ, 422), (RAW_POINTS_UNREADABLE, 400)],
    ids=["read", "unreadable"],
)
def test_adjustment_points_as_raw_json_text(staff, raws, status):
    client, household = staff

    def send(raw: str):
        return adjust(client, f'{{"household": {household.pk}, "points": {raw}, "reason": "补录"}}')

    check_each(raws, unchanged(send, status, "invalid_input"))


def test_adjustment_household(staff):
    client, _ = staff

    check_each(
        BAD_IDS,
        unchanged(
            lambda h: adjust(client, {"household": h, "points": 1, "reason": "补录"}),
            422,
            "invalid_input",
            field="household",
        ),
    )


def test_adjustment_household_that_does_not_exist(staff):
    client, household = staff
    before = snapshot()

    response = adjust(client, {"household": household.pk + 10_000, "points": 1, "reason": "补录"})

    refused(response, 404, "not_found")
    assert snapshot() == before


def test_adjustment_reason(staff):
    client, household = staff

    check_each(
        [HUGE, "长" * 201, "a\x00b", "a\x1bb", "\x7f", 12, *WRONG_TYPES],
        unchanged(
            lambda r: adjust(client, {"household": household.pk, "points": 1, "reason": r}),
            422,
            "invalid_input",
            field="reason",
        ),
    )


def test_adjustment_reason_with_a_lone_surrogate(staff):
    client, household = staff
    before = snapshot()

    response = adjust(client, f'{{"household": {household.pk}, "points": 1, "reason": "a\\ud800"}}')

    refused(response, 422, "invalid_input")
    assert snapshot() == before


def test_adjustment_unreadable_body(staff):
    client, _ = staff

    check_each(RAW_BODIES, unchanged(lambda raw: adjust(client, raw), None, "invalid_input"))


def test_adjustment_form_encoded_body(staff):
    client, household = staff
    before = snapshot()

    response = client.post(
        ADJUST, {"household": household.pk, "points": 1, "reason": "补录"}, HTTP_IDEMPOTENCY_KEY="f"
    )

    refused(response, None, "invalid_input")
    assert snapshot() == before


def test_adjustment_extra_fields_are_ignored_not_obeyed(staff):
    client, household = staff

    response = adjust(
        client,
        {"household": household.pk, "points": 1, "reason": "补录", "scheme": 999, "actor": 1},
    )

    # Four eyes: filed (202), nothing posted yet; what is filed is what the schema took
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["household"], body["points"], body["status"]) == (household.pk, 1.0, "pending")


def test_adjustment_huge_idempotency_key(staff):
    client, household = staff
    before = snapshot()

    response = post_json(
        client,
        ADJUST,
        {"household": household.pk, "points": 1, "reason": "补录"},
        HTTP_IDEMPOTENCY_KEY="k" * 10_000,
    )

    refused(response, 400, "idempotency_key_missing")
    assert snapshot() == before


# --- POST /households -------------------------------------------------------------------

HOUSEHOLD_FIELDS: dict[str, list[Any]] = {
    "village": BAD_IDS,
    "head_name": [HUGE, "名" * 41, "", "   ", "a\x00", "\x07", 12, *WRONG_TYPES],
    "address": [HUGE, "址" * 201, "a\x00b", 3, [], {}, True],
    "phone": [HUGE, "1" * 21, "12345", "13812345678\x00", 13812345678, [], True],
    "id_number": [HUGE, "1" * 19, "1" * 18, "\x00" * 18, 110105194912310021, [], True],
    "size": [0, -1, 100, 2**63, "3", "３", 2.5, 3.0, *WRONG_TYPES],
    "status": ["gone", "", "ACTIVE", HUGE, 1, *WRONG_TYPES],
}


@pytest.mark.parametrize("field", list(HOUSEHOLD_FIELDS))
def test_create_household_fields(world, staff, field):
    client, _ = staff

    def send(value: Any):
        body = {"village": world.village_a1.pk, "head_name": "王五", field: value}
        return post_json(client, "/api/v1/households", body)

    check_each(HOUSEHOLD_FIELDS[field], unchanged(send, 422, "invalid_input"))


def test_create_household_unreadable_body(staff):
    client, _ = staff

    check_each(
        RAW_BODIES,
        unchanged(lambda raw: post_json(client, "/api/v1/households", raw), None, "invalid_input"),
    )


# --- GET /households?q= and the pages of history ----------------------------------------


def test_search_params(staff):
    client, _ = staff
    bad: list[dict[str, Any]] = [
        {"q": HUGE},
        {"q": "a" * 41},
        {"q": "a\x00"},
        *[{"limit": v} for v in (0, 1000, 201, -1, 2**63, "abc", "１０", "1.5", "")],
    ]

    check_each(
        bad,
        unchanged(lambda params: client.get("/api/v1/households", params), 422, "invalid_input"),
    )


def test_search_odd_but_harmless_queries_find_nothing(staff):
    client, _ = staff

    def check(q: str) -> None:
        response = client.get("/api/v1/households", {"q": q})
        assert (response.status_code, response.json()) == (200, [])

    check_each(
        ["%", "_", "%%%%", "\\", "'; DROP TABLE households_household; --", "😀", "𠮷", "a b"], check
    )


def test_entries_params(staff):
    client, household = staff
    bad: list[dict[str, Any]] = [
        *[{"limit": v} for v in (0, 1000, -1, "x", 2**63)],
        *[{"offset": v} for v in (-1, 10**7 + 1, 2**63, "x")],
    ]

    check_each(
        bad,
        unchanged(
            lambda params: client.get(f"/api/v1/households/{household.pk}/entries", params),
            422,
            "invalid_input",
        ),
    )


BAD_PATH_IDS = [
    "abc",
    "99999999999999999999",
    str(2**63),
    str(2**62),
    "0",
    "-1",
    "1.0",
    "1e3",
    "%EF%BC%91",  # full-width 1
    "1_0",
    "%201",
    "+1",
    "0x1",
    "%00",
    "1" * 5000,
]


@pytest.mark.parametrize("suffix", ["", "/entries"], ids=["detail", "entries"])
def test_bad_path_ids_are_404(staff, suffix):
    client, _ = staff

    check_each(
        BAD_PATH_IDS,
        unchanged(lambda raw: client.get(f"/api/v1/households/{raw}{suffix}"), 404, "not_found"),
    )


def test_fullwidth_path_id_does_not_alias_a_real_household(staff):
    client, household = staff
    fullwidth = "".join(chr(ord("０") + int(d)) for d in str(household.pk))

    response = client.get(f"/api/v1/households/{fullwidth}")

    assert_error(response, 404, "not_found")
    assert client.get(f"/api/v1/households/{household.pk}").status_code == 200


# --- GET /regions ------------------------------------------------------------------------


def test_regions_level(staff):
    client, _ = staff

    check_each(
        [0, -1, 6, 2**63, "abc", "３", ""],
        unchanged(
            lambda level: client.get("/api/v1/regions", {"level": level}), 422, "invalid_input"
        ),
    )


# --- POST /auth/token --------------------------------------------------------------------


def test_token_body(world):
    user = make_staff("clerk", Role.STORE_CLERK, world.village_a1, world.scheme)
    bad: list[dict[str, Any]] = [
        {"username": "clerk"},
        {"password": "x"},
        {"username": "", "password": "x"},
        {"username": HUGE, "password": "x"},
        {"username": "clerk", "password": HUGE},
        {"username": "clerk\x00", "password": "x"},
        {"username": 12, "password": "x"},
        {"username": ["clerk"], "password": "x"},
        {"username": "clerk", "password": None},
        {"username": "clerk", "password": True},
        {"username": "clerk", "password": {"$ne": ""}},
    ]

    check_each(
        bad,
        unchanged(
            lambda body: post_json(Client(), "/api/v1/auth/token", body), 422, "invalid_input"
        ),
    )
    # Bad input is not a login attempt: it does not count towards the lockout.
    assert User.objects.get(pk=user.pk).failed_logins == 0


def test_token_unreadable_body(world):
    check_each(
        RAW_BODIES,
        unchanged(
            lambda raw: post_json(Client(), "/api/v1/auth/token", raw), None, "invalid_input"
        ),
    )


def test_oversized_body_is_refused(staff):
    client, household = staff
    before = snapshot()
    padding = "x" * (6 * 1024 * 1024)  # above DATA_UPLOAD_MAX_MEMORY_SIZE

    response = adjust(
        client, {"household": household.pk, "points": 1, "reason": "补录", "pad": padding}
    )

    error = refused(response, 413, "invalid_input")
    assert error["detail"] == {"max_bytes": 5 * 1024 * 1024}
    assert snapshot() == before
