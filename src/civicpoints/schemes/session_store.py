"""The page session engine (``SESSION_ENGINE``): Django's database sessions in our own table,
``schemes.StaffSession``, which keeps the signed-in user's id beside the session's data.

The one read every request with a session cookie makes, the session's row by its key, runs as
a statement prepared on PostgreSQL (prepared.py) instead of an ORM query parsed and planned on
every request, and it brings the signed-in user and their grants with it, joined on that id
(``schemes.services.session_load_statement``). The counter page's sync, authenticated by the
session (api/security.py), then needs no query of its own for its user.

Everything else is Django's ``db`` engine: the signed and compressed data, the writes (a
login, the staff page's seen-at mark at most once a minute, a logout), and what an unknown,
expired or tampered session becomes (an empty one, under a new key when it is saved). The
user's id column is only ever read to join; who is signed in is what the signed data says
(Django's ``SESSION_KEY``), and the user is used only when the two agree.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.utils import timezone

from civicpoints.schemes.models import StaffSession
from civicpoints.schemes.services import session_load_statement

_LOAD = session_load_statement()


class SessionStore(DatabaseSessionStore):
    # The signed-in user's columns and their grants, as the session's read brought them (rows
    # for ``session_user_authenticate``); None before the read or without a row.
    signed_in: list[tuple[Any, ...]] | None = None

    @classmethod
    def get_model_class(cls) -> type[StaffSession]:
        return StaffSession

    def create_model_instance(self, data: dict[str, Any]) -> StaffSession:
        row = super().create_model_instance(data)
        assert isinstance(row, StaffSession)
        try:
            row.user_id = int(data[SESSION_KEY])
        except (KeyError, TypeError, ValueError):
            row.user_id = None
        return row

    def load(self) -> dict[str, Any]:
        """As Django's ``db`` engine loads a session: the live row's data, else an empty
        session that forgets the key it was given."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        rows = _LOAD.fetchall([self.session_key, now])
        if not rows:
            self._session_key = None
            self.signed_in = None
            return {}
        self.signed_in = [row[1:] for row in rows]
        return self.decode(rows[0][0])
