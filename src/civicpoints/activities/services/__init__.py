"""Writes for activities, attendance and mutual help (one module each)."""

from civicpoints.activities.services.activities import (
    CloseResult,
    activity_cancel,
    activity_close,
    activity_create,
    activity_enrol,
    activity_enrolment_cancel,
    activity_publish,
)
from civicpoints.activities.services.attendance import (
    activity_check_in,
    activity_check_out,
    activity_self_check_in,
    activity_self_check_out,
    attendance_close_checkout,
)
from civicpoints.activities.services.mutual_help import (
    mutual_help_confirm,
    mutual_help_record_received,
    mutual_help_reject,
    mutual_help_report,
)

__all__ = [
    "CloseResult",
    "activity_cancel",
    "activity_check_in",
    "activity_check_out",
    "activity_close",
    "activity_create",
    "activity_enrol",
    "activity_enrolment_cancel",
    "activity_publish",
    "activity_self_check_in",
    "activity_self_check_out",
    "attendance_close_checkout",
    "mutual_help_confirm",
    "mutual_help_record_received",
    "mutual_help_reject",
    "mutual_help_report",
]
