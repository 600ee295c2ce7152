"""PostgreSQL: awards_claims_posted() ends a finalize batch (sql/claims_posted_postgresql.sql)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def _run(schema_editor, name: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute((SQL_DIR / name).read_text())


def install(apps, schema_editor) -> None:
    _run(schema_editor, "claims_posted_postgresql.sql")


def uninstall(apps, schema_editor) -> None:
    _run(schema_editor, "claims_posted_postgresql_down.sql")


class Migration(migrations.Migration):
    dependencies = [("awards", "0004_disqualification_moved_to_households")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
