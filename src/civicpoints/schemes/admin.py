"""Django admin for schemes, regions and staff with their role grants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from civicpoints.schemes.models import ApiToken, Region, RoleGrant, Scheme, User
from civicpoints.schemes.services import (
    api_tokens_revoke,
    api_tokens_revoke_all,
    region_path,
    staff_unlock,
)


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
    readonly_fields = ["failed_logins", "locked_until"]
    inlines = [RoleGrantInline]
    actions = ["unlock", "revoke_tokens"]

    @admin.action(description=_("解除登录锁定"))
    def unlock(self, request: Any, queryset: Any) -> None:
        for user in queryset:
            staff_unlock(actor_id=request.user.pk, user=user)
        count = queryset.count()
        done = ngettext("已解锁 %(count)d 个账号", "已解锁 %(count)d 个账号", count)
        self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("吊销全部接口令牌"))
    def revoke_tokens(self, request: Any, queryset: Any) -> None:
        ended = sum(
            api_tokens_revoke_all(actor_id=request.user.pk, user_id=user.pk, reason="admin")
            for user in queryset
        )
        done = ngettext("已吊销 %(count)d 个令牌", "已吊销 %(count)d 个令牌", ended)
        self.message_user(request, done % {"count": ended}, messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Live and expired API tokens; only their hashes exist, so a token can only be revoked."""

    list_display = ["user", "created_at", "expires_at", "last_used_at"]
    list_filter = ["expires_at"]
    search_fields = ["user__username", "user__display_name"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    fields = ["user", "created_at", "expires_at", "last_used_at"]
    readonly_fields = ["user", "created_at", "expires_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # revoking goes through the action, which writes the audit row

    def get_actions(self, request: Any) -> Any:
        actions = super().get_actions(request)
        if not request.user.has_perm("schemes.delete_apitoken"):
            actions.pop("revoke", None)
        return actions

    @admin.action(description=_("吊销所选令牌"))
    def revoke(self, request: Any, queryset: Any) -> None:
        ended = api_tokens_revoke(actor_id=request.user.pk, tokens=queryset)
        done = ngettext("已吊销 %(count)d 个令牌", "已吊销 %(count)d 个令牌", ended)
        self.message_user(request, done % {"count": ended}, messages.SUCCESS)


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "scheme", "region", "role", "created_at"]
    list_filter = ["role", "scheme"]
    autocomplete_fields = ["user", "region"]
