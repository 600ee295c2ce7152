"""Django's postgresql backend with the schema editor of ``civicpoints.db``."""

from __future__ import annotations

from django.db.backends.postgresql import base, schema

from civicpoints.db.schema import SchemeSchemaEditorMixin


class DatabaseSchemaEditor(SchemeSchemaEditorMixin, schema.DatabaseSchemaEditor):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
