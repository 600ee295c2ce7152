"""PostgreSQL: ledger_post_awards() posts a batch of credit postings set-based."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def _run(schema_editor, name: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute((SQL_DIR / name).read_text())


def install(apps, schema_editor) -> None:
    _run(schema_editor, "post_awards_postgresql.sql")


def uninstall(apps, schema_editor) -> None:
    _run(schema_editor, "post_awards_postgresql_down.sql")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_no_hot_foreign_keys")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
