"""Django admin for a scheme's limits on invalid payment codes (saved through the service, so
each change is an audit row)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from civicpoints.merchants.guessing import guess_limits_set
from civicpoints.merchants.models import GuessLimits


@admin.register(GuessLimits)
class GuessLimitsAdmin(admin.ModelAdmin):
    list_display = ["scheme", "per_cashier", "per_merchant", "window_minutes"]

    def save_model(self, request: Any, obj: GuessLimits, form: Any, change: bool) -> None:
        saved = guess_limits_set(
            actor_id=request.user.pk,
            scheme_id=obj.scheme_id,
            per_cashier=obj.per_cashier,
            per_merchant=obj.per_merchant,
            window_minutes=obj.window_minutes,
        )
        obj.pk = saved.pk
