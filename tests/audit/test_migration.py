"""Migration 0003 files older events under their object's region (set-based backfill).

Its backfill runs here on today's tables, with today's models: migrating the database back
to 0002 and forward again (what this test first did) unapplies and reapplies every migration
that depends on audit, most of the schema, and took half a minute of each run. Every test
database still runs 0003 itself, on empty tables."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

backfill_regions = import_module(
    "civicpoints.audit.migrations.0003_action_choices_and_region"
).backfill_regions


@pytest.mark.django_db
def test_older_events_get_their_objects_region() -> None:
    from civicpoints.audit.models import AuditEvent
    from tests.factories import build_world, make_household

    world = build_world()
    home = make_household(world.scheme, world.village_b1, "钱七")
    AuditEvent.objects.all().delete()
    AuditEvent.objects.create(
        scheme_id=world.scheme.pk,
        action="household.create",
        object_type="Household",
        object_id=str(home.pk),
    )
    AuditEvent.objects.create(
        scheme_id=world.scheme.pk, action="rule.create", object_type="Rule", object_id="1"
    )
    AuditEvent.objects.create(scheme_id=None, action="staff.login")
    assert not AuditEvent.objects.filter(region__isnull=False).exists()

    backfill_regions(apps, None)

    assert sorted(AuditEvent.objects.values_list("action", "region_id"), key=lambda r: r[0]) == [
        ("household.create", world.village_b1.pk),
        ("rule.create", None),
        ("staff.login", None),
    ]
