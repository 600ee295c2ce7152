# The model now lives in households (households 0006 took over its table); awards forgets it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("awards", "0003_review_indexes"),
        ("households", "0006_disqualification_moved_from_awards"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Disqualification")],
            database_operations=[],
        ),
    ]
