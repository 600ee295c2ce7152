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


def test_openapi_lists_every_v1_path(db):
    response = Client().get("/api/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, methods in V1_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    assert schema["components"]["securitySchemes"] == {
        "BearerToken": {"type": "http", "scheme": "bearer"}
    }


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
            assert paths[path][method]["security"] == [{"BearerToken": []}], (path, method)


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
