"""Migration 0003 files older events under their object's region (set-based backfill)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("audit", "0002_initial")]
AFTER = [("audit", "0003_action_choices_and_region")]


@pytest.mark.django_db(transaction=True)
def test_older_events_get_their_objects_region() -> None:
    from tests.factories import build_world, make_household

    world = build_world()
    home = make_household(world.scheme, world.village_b1, "钱七")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("audit", "AuditEvent")
    old.objects.all().delete()
    old.objects.create(
        scheme_id=world.scheme.pk,
        action="household.create",
        object_type="Household",
        object_id=str(home.pk),
    )
    old.objects.create(
        scheme_id=world.scheme.pk, action="rule.create", object_type="Rule", object_id="1"
    )
    old.objects.create(scheme_id=None, action="staff.login")
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    from civicpoints.audit.models import AuditEvent

    try:
        assert sorted(
            AuditEvent.objects.values_list("action", "region_id"), key=lambda r: r[0]
        ) == [
            ("household.create", world.village_b1.pk),
            ("rule.create", None),
            ("staff.login", None),
        ]
    finally:
        # Going back to 0002 also unapplied every migration that depends on audit (the
        # counter's SQL functions among them); the tests after this one need them all.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
