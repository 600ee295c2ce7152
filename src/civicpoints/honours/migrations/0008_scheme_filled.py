"""Fill ``scheme_id`` on the rows made before it was kept: each from its parent's."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    closed_standing = apps.get_model("honours", "ClosedStanding")
    closed_standing.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("honours", "PeriodClose")
            .objects.filter(pk=OuterRef("period_id"))
            .values("scheme_id")[:1]
        )
    )
    nominee = apps.get_model("honours", "Nominee")
    nominee.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("honours", "Campaign")
            .objects.filter(pk=OuterRef("campaign_id"))
            .values("scheme_id")[:1]
        )
    )
    vote = apps.get_model("honours", "Vote")
    vote.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("honours", "Campaign")
            .objects.filter(pk=OuterRef("campaign_id"))
            .values("scheme_id")[:1]
        )
    )
    certificate = apps.get_model("honours", "Certificate")
    certificate.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("honours", "Nominee")
            .objects.filter(pk=OuterRef("nominee_id"))
            .values("scheme_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [("honours", "0007_scheme_in_unique_rules")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
