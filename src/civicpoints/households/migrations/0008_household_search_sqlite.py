"""SQLite: FTS5 indexes over the household search columns (issue 10; docs/households.md).

Two external-content FTS5 tables read their text from ``households_household`` and are kept in
step with it by triggers (SQLite's documented pattern for external content; index upkeep,
not a rule):
- ``households_search_terms_fts``: ``search_terms`` with the ``unicode61`` tokenizer, ":" a
  token character, so each term (曾, 曾国, p:zgt) is one token;
- ``households_search_phones_fts``: ``search_phones`` with the ``trigram`` tokenizer (digits
  anywhere in a number).
A search uses them to find candidates and reads the columns themselves to decide. Nothing is
created where SQLite lacks FTS5; the search then reads the columns alone.
"""

from django.db import migrations

TABLES = {
    "households_search_terms_fts": ("search_terms", "unicode61 remove_diacritics 0 tokenchars ':'"),
    "households_search_phones_fts": ("search_phones", "trigram"),
}


def _statements(table, column, tokenize):
    source = "households_household"
    return [
        f"CREATE VIRTUAL TABLE {table} USING fts5({column}, content='{source}',"
        f" content_rowid='id', tokenize=\"{tokenize}\")",
        f"CREATE TRIGGER {table}_insert AFTER INSERT ON {source} BEGIN"
        f" INSERT INTO {table}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"CREATE TRIGGER {table}_delete AFTER DELETE ON {source} BEGIN"
        f" INSERT INTO {table}({table}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
        " END",
        f"CREATE TRIGGER {table}_update AFTER UPDATE OF {column} ON {source} BEGIN"
        f" INSERT INTO {table}({table}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
        f" INSERT INTO {table}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"INSERT INTO {table}({table}) VALUES ('rebuild')",
    ]


def _fts5(cursor):
    try:
        cursor.execute("CREATE VIRTUAL TABLE temp.households_fts5_probe USING fts5(x)")
    except Exception:  # no FTS5 in this SQLite: the search reads the columns
        return False
    cursor.execute("DROP TABLE temp.households_fts5_probe")
    return True


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        if not _fts5(cursor):
            return
        for table, (column, tokenize) in TABLES.items():
            for sql in _statements(table, column, tokenize):
                cursor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            for trigger in ("insert", "delete", "update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_{trigger}")
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


class Migration(migrations.Migration):
    dependencies = [("households", "0007_household_search_columns")]

    operations = [migrations.RunPython(create, drop)]
