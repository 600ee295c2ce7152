"""PostgreSQL: each posting's sum is checked once (sql/sums_once_postgresql.sql), and
ledger_post_awards() finds rows by unique keys only (sql/post_awards_keyed_postgresql.sql)."""

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
    _run(schema_editor, "sums_once_postgresql.sql", "post_awards_keyed_postgresql.sql")


def uninstall(apps, schema_editor) -> None:
    # The first ledger_post_awards() has the same arguments: installing it replaces this one.
    _run(schema_editor, "sums_once_postgresql_down.sql", "post_awards_postgresql.sql")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_four_eyes_approvals")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
