"""The published contract: OpenAPI at /api/openapi.json and docs at /api/docs with no CDN."""

from __future__ import annotations

import re

from django.test import Client

V1_PATHS = {
    "/api/v1/auth/token": {"post"},
    "/api/v1/regions": {"get"},
    "/api/v1/households": {"get", "post"},
    "/api/v1/households/{household_id}": {"get"},
    "/api/v1/households/{household_id}/entries": {"get"},
    "/api/v1/ledger/adjustments": {"post"},
    "/api/v1/ledger/verify": {"get"},
    "/api/v1/auth/resident-token": {"post"},
    "/api/v1/stores": {"get"},
    "/api/v1/stores/{store_id}/products": {"get", "post"},
    "/api/v1/stores/{store_id}/redemptions": {"get", "post"},
    "/api/v1/households/{household_id}/payment-codes": {"post"},
    "/api/v1/merchants": {"get", "post"},
    "/api/v1/merchants/{merchant_id}/payments": {"get", "post"},
    "/api/v1/merchants/{merchant_id}/payments/{payment_id}/refunds": {"post"},
    "/api/v1/settlements/run": {"post"},
    "/api/v1/settlements": {"get"},
}
NO_AUTH = {"/api/v1/auth/token", "/api/v1/auth/resident-token"}
# The lender API (api/lender.py): its own key, never a staff or resident token.
LENDER_PATHS = {
    "/api/v1/lender/me": {"get"},
    "/api/v1/lender/consents": {"get"},
    "/api/v1/lender/consents/{ref}": {"get"},
    "/api/v1/lender/consents/{ref}/statements": {"post"},
    "/api/v1/lender/statements/{code}": {"get"},
    "/api/v1/lender/statements/{code}/print": {"get"},
}


def test_openapi_lists_every_v1_path(db):
    response = Client().get("/api/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, methods in V1_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer"}
    assert schemes["LenderKey"] == {"type": "http", "scheme": "bearer"}
    # The counter page's session, for the offline sync only (docs/offline-counter.md)
    assert schemes["CounterSession"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
    assert set(schemes) == {"BearerToken", "LenderKey", "CounterSession"}
    for path, methods in LENDER_PATHS.items():
        for method in methods:
            assert paths[path][method]["security"] == [{"LenderKey": []}], (path, method)
    lender_only = {
        p
        for p, ops in paths.items()
        for op in ops.values()
        if {"LenderKey": []} in op.get("security", [])
    }
    assert lender_only == {p for p in paths if p.startswith("/api/v1/lender/")}


def test_openapi_describes_points_and_the_idempotency_key(db):
    schema = Client().get("/api/openapi.json").json()

    points = schema["components"]["schemas"]["AdjustmentIn"]["properties"]["points"]
    assert (points["type"], points["multipleOf"]) == ("number", 0.01)
    adjust = schema["paths"]["/api/v1/ledger/adjustments"]["post"]
    headers = {p["name"]: p for p in adjust["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in headers
    error = schema["components"]["schemas"]["ErrorOut"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorBody")
    for status in ("400", "403", "404", "409", "422"):
        assert status in adjust["responses"], status


KEYED = [
    "/api/v1/stores/{store_id}/redemptions",
    "/api/v1/stores/{store_id}/redemptions/{redemption_id}/return",
    "/api/v1/stores/{store_id}/orders",
    "/api/v1/stores/{store_id}/ceremonies",
    "/api/v1/orders/{order_id}/pickup",
    "/api/v1/merchants/{merchant_id}/payments",
    "/api/v1/merchants/{merchant_id}/payments/{payment_id}/refunds",
]


def test_openapi_documents_the_key_on_every_call_that_spends_points(db):
    paths = Client().get("/api/openapi.json").json()["paths"]

    for path in KEYED:
        operation = paths[path]["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        assert "400" in operation["responses"], path
    payment = Client().get("/api/openapi.json").json()["components"]["schemas"]["PaymentIn"]
    assert payment["properties"]["points"]["multipleOf"] == 0.01


def test_token_endpoint_needs_no_auth_and_the_rest_do(db):
    paths = Client().get("/api/openapi.json").json()["paths"]

    for path in NO_AUTH:
        assert "security" not in paths[path]["post"], path
    for path, methods in V1_PATHS.items():
        if path in NO_AUTH:
            continue
        for method in methods:
            security = paths[path][method]["security"]
            if (path, method) in SESSION_TOO:
                assert security == [{"BearerToken": []}, {"CounterSession": []}]
            else:
                assert security == [{"BearerToken": []}], (path, method)


# The one call the counter page makes on its own session: syncing its offline sales.
SESSION_TOO = {("/api/v1/stores/{store_id}/redemptions", "post")}


def test_docs_page_uses_only_local_static_files(db):
    client = Client()

    response = client.get("/api/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' >]+", html)
    assert "//cdn" not in html and 'src="//' not in html and 'href="//' not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert len(body) > 0, asset


def test_every_operation_documents_its_error_answers_in_the_error_shape(db):
    schema = Client().get("/api/openapi.json").json()
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            wanted = {"400"}
            if operation.get("security"):
                wanted.add("401")
            if "requestBody" in operation or operation.get("parameters"):
                wanted.add("422")
            for status in sorted(wanted):
                answer = operation["responses"].get(status)
                if answer is None or answer["content"]["application/json"]["schema"] != error_ref:
                    missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
    body = schema["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "detail"}
    codes = schema["components"]["schemas"]["ErrorCode"]["enum"]
    assert {"invalid_input", "not_authenticated", "insufficient_points"} <= set(codes)


def test_a_rule_reference_marks_points_per_hour_as_optional(db):
    schema = Client().get("/api/openapi.json").json()
    components = schema["components"]["schemas"]

    rule = components["RuleRef"]
    assert rule["required"] == ["id", "code", "name"]
    assert "points_per_hour" in rule["properties"]
    for out in ("ClaimOut", "ActivityOut"):
        assert components[out]["properties"]["rule"] == {"$ref": "#/components/schemas/RuleRef"}


def test_no_two_api_schemas_share_a_name():
    """django-ninja names each component after its class: two classes of one name (a RuleRef in
    claims and another in activities) are published as one, and one of them is then wrong."""
    import importlib
    import pkgutil

    from ninja import Schema

    import civicpoints.api

    seen: dict[str, str] = {}
    clashes = []
    modules = pkgutil.walk_packages(civicpoints.api.__path__, "civicpoints.api.")
    for info in modules:
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, Schema)
                and value.__module__ == info.name
            ):
                if name in seen and seen[name] != info.name:
                    clashes.append(f"{name}: {seen[name]} and {info.name}")
                seen.setdefault(name, info.name)
    assert clashes == []


def test_only_the_api_docs_page_allows_inline_styles(db):
    client = Client()

    docs = client.get("/api/docs")["Content-Security-Policy"]
    pages = [client.get(url)["Content-Security-Policy"] for url in ("/login/", "/m/login/")]

    directives = dict(d.split(" ", 1) for d in docs.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    for policy in pages:  # django-csp does not keep the directives in one order
        assert "unsafe" not in policy
        assert dict(d.split(" ", 1) for d in policy.split("; "))["style-src"] == "'self'"
