"""The page session engine (``SESSION_ENGINE``): Django's database sessions, with the one read
every request with a session cookie makes, the session's row by its key, run as a statement
prepared on PostgreSQL (prepared.py) instead of an ORM query parsed and planned on every
request.

Everything else is Django's ``db`` engine unchanged: the table, the signed and compressed
data, the writes (a login, the staff page's seen-at mark at most once a minute, a logout) and
what an unknown, expired or tampered session becomes (an empty one, under a new key when it is
saved). Measured: the counter page's session costs a request a third less, which is what the
offline sync, authenticated by that session, runs on (docs/performance.md, "Offline counter").
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.utils import timezone

from civicpoints.prepared import PreparedStatement

# django.contrib.sessions.models.Session's table; its key is the primary key.
_LOAD = PreparedStatement(
    "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"
)


class SessionStore(DatabaseSessionStore):
    def load(self) -> dict[str, Any]:
        """As Django's ``db`` engine loads a session: the live row's data, else an empty
        session that forgets the key it was given."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        rows = _LOAD.fetchall([self.session_key, now])
        if not rows:
            self._session_key = None
            return {}
        return self.decode(rows[0][0])
