"""Child process for test_pool_restart: Django with the production pool settings against a
private PostgreSQL cluster. Reads a command per line from stdin, answers one JSON line."""

from __future__ import annotations

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicpoints.settings")
django.setup()

from django.db import DatabaseError, connection  # noqa: E402
from django.test import Client  # noqa: E402


def query() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return {"ok": cursor.fetchone()[0] == 1}
    except DatabaseError as exc:
        return {"ok": False, "error": type(exc).__name__}
    finally:
        connection.close()  # back to the pool, as at the end of a request


def requests() -> dict:
    client = Client()
    api = client.get("/api/v1/regions", HTTP_AUTHORIZATION="Bearer some-token")
    page = client.get("/open/110101001001/")
    return {
        "api": [api.status_code, api.get("Retry-After"), json.loads(api.content)["error"]["code"]],
        "page": [page.status_code, page.get("Retry-After")],
    }


print(json.dumps({"pool": bool(connection.settings_dict["OPTIONS"].get("pool"))}), flush=True)
for line in sys.stdin:
    command = line.strip()
    answer = query() if command == "query" else requests()
    print(json.dumps(answer), flush=True)
