"""A store world and a merchant world for the counter pages (built by the domain tests' builders)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicpoints.schemes.models import User
from tests.factories import World
from tests.merchants.conftest import Till, build_till
from tests.stores.conftest import Shop, build_shop


@pytest.fixture
def shop(world: World) -> Shop:
    return build_shop(world)


@pytest.fixture
def till(world: World) -> Till:
    return build_till(world)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_key(html: str) -> str:
    """The idempotency key the page put into its form."""
    found = re.search(r'name="key" value="([^"]+)"', html)
    assert found, "no idempotency key in the form"
    return found.group(1)
