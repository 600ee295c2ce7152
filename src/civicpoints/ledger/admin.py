"""Django admin for the ledger's one setting: each scheme's four-eyes reversal threshold.

Postings, entries and approval requests are never edited here (only services write them).
"""

from __future__ import annotations

from django.contrib import admin

from civicpoints.ledger.models import ApprovalPolicy


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["scheme", "reversal_threshold"]
    autocomplete_fields = ["scheme"]
