"""PostgreSQL: the counter's redemption function writes its lines' ``scheme_id`` (0005-0007)."""

from importlib import import_module

from django.db import migrations

counter = import_module("civicpoints.stores.migrations.0003_counter_redeem_functions")


class Migration(migrations.Migration):
    dependencies = [("stores", "0007_scheme_required")]
    operations = [migrations.RunPython(counter.install, migrations.RunPython.noop, elidable=False)]
