"""Writes for claims, notices, sanctions and budgets (one module each)."""

from civicpoints.awards.services.budget import fund_record, quota_set
from civicpoints.awards.services.claims import (
    claim_approve,
    claim_object,
    claim_reject,
    claim_submit,
    claim_withdraw,
)
from civicpoints.awards.services.notices import claim_post, notices_finalize
from civicpoints.awards.services.sanctions import disqualification_lift, household_disqualify

__all__ = [
    "claim_approve",
    "claim_object",
    "claim_post",
    "claim_reject",
    "claim_submit",
    "claim_withdraw",
    "disqualification_lift",
    "fund_record",
    "household_disqualify",
    "notices_finalize",
    "quota_set",
]
