"""Text messages to residents through a pluggable backend (like Django's EMAIL_BACKEND).

``settings.SMS_BACKEND`` names a class with ``send(phone, text)``; the console backend logs
the message, the memory backend keeps it for tests. Callers send after commit
(``transaction.on_commit``) so a rolled-back change never texts anyone. No log line carries
a full phone number (``mask_phone``: 139****5678).
"""

from __future__ import annotations

import logging
from typing import ClassVar

from django.conf import settings
from django.utils.module_loading import import_string

from civicpoints.households.models import mask_phone

log = logging.getLogger("civicpoints.sms")


class ConsoleBackend:
    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", mask_phone(phone), text)


class MemoryBackend:
    outbox: ClassVar[list[tuple[str, str]]] = []

    def send(self, phone: str, text: str) -> None:
        self.outbox.append((phone, text))


def sms_send(*, phone: str, text: str) -> None:
    """Hand one text to the backend; a backend failure raises (the notification task retries)."""
    import_string(settings.SMS_BACKEND)().send(phone, text)


def send_sms(*, phone: str, text: str) -> None:
    """Best effort, for texts nobody retries (login codes: the resident asks again)."""
    if not phone:
        return
    try:
        sms_send(phone=phone, text=text)
    except Exception as exc:  # a failed text must never undo or block the work it reports
        # Neither the traceback nor the exception's text: a gateway's error may quote the number.
        log.error("SMS to %s failed: %s", mask_phone(phone), type(exc).__name__)
