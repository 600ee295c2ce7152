"""Rollups for what was chained before this app existed: each scheme's rebuilt from the
ledger once (a fresh database has no scheme: nothing to do)."""

from django.db import migrations


def rebuild(apps, schema_editor) -> None:
    scheme_ids = list(apps.get_model("schemes", "Scheme").objects.values_list("pk", flat=True))
    if not scheme_ids:
        return
    from civicpoints.reports.rollups import rollups_rebuild

    for scheme_id in scheme_ids:
        rollups_rebuild(scheme_id=scheme_id, flows=False)  # the flows: migration 0006


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_standing"),
        ("ledger", "0010_post_with_audit_row"),
        ("awards", "0005_claims_posted_function"),
    ]
    operations = [migrations.RunPython(rebuild, migrations.RunPython.noop, elidable=True)]
