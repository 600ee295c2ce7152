"""Schemathesis over every operation of the published OpenAPI schema, with staff tokens.

A small demo county (``build_demo``) is seeded; every operation is called with generated
requests twice: with free path parameters (mostly unknown ids: 404s) and with the ids of real
objects of the county (household, claim, store and product, merchant and payment, ...), as a
county admin and as a village admin. Every answer must be documented (status code) and match
its schema (body); no answer may be a 5xx. Keyed operations get a fresh Idempotency-Key per case.

The run is deterministic (``derandomize``) and bounded (``EXAMPLES`` per operation and pass).
The counts are printed at the end of the run's summary. The API layer is the same on both
databases, so ``scripts/test`` runs this once, in its PostgreSQL pass (``one_database``).
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from civicpoints.activities.models import Activity, Attendance, MutualHelp
from civicpoints.awards.models import Claim, ClaimEvidence
from civicpoints.awards.services import claim_submit
from civicpoints.awards.services.evidence import evidence_attach
from civicpoints.demo.county import build_demo
from civicpoints.households.models import Household, Member
from civicpoints.merchants.models import Merchant, Payment, Statement
from civicpoints.rules.models import Rule
from civicpoints.schemes.models import User
from civicpoints.schemes.scope import actor_for_user
from civicpoints.schemes.services import api_token_issue
from civicpoints.stores.models import Delivery, Order, Product, Redemption, Store
from tests.factories import PASSWORD, image_bytes

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Cases per operation: free path parameters, real ids, and data that breaks the schema on purpose
# (wrong types, missing fields, out-of-range values: each must be a documented 4xx, never a 5xx).
# The village admin, whose scope is smaller (more 404s and 403s), runs a few positive cases.
EXAMPLES = {
    "county-admin": {"free": 2, "real": 4, "negative": 2},
    "village-admin": {"real": 2},
}


def _real_ids(scheme_id: int) -> dict[str, int]:
    """One real object of the demo county for each path parameter (pairs that belong together)."""
    first = lambda qs: qs.order_by("pk").values_list("pk", flat=True).first()  # noqa: E731
    store = Store.objects.filter(scheme_id=scheme_id, products__isnull=False).order_by("pk")[0]
    merchant = Merchant.objects.filter(scheme_id=scheme_id).order_by("pk")[0]
    activity = Activity.objects.filter(scheme_id=scheme_id).order_by("pk")[0]
    ids = {
        "household_id": first(
            Household.objects.filter(scheme_id=scheme_id, village__name="晓光村")
        ),
        "claim_id": first(Claim.objects.filter(scheme_id=scheme_id)),
        "photo_id": first(ClaimEvidence.objects.filter(scheme_id=scheme_id)),
        "activity_id": activity.pk,
        "attendance_id": first(Attendance.objects.filter(activity=activity)),
        "help_id": first(MutualHelp.objects.filter(scheme_id=scheme_id)),
        "store_id": store.pk,
        "product_id": first(Product.objects.filter(store=store)),
        "redemption_id": first(Redemption.objects.filter(store=store)),
        "order_id": first(Order.objects.filter(scheme_id=scheme_id)),
        "delivery_id": first(Delivery.objects.filter(scheme_id=scheme_id)),
        "merchant_id": merchant.pk,
        "payment_id": first(Payment.objects.filter(merchant=merchant)),
        "statement_id": first(Statement.objects.filter(scheme_id=scheme_id)),
    }
    return {name: pk for name, pk in ids.items() if pk is not None}


def _real_body_ids(scheme_id: int, ids: dict[str, int]) -> dict[str, int]:
    """Ids for body fields of the same names, so generated bodies reach the services."""
    household = ids["household_id"]
    return {
        "household": household,
        "payer": household,
        "helper": household,
        "member": Member.objects.filter(household_id=household).order_by("pk")[0].pk,
        "rule": Rule.objects.filter(scheme_id=scheme_id).order_by("pk")[0].pk,
        "product": ids["product_id"],
        "store": ids["store_id"],
        "merchant": ids["merchant_id"],
        "village": Household.objects.get(pk=household).village_id,
    }


def _with_real_ids(body: Any, real: dict[str, int]) -> Any:
    if isinstance(body, dict):
        return {
            k: real[k] if k in real and isinstance(v, int) else _with_real_ids(v, real)
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [_with_real_ids(item, real) for item in body]
    return body


class Run:
    def __init__(self) -> None:
        self.cases = 0
        self.seconds_in_app = 0.0  # the rest of the run is Hypothesis generating cases
        self.statuses: Counter[int] = Counter()
        self.failures: dict[str, str] = {}  # one report per operation and kind of failure
        self.keys = itertools.count(1)


def _exercise(
    operation: Any,
    *,
    run: Run,
    username: str,
    token: str,
    examples: int,
    path_parameters: dict[str, int] | None,
    body_ids: dict[str, int] | None,
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case: Any) -> None:
        if body_ids and isinstance(case.body, dict | list):
            case.body = _with_real_ids(case.body, body_ids)
        bearer = _token(username) if ENDS_TOKEN.search(operation.path) else token
        headers = {"Authorization": f"Bearer {bearer}", "Idempotency-Key": f"st-{next(run.keys)}"}
        run.cases += 1
        started = time.monotonic()
        try:
            response = case.call(headers=headers)
            run.seconds_in_app += time.monotonic() - started
            run.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                label = f"{operation.label}: {failure.title}"
                run.failures.setdefault(label, str(group)[:1500])

    one()


@pytest.fixture
def county(db: None, settings: Any, tmp_path: Any) -> Any:
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    demo = build_demo(households=20, password=PASSWORD, history=12)
    # A photo on a claim under review, so GET /photos/{id} answers with a real file.
    admin = actor_for_user(User.objects.get(username="county-admin"))
    claim = claim_submit(
        actor=admin,
        household=Household.objects.filter(scheme=demo.scheme).order_by("pk")[0],
        rule_id=Rule.objects.get(scheme=demo.scheme, code="E02", effective_to__isnull=True).pk,
        quantity=Decimal(1),
    )
    evidence_attach(actor=admin, claim=claim, data=image_bytes("JPEG"))
    return demo


def test_every_operation_answers_as_documented(
    one_database: None, county: Any, run_summary: Any
) -> None:
    # The WSGI app runs in this thread on the test's connection (inside its transaction), so
    # the request signals must not close that connection, as Django's test client arranges too.
    tokens = {username: _token(username) for username in EXAMPLES}
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["localhost", "testserver"]):
            run, operations = _run_all(county.scheme.pk, tokens)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    five_xx = sum(n for status, n in run.statuses.items() if status >= 500)
    counts = (
        f"schemathesis ({connection.vendor}): {operations} operations, {run.cases} cases, "
        f"{len(run.failures)} failures, {five_xx} 5xx; statuses {dict(sorted(run.statuses.items()))}"
    )
    run_summary(counts)
    assert run.failures == {}, "\n\n".join(run.failures.values())
    assert five_xx == 0
    assert operations >= 70


def _token(username: str) -> str:
    token, _row = api_token_issue(user=User.objects.get(username=username))
    return token


# Operations that end the caller's token (logout, logout-all): each case gets a token of its
# own, and they run after all the others.
ENDS_TOKEN = re.compile(r"/auth/logout")


def _run_all(scheme_id: int, tokens: dict[str, str]) -> tuple[Run, int]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", WSGIHandler())
    operations = [result.ok() for result in schema.get_all_operations()]
    # Logging out of all sessions ends every token of the user: those operations come last.
    operations.sort(key=lambda operation: bool(ENDS_TOKEN.search(operation.path)))
    ids = _real_ids(scheme_id)
    body_ids = _real_body_ids(scheme_id, ids)
    run = Run()
    started = time.monotonic()
    for username, examples in EXAMPLES.items():
        token = tokens[username]
        for operation in operations:
            names = {p.name for p in operation.path_parameters}
            for kind, count in examples.items():
                if kind == "real" and not names <= set(ids):
                    continue  # a path parameter of which the county has no object
                _exercise(
                    operation,
                    run=run,
                    username=username,
                    token=token,
                    examples=count,
                    path_parameters={n: ids[n] for n in names} if kind == "real" else None,
                    body_ids=body_ids if kind == "real" else None,
                    mode=GenerationMode.NEGATIVE if kind == "negative" else GenerationMode.POSITIVE,
                )
    print(
        f"\nschemathesis: {time.monotonic() - started:.1f} s, "
        f"of which {run.seconds_in_app:.1f} s in the application"
    )
    return run, len(operations)
