"""``ParticipationCount`` for what was rolled up before it was kept: each scheme's counted
from its ``Participation`` once (a fresh database has no scheme: nothing to do)."""

from django.db import migrations


def rebuild(apps, schema_editor) -> None:
    scheme_ids = list(apps.get_model("schemes", "Scheme").objects.values_list("pk", flat=True))
    if not scheme_ids:
        return
    from civicpoints.ledger.chain import follower_hold
    from civicpoints.reports.rollups import counts_rebuild

    for scheme_id in scheme_ids:
        follower_hold(scheme_id)
        counts_rebuild(scheme_id=scheme_id)


class Migration(migrations.Migration):
    dependencies = [("reports", "0010_participation_count")]
    operations = [migrations.RunPython(rebuild, migrations.RunPython.noop, elidable=True)]
