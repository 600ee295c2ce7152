"""PostgreSQL: the counter's two functions also take an offline sale's sync (the device, the
allowance under the account's lock, its stores_offlinesale row): docs/offline-counter.md."""

from importlib import import_module

from django.db import migrations

counter = import_module("civicpoints.stores.migrations.0003_counter_redeem_functions")


class Migration(migrations.Migration):
    dependencies = [("stores", "0009_offline_counter")]
    operations = [migrations.RunPython(counter.install, migrations.RunPython.noop, elidable=False)]
