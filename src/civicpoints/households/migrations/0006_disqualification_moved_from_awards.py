# 一票否决 moves from awards to households: spending (stores, merchants) checks it and must
# not import earning. The rows stay where they are; only the table is renamed (both SQLite and
# PostgreSQL rename in place, keeping rows, keys and the range check). awards 0004 then drops
# the model from awards' state.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, *, src="awards", dst="households"):
    """Keep the content type row (and the permissions hanging on it) with the model."""
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label=dst, model="disqualification").exists():
        content_type.objects.filter(app_label=src, model="disqualification").update(app_label=dst)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, src="households", dst="awards")


class Migration(migrations.Migration):
    dependencies = [
        ("awards", "0003_review_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("households", "0005_resident_access"),
        ("schemes", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Disqualification",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("reason", models.CharField(max_length=500, verbose_name="原因")),
                        ("starts_on", models.DateField(verbose_name="开始")),
                        ("ends_on", models.DateField(verbose_name="结束")),
                        ("lifted_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "household",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="disqualifications",
                                to="households.household",
                            ),
                        ),
                        (
                            "scheme",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, to="schemes.scheme"
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "一票否决",
                        "verbose_name_plural": "一票否决",
                        "db_table": "awards_disqualification",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("ends_on__gte", models.F("starts_on"))),
                                name="disqualification_range",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        # Renames awards_disqualification to households_disqualification (the default name).
        migrations.AlterModelTable(name="disqualification", table=None),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
