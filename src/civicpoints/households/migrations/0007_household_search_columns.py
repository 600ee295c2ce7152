"""Household search without a join to members (issue 10): every name and phone number of a
household on its row, filled in here for the households already there; an index on the card
code; and on PostgreSQL GIN indexes for the other kinds of query (docs/performance.md,
"Household search").

The GIN indexes are PostgreSQL's own, so they are created here by vendor, not in the model:
- ``households_search_terms``: ``string_to_array(search_terms, ' ')`` (array_ops): names by one
  or two characters and by the pairs of a longer query, and the starts of the pinyin keys.
  Trigrams would need three characters, and a locale that counts Chinese characters as
  letters (not the "C" locale); these terms need neither.
- ``households_search_phones``: ``pg_trgm`` over the phone numbers (digits anywhere in a number).
"""

from django.db import migrations, models

from civicpoints.bulk import update_many

BATCH = 2000
INDEXES = {
    "households_search_terms": "CREATE INDEX IF NOT EXISTS households_search_terms"
    " ON households_household USING gin (string_to_array(search_terms, ' '))",
    "households_search_phones": "CREATE INDEX IF NOT EXISTS households_search_phones"
    " ON households_household USING gin (search_phones gin_trgm_ops)",
}


def _terms(names, keys):
    # A copy of households/search.py as of this migration (a migration stays as it was).
    terms = {}
    for name in names:
        for width in (1, 2):
            for i in range(len(name) - width + 1):
                gram = name[i : i + width]
                if not any(c.isspace() for c in gram):
                    terms[gram] = None
    for key in keys.split():
        for end in range(1, len(key) + 1):
            terms["p:" + key[:end]] = None
    return " " + " ".join(terms) + " " if terms else ""


def fill(apps, schema_editor):
    Household = apps.get_model("households", "Household")
    Member = apps.get_model("households", "Member")
    last = 0
    while True:
        batch = list(
            Household.objects.filter(pk__gt=last)
            .order_by("pk")
            .only("pk", "head_name", "phone", "search_keys")[:BATCH]
        )
        if not batch:
            return
        last = batch[-1].pk
        members = {h.pk: [] for h in batch}
        rows = Member.objects.filter(household_id__in=members).order_by("pk")
        for household_id, name, phone in rows.values_list("household_id", "name", "phone"):
            members[household_id].append((name, phone))
        for h in batch:
            names = [n for n in dict.fromkeys([h.head_name, *(n for n, _p in members[h.pk])]) if n]
            phones = [p for p in dict.fromkeys([h.phone, *(p for _n, p in members[h.pk])]) if p]
            h.search_names = "\n".join(names)
            h.search_terms = _terms(names, h.search_keys)
            h.search_phones = "\n".join(phones)
        update_many(Household, batch, ["search_names", "search_terms", "search_phones"])


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for sql in INDEXES.values():
            cursor.execute(sql)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("households", "0006_disqualification_moved_from_awards")]

    operations = [
        migrations.AddField(
            model_name="household",
            name="search_names",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="household",
            name="search_terms",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="household",
            name="search_phones",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddIndex(
            model_name="household",
            index=models.Index(fields=["card_code"], name="household_card_code_idx"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
