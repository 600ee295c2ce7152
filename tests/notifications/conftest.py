"""Notifications go to the memory SMS backend; every test starts with an empty outbox."""

from __future__ import annotations

import pytest

from civicpoints.households.sms import MemoryBackend
from tests.awards.conftest import Earning, earning  # noqa: F401  (the earning world fixture)


@pytest.fixture(autouse=True)
def outbox(settings) -> list[tuple[str, str]]:
    settings.SMS_BACKEND = "civicpoints.households.sms.MemoryBackend"
    MemoryBackend.outbox.clear()
    return MemoryBackend.outbox


__all__ = ["Earning"]
