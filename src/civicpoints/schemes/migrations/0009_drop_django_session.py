"""Django's own session table, unused since the sessions moved to ``StaffSession`` (0008):
``django.contrib.sessions`` is no longer installed, so nothing would ever drop it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("schemes", "0008_staff_sessions"),
    ]

    operations = [
        # Its rows were dead already: the new engine never read them (everyone signed in again).
        migrations.RunSQL("DROP TABLE IF EXISTS django_session", migrations.RunSQL.noop),
    ]
