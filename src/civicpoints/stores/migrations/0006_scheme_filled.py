"""Fill ``scheme_id`` on the rows made before it was kept: each from its parent's."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    redemption_line = apps.get_model("stores", "RedemptionLine")
    redemption_line.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("stores", "Redemption")
            .objects.filter(pk=OuterRef("redemption_id"))
            .values("scheme_id")[:1]
        )
    )
    order_line = apps.get_model("stores", "OrderLine")
    order_line.objects.filter(scheme__isnull=True).update(
        scheme_id=Subquery(
            apps.get_model("stores", "Order")
            .objects.filter(pk=OuterRef("order_id"))
            .values("scheme_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [("stores", "0005_scheme_in_unique_rules")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
