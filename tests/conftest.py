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
