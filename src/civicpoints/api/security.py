"""How API callers prove who they are: a bearer token (staff or resident), and for the one
operation the counter page calls itself (the offline sync), the page's own session with its
CSRF token."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from civicpoints.credit.lenders import is_lender_key
from civicpoints.households.services import is_resident_token, resident_token_household
from civicpoints.schemes.scope import Actor
from civicpoints.schemes.services import api_token_authenticate, session_user_authenticate


class BearerToken(HttpBearer):
    """A staff token (from /auth/token) or a resident's (from /auth/resident-token).

    Staff act through ``request.actor`` and their grants; a resident acts as their household
    (``request.household``) with an actor that holds no grant, so every staff selector finds
    nothing (404) and every staff role check refuses (403).
    """

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        """One query a request, nothing cached (docs/security.md "API tokens")."""
        if is_lender_key(token):
            return None  # a lender's key opens /api/v1/lender/ only (api/lender.py)
        if not is_resident_token(token):
            # The token, its user and the user's grants in one statement.
            staff = api_token_authenticate(token=token)
            if staff is not None:
                user, request.actor = staff  # type: ignore[attr-defined]
                request.household = None  # type: ignore[attr-defined]
                return user
        # A resident token; or an unknown one, which may be a resident token issued before
        # they had their prefix (7 days at most): a second query, for those only.
        household = resident_token_household(token=token)
        if household is not None:
            request.actor = Actor(user_id=None)  # type: ignore[attr-defined]
            request.household = household  # type: ignore[attr-defined]
            return household
        return None


class CounterSession(SessionAuth):
    """A staff member signed in on the counter page (session cookie + ``X-CSRFToken``): the
    page syncs its offline queue through the normal redemption call without an API token.

    The user and their grants come with the session's own read (schemes/session_store.py),
    checked as ``django.contrib.auth.get_user`` checks them (``session_user_authenticate``):
    the session and its user in one query, as a bearer token and its user are."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        session = request.session
        user_id, backend = session.get(SESSION_KEY), session.get(BACKEND_SESSION_KEY)
        session_hash = session.get(HASH_SESSION_KEY)
        if user_id is None or backend not in settings.AUTHENTICATION_BACKENDS:
            return None
        if not isinstance(session_hash, str):
            return None
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        # The session's own read brought its user and grants (schemes/session_store.py)
        read = getattr(session, "signed_in", None)
        found = session_user_authenticate(user_id=pk, session_hash=session_hash, read=read)
        if found is None:
            return None
        user, request.actor = found  # type: ignore[attr-defined]
        request.user = user
        request.household = None  # type: ignore[attr-defined]
        return user
