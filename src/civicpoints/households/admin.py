"""Read-mostly admin for households; creation and changes go through the staff pages/API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from civicpoints.households.models import Household, Member
from civicpoints.households.services import household_search_refresh


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    fields = ("name", "relation", "id_number_masked", "phone")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    list_display = ["head_name", "village", "status", "card_code", "created_at"]
    list_filter = ["status", "scheme"]
    search_fields = ["head_name", "card_code", "phone"]
    readonly_fields = ["scheme", "village", "card_code", "pin_hash", "created_at"]
    exclude = ["search_keys"]
    inlines = [MemberInline]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def save_model(self, request: Any, obj: Household, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # A name or a number edited here is found by the search too.
        household_search_refresh(household_ids=[obj.pk])

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
