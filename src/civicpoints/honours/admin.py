"""Star households in the Django admin, read only: thresholds change through
``stars.star_levels_set`` (the API: validated, audited), ratings only by a rating run."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from civicpoints.honours.models import StarLevel, StarRating, StarRun


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(StarLevel)
class StarLevelAdmin(_ReadOnly):
    list_display = ["scheme", "stars", "points", "categories"]
    list_filter = ["scheme"]


@admin.register(StarRating)
class StarRatingAdmin(_ReadOnly):
    list_display = ["household", "year", "stars", "points", "computed_at"]
    list_filter = ["scheme", "year", "stars"]
    list_select_related = ["household"]


@admin.register(StarRun)
class StarRunAdmin(_ReadOnly):
    list_display = ["scheme", "year", "by_stars", "changed", "ran_at", "actor"]
    list_filter = ["scheme", "year"]
