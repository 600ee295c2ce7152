"""A staff user's API tokens end when the password changes or the account is deactivated.

The guarantee is in ``services.api_token_authenticate``: a token carries a mark of the password it was
issued under and its user must be active, so no path (admin, ``changepassword``, a shell, a raw
UPDATE) can leave a working token behind. These hooks only delete the dead rows at once, so
the admin's token list tells the truth; they hold no rule of their own.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_save

from civicpoints.schemes.models import User

_WATCHED = {"password", "is_active"}


def _remember(sender: type[User], instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    instance._tokens_end = ""  # type: ignore[attr-defined]
    if instance.pk is None or kwargs.get("raw"):
        return
    if update_fields is not None and not _WATCHED & set(update_fields):
        return  # e.g. last_login on every login: no extra query
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    changed_password = before["password"] != instance.password
    deactivated = before["is_active"] and not instance.is_active
    if changed_password or deactivated:
        instance._tokens_end = "password" if changed_password else "deactivated"  # type: ignore[attr-defined]


def _end_tokens(sender: type[User], instance: User, **kwargs: Any) -> None:
    reason = str(getattr(instance, "_tokens_end", ""))
    if reason:
        from civicpoints.schemes.services import api_tokens_revoke_all

        api_tokens_revoke_all(actor_id=None, user_id=instance.pk, reason=reason)
        instance._tokens_end = ""  # type: ignore[attr-defined]


def connect() -> None:
    pre_save.connect(_remember, sender=User, dispatch_uid="schemes.tokens_remember")
    post_save.connect(_end_tokens, sender=User, dispatch_uid="schemes.tokens_end")
