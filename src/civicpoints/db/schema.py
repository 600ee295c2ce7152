"""The schema editors' one change (see ``civicpoints.db``)."""

from __future__ import annotations

from typing import Any

from civicpoints.schemes.fields import SCHEMA_EDITING


class SchemeSchemaEditorMixin:
    def __enter__(self) -> Any:
        self._scheme_editing = SCHEMA_EDITING.set(True)
        return super().__enter__()  # type: ignore[misc]

    def __exit__(self, *exc: Any) -> Any:
        try:
            return super().__exit__(*exc)  # type: ignore[misc]
        finally:
            SCHEMA_EDITING.reset(self._scheme_editing)
