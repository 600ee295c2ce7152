"""Household import from Excel (.xlsx, .xls, WPS .et) and CSV: read, check, preview, commit.

``reading`` turns bytes into rows (the format is told from the content, never the name),
``checking`` finds every problem in plain Chinese by spreadsheet row, ``flow`` holds the
services. Writes go only through ``households_bulk_create``: a file with any error imports
nothing.
"""

from civicpoints.households.importing.checking import ImportRow
from civicpoints.households.importing.flow import (
    ImportPreview,
    ImportResult,
    command_line_actor,
    household_import_commit,
    household_import_file,
    household_import_preview,
    household_import_result,
    import_schemes,
)
from civicpoints.households.importing.reading import MAX_BYTES, MAX_ROWS, ImportIssue

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "ImportIssue",
    "ImportPreview",
    "ImportResult",
    "ImportRow",
    "command_line_actor",
    "household_import_commit",
    "household_import_file",
    "household_import_preview",
    "household_import_result",
    "import_schemes",
]
