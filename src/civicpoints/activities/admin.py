"""Activities and mutual help in the Django admin: read-only, for looking things up.

Every change goes through the services (capacity locks, audit rows, claims), so the admin
offers no add, edit or delete.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from civicpoints.activities.models import Activity, Attendance, Enrolment, MutualHelp


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ["title", "region", "starts_at", "ends_at", "capacity", "rule", "status"]
    list_filter = ["scheme", "status"]
    search_fields = ["title", "place", "code"]
    date_hierarchy = "starts_at"


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    list_display = ["activity", "household", "member", "status", "walk_in", "created_at"]
    list_filter = ["status", "walk_in"]
    search_fields = ["activity__title", "household__head_name", "household__card_code"]


@admin.register(Attendance)
class AttendanceAdmin(ReadOnlyAdmin):
    list_display = [
        "activity",
        "household",
        "checked_in_at",
        "checked_out_at",
        "closed_by_staff",
        "hours",
        "claim",
    ]
    list_filter = ["closed_by_staff"]
    search_fields = ["activity__title", "household__head_name", "household__card_code"]


@admin.register(MutualHelp)
class MutualHelpAdmin(ReadOnlyAdmin):
    list_display = ["helper", "helped", "hours", "occurred_on", "status", "claim", "created_at"]
    list_filter = ["status"]
    search_fields = ["helper__head_name", "helped__head_name"]
