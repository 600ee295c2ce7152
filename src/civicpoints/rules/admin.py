"""The rule catalogue in the Django admin: versions are read-only history; a change makes a
new version through ``rule_change`` instead of editing the row in place."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from civicpoints.rules.models import Rule
from civicpoints.rules.services import EDITABLE, rule_change, rule_create


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "category",
        "unit",
        "points_per_unit",
        "sign",
        "approval_level",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["scheme", "category", "sign", "effective_to"]
    search_fields = ["code", "name", "category"]
    readonly_fields = ["effective_from", "effective_to", "created_at"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        if obj is not None and obj.effective_to is not None:
            return [f.name for f in Rule._meta.fields]  # closed versions are history
        if obj is not None:
            return [*self.readonly_fields, "scheme", "code"]
        return self.readonly_fields

    def save_model(self, request: Any, obj: Rule, form: Any, change: bool) -> None:
        if change:
            changes = {
                name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE
            }
            if changes:
                new = rule_change(
                    actor_id=request.user.pk, rule=Rule.objects.get(pk=obj.pk), **changes
                )
                obj.pk = new.pk
            return
        fields = {name: form.cleaned_data[name] for name in EDITABLE}
        new = rule_create(
            actor_id=request.user.pk,
            scheme=form.cleaned_data["scheme"],
            code=form.cleaned_data["code"],
            **fields,
        )
        obj.pk = new.pk

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
