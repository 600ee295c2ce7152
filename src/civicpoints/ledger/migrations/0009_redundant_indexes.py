"""Drop two indexes that others cover: ledger_posting(scheme_id) (posting_idempotency_unique
leads with the scheme) and ledger_entry(account_id) (the (account, posting) index)."""

import re
from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def reinstall_sqlite_guards(apps, schema_editor) -> None:
    """SQLite may rebuild a table to alter a field, dropping its triggers: put them back."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in ("guards_sqlite_down.sql", "guards_sqlite.sql"):
        sql = (SQL_DIR / name).read_text()
        for statement in re.split(r"\n(?=CREATE |DROP )", sql):
            if statement.strip() and not statement.lstrip().startswith("--"):
                schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_sums_once_and_keyed_batches"),
        ("schemes", "0005_login_tries_token_marks"),
    ]

    operations = [
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="ledger.account",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="scheme",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                to="schemes.scheme",
            ),
        ),
        migrations.RunPython(reinstall_sqlite_guards, reinstall_sqlite_guards, elidable=False),
    ]
