"""The monthly evaluation import (考评表导入): a sheet of awards becomes claims, all or nothing.

``sheet`` holds the columns, the template and the export writers, ``parsing`` turns sheet rows
into award lines, ``checking`` checks them against the database set-based, ``flow`` holds the
services and ``export`` writes claims back as the same sheet. Reading and the pending uploads
are the household import's (``households.importing``).
"""

from civicpoints.awards.importing.flow import (
    ClaimImportPreview,
    ClaimImportResult,
    claim_import_commit,
    claim_import_file,
    claim_import_preview,
    claim_import_result,
    claim_import_schemes,
    claim_import_template,
)

__all__ = [
    "ClaimImportPreview",
    "ClaimImportResult",
    "claim_import_commit",
    "claim_import_file",
    "claim_import_preview",
    "claim_import_result",
    "claim_import_schemes",
    "claim_import_template",
]
