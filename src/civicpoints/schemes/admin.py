"""Django admin for schemes, regions and staff with their role grants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from civicpoints.schemes.models import Region, RoleGrant, Scheme, User
from civicpoints.schemes.services import region_path, staff_unlock


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "operator_region", "yuan_per_point", "notice_days", "year_end_policy"]
    search_fields = ["name"]
    autocomplete_fields = ["operator_region"]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]

    def save_model(self, request: Any, obj: Region, form: Any, change: bool) -> None:
        obj.path = region_path(obj.code, obj.parent)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0
    autocomplete_fields = ["region"]


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ["username", "display_name", "is_active", "locked_until", "last_login"]
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        (_("登录保护"), {"fields": ("failed_logins", "locked_until")}),
    )
    inlines = [RoleGrantInline]
    actions = ["unlock"]

    @admin.action(description=_("解除登录锁定"))
    def unlock(self, request: Any, queryset: Any) -> None:
        for user in queryset:
            staff_unlock(actor_id=request.user.pk, user=user)
        count = queryset.count()
        done = ngettext("已解锁 %(count)d 个账号", "已解锁 %(count)d 个账号", count)
        self.message_user(request, done % {"count": count}, messages.SUCCESS)


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "scheme", "region", "role", "created_at"]
    list_filter = ["role", "scheme"]
    autocomplete_fields = ["user", "region"]
