"""Database backends: Django's PostgreSQL and SQLite backends with one change, in their schema
editors. While a schema editor is open (migrations, the test database), a
``SchemeOneToOneField`` reports itself not unique, so the table gets no unique index on the
link alone; its model's (link, scheme) constraint holds the rule (``schemes/fields.py``,
docs/scaling.md). Everywhere else the field is one-to-one, as the ORM needs (joins, reverse
``select_related``)."""
