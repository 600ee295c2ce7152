"""Fields for a scheme's tables that keep the sharding rule: every unique rule includes
``scheme_id`` (docs/scaling.md, "Sharding by scheme"; tests/test_scheme_partitioning.py).

Django's one-to-one field puts a unique index on the link alone, which Citus cannot keep on a
table distributed by scheme. ``SchemeOneToOneField`` is the same link, with the same
accessors both ways, whose uniqueness is a constraint on (link, scheme) declared by the model
with ``unique_with_scheme``. A row and what it links to always belong to one scheme, so the
two rules allow the same rows; the link comes first, so the constraint's index also serves
lookups by the link alone, and the field needs no index of its own.

The field stays unique to the ORM, which builds its joins and reverse ``select_related`` on
that; only the schema editors of ``civicpoints.db`` (set as the databases' ENGINE) see it
otherwise, while ``SCHEMA_EDITING`` is set.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.db import models

# True while a schema editor of ``civicpoints.db`` is open (in this thread).
SCHEMA_EDITING: ContextVar[bool] = ContextVar("scheme_schema_editing", default=False)


class SchemeOneToOneField(models.OneToOneField):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["db_index"] = False
        super().__init__(*args, **kwargs)

    @property
    def unique(self) -> bool:  # type: ignore[override]
        # The table's DDL: no unique index on the link alone (the model's
        # unique_with_scheme constraint holds the rule).
        return not SCHEMA_EDITING.get()

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("db_index", None)
        return name, path, args, kwargs


def unique_with_scheme(field: str) -> models.UniqueConstraint:
    """The constraint that makes ``field`` (a ``SchemeOneToOneField``, or a code) unique in
    its scheme."""
    return models.UniqueConstraint(
        fields=[field, "scheme"], name=f"%(app_label)s_%(class)s_{field}_scheme"
    )
