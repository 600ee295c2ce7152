"""PostgreSQL: ledger_post() writes the posting's audit row in the same statement
(sql/post_audited_postgresql.sql; ``post(audit=AuditNote(...))``)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def _run(schema_editor, *names: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in names:
            cursor.execute((SQL_DIR / name).read_text())


def install(apps, schema_editor) -> None:
    _run(schema_editor, "post_audited_postgresql.sql")


def uninstall(apps, schema_editor) -> None:
    _run(schema_editor, "post_audited_postgresql_down.sql", "post_postgresql.sql")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_redundant_indexes"),
        ("audit", "0007_no_database_keys"),
    ]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
