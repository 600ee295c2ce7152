"""Fixtures shared by every test; the suite runs unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.factories import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (runs in the PostgreSQL pass of scripts/test)")


@pytest.fixture(autouse=True)
def _fresh_settlement_memo() -> None:
    """The scheduler's per-process memo of settled days must not leak between tests."""
    from civicpoints.merchants import settlement

    settlement.settled_through.clear()
