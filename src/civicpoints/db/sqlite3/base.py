"""Django's sqlite3 backend with the schema editor of ``civicpoints.db``."""

from __future__ import annotations

from django.db.backends.sqlite3 import base, schema

from civicpoints.db.schema import SchemeSchemaEditorMixin


class DatabaseSchemaEditor(SchemeSchemaEditorMixin, schema.DatabaseSchemaEditor):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
