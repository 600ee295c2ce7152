"""Writes for claims, notices and budgets (one module each); 一票否决 is
``households.standing``."""

from civicpoints.awards.services.budget import fund_record, quota_set
from civicpoints.awards.services.claims import (
    claim_approve,
    claim_object,
    claim_reject,
    claim_submit,
    claim_withdraw,
)
from civicpoints.awards.services.notices import claim_post, notices_finalize

__all__ = [
    "claim_approve",
    "claim_object",
    "claim_post",
    "claim_reject",
    "claim_submit",
    "claim_withdraw",
    "fund_record",
    "notices_finalize",
    "quota_set",
]
