"""Claims (申报), one module per part: ``intake`` (staff proposals, residents' reports and
``claim_create`` for activities, mutual help and imports), ``workflow`` (approve, reject,
withdraw, object), ``limits`` (一票否决, duplicates, caps, the village quota; checked at
approval) and ``history`` (each move's event and audit rows). Posting is ``notices``' job.
"""

from civicpoints.awards.services.claims.history import CLAIM_AUDIT, claim_event_record
from civicpoints.awards.services.claims.intake import (
    PROPOSERS,
    NewClaim,
    build_claim,
    claim_create,
    claim_self_report,
    claim_submit,
    clean_quantity,
)
from civicpoints.awards.services.claims.limits import CAP_NAMES, check_limits
from civicpoints.awards.services.claims.workflow import (
    TOWNSHIP_REVIEWERS,
    claim_approve,
    claim_object,
    claim_reject,
    claim_withdraw,
)

__all__ = [
    "CAP_NAMES",
    "CLAIM_AUDIT",
    "PROPOSERS",
    "TOWNSHIP_REVIEWERS",
    "NewClaim",
    "build_claim",
    "check_limits",
    "claim_approve",
    "claim_create",
    "claim_event_record",
    "claim_object",
    "claim_reject",
    "claim_self_report",
    "claim_submit",
    "claim_withdraw",
    "clean_quantity",
]
