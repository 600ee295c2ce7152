"""Install the ledger's database guards (SQL beside this app in ledger/sql/)."""

import re
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def _run(schema_editor, name: str) -> None:
    path = SQL_DIR / f"guards_{schema_editor.connection.vendor}{name}.sql"
    if not path.exists():
        return
    sql = path.read_text()
    if schema_editor.connection.vendor == "sqlite":
        # sqlite3 runs one statement per call; each statement here starts a line.
        for statement in re.split(r"\n(?=CREATE |DROP )", sql):
            if statement.strip() and not statement.lstrip().startswith("--"):
                schema_editor.execute(statement)
    else:
        # No parameters: the SQL's "%" are RAISE placeholders, not driver placeholders.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def install(apps, schema_editor) -> None:
    _run(schema_editor, "")


def uninstall(apps, schema_editor) -> None:
    _run(schema_editor, "_down")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_initial")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
