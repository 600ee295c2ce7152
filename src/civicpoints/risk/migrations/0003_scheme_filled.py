"""Fill ``scheme_id`` on the rows made before it was kept: each from its parent's."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    risk_evidence = apps.get_model("risk", "RiskEvidence")
    risk_evidence.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("risk", "RiskFlag")
            .objects.filter(pk=OuterRef("flag_id"))
            .values("scheme_id")[:1]
        )
    )
    risk_note = apps.get_model("risk", "RiskNote")
    risk_note.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("risk", "RiskFlag")
            .objects.filter(pk=OuterRef("flag_id"))
            .values("scheme_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [("risk", "0002_scheme_in_unique_rules")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
