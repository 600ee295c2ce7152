"""PostgreSQL: the keyed counter redemption reads in one call and writes in one call."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def _run(schema_editor, name: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute((SQL_DIR / name).read_text())


def install(apps, schema_editor) -> None:
    _run(schema_editor, "counter_postgresql.sql")


def uninstall(apps, schema_editor) -> None:
    _run(schema_editor, "counter_postgresql_down.sql")


class Migration(migrations.Migration):
    # The functions use the ledger's ledger_post() and the tables of these apps.
    dependencies = [
        ("stores", "0002_store_served_townships"),
        ("ledger", "0007_four_eyes_approvals"),
        ("audit", "0007_no_database_keys"),
        ("awards", "0003_review_indexes"),
        ("households", "0005_resident_access"),
    ]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
