"""Every table a scheme owns carries ``scheme_id``, and every unique constraint on one includes
it: what Citus needs to distribute the tables by scheme (docs/scaling.md, "Sharding by
scheme"). A new model or constraint that breaks the rule fails here.

One-to-one links are ``SchemeOneToOneField`` with a unique (link, scheme) constraint
(``schemes/fields.py``). Two keys stay unique across schemes because they are looked up before
the scheme is known (``LOOKED_UP_WITHOUT_SCHEME``, with why).
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from civicpoints.schemes.fields import SCHEMA_EDITING, SchemeOneToOneField
from tests.factories import fund, make_household

# Not owned by one scheme. Reference tables (Citus copies them to every node): the national
# division codes and the schemes themselves. The control plane (kept on the coordinator):
# people and their sign-in, API keys' idempotency records, the job runner's state.
NOT_SCHEME_OWNED = {
    "schemes.Region": "reference: the national administrative divisions, shared by all",
    "schemes.Scheme": "reference: the distribution key's own table",
    "schemes.User": "control plane: a person may work in several schemes",
    "schemes.ApiToken": "control plane: a person's API sign-in",
    "schemes.StaffSession": "control plane: a page session, read before anyone's scheme is",
    "schemes.UnknownLogin": "control plane: sign-in attempts for names that do not exist",
    "households.SmsLogin": "control plane: a code sent to a phone before its household is known",
    "ledger.IdempotencyRecord": "control plane: an API request's key, before its scheme is read",
    "ops.JobState": "control plane: the scheduler's state",
    "ops.Heartbeat": "control plane: workers' liveness",
}

# Unique keys that are looked up before the scheme is known, so they stay unique across all
# schemes: a resident's sign-in token (presented by a phone) and a certificate's code (the QR
# on the paper, checked by anyone on the public page). On Citus each becomes a small directory
# on the coordinator, key -> scheme, and the row itself lives on its scheme's shard
# (docs/scaling.md, "Keys found before their scheme").
LOOKED_UP_WITHOUT_SCHEME = {
    ("households.ResidentToken", "key_hash"): "a phone's sign-in token",
    ("honours.Certificate", "code"): "the public certificate check (/c/<code>/)",
    ("credit.LenderKey", "key_hash"): "a lender's API key, presented before its scheme is known",
    ("credit.Statement", "code"): "a statement's code, printed in its QR and checked in public "
    "(/s/<code>/) before its scheme is known",
}


def _ours() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models()
        if m._meta.app_config is not None
        and m._meta.app_config.name.startswith("civicpoints")
        and not m._meta.proxy
        and m._meta.managed
    ]


def _has_scheme(model: type[models.Model]) -> bool:
    return any(f.concrete and f.name == "scheme" for f in model._meta.get_fields())


def scheme_missing() -> set[str]:
    return {
        m._meta.label
        for m in _ours()
        if not _has_scheme(m) and m._meta.label not in NOT_SCHEME_OWNED
    }


def _named(constraint: models.UniqueConstraint) -> set[str]:
    """The fields a unique constraint names, as fields or as plain column expressions."""
    names = set(constraint.fields or ())
    names |= {e.name for e in constraint.expressions if isinstance(e, models.F)}
    return names


def unique_without_scheme() -> set[tuple[str, str]]:
    """As the tables are made: a ``SchemeOneToOneField`` is not unique there."""
    token = SCHEMA_EDITING.set(True)
    try:
        return _unique_without_scheme()
    finally:
        SCHEMA_EDITING.reset(token)


def _unique_without_scheme() -> set[tuple[str, str]]:
    """(model, constraint or field) for each unique rule on a scheme's table leaving it out.
    A one-to-one field and ``unique=True`` are unique rules; the primary key is the id,
    which Citus takes as (scheme_id, id) when the table is distributed."""
    found = set()
    for m in _ours():
        if not _has_scheme(m):
            continue
        for c in m._meta.constraints:
            if isinstance(c, models.UniqueConstraint) and "scheme" not in _named(c):
                found.add((m._meta.label, c.name))
        for f in m._meta.get_fields():
            if (
                getattr(f, "concrete", False)
                and getattr(f, "unique", False)
                and not f.primary_key
                and f.name != "scheme"  # one row per scheme: the key is the scheme itself
            ):
                found.add((m._meta.label, f.name))
        for fields in m._meta.unique_together:
            if "scheme" not in fields:
                found.add((m._meta.label, ",".join(fields)))
    return found


def test_every_scheme_table_carries_scheme_id():
    assert scheme_missing() == set(), "a scheme's table without scheme_id (docs/scaling.md)"


def test_every_unique_rule_on_a_scheme_table_includes_scheme_id():
    found = unique_without_scheme()
    assert found - LOOKED_UP_WITHOUT_SCHEME.keys() == set(), (
        "a unique rule without scheme_id (docs/scaling.md)"
    )
    assert LOOKED_UP_WITHOUT_SCHEME.keys() - found == set(), (
        "now scoped by scheme: strike these off LOOKED_UP_WITHOUT_SCHEME"
    )


def test_the_check_sees_a_planted_table_and_constraint():
    """The rule's own check: a model made here, with a scheme and a unique code alone, and one
    without a scheme, are both found."""

    class Planted(models.Model):
        scheme = models.ForeignKey("schemes.Scheme", models.PROTECT, related_name="+")
        code = models.CharField(max_length=10, unique=True)

        class Meta:
            app_label = "reports"
            managed = True

    class PlantedChild(models.Model):
        parent = models.ForeignKey(Planted, models.CASCADE)

        class Meta:
            app_label = "reports"
            managed = True

    try:
        assert "reports.PlantedChild" in scheme_missing()
        assert ("reports.Planted", "code") in unique_without_scheme()
    finally:
        for name in ("planted", "plantedchild"):
            apps.all_models["reports"].pop(name, None)
        apps.clear_cache()


def test_every_scheme_one_to_one_is_unique_with_its_scheme():
    """A ``SchemeOneToOneField`` is one-to-one only through its model's constraint: each one
    has it (a field without would let two rows share the link)."""
    missing = []
    for m in _ours():
        for f in m._meta.get_fields():
            if isinstance(f, SchemeOneToOneField) and not any(
                isinstance(c, models.UniqueConstraint)
                and set(c.fields) == {f.name, "scheme"}
                and c.condition is None
                for c in m._meta.constraints
            ):
                missing.append(f"{m._meta.label}.{f.name}")
    assert missing == []


@pytest.mark.django_db
def test_a_household_still_has_one_account_in_the_database(world):
    """The rule is the database's, not the field's: a second account for the same household
    is refused by the (household, scheme) constraint, and the link reads back one-to-one."""
    from civicpoints.ledger.models import Account, AccountKind

    household = make_household(world.scheme, world.village_a1, "张三")
    fund(household, 500)
    account = Account.objects.get(household=household)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(
            scheme=world.scheme, kind=AccountKind.HOUSEHOLD, household=household, owner_ref="twin"
        )
    household.refresh_from_db()
    assert household.account == account


@pytest.mark.django_db
def test_the_database_has_no_unique_index_without_scheme_id():
    """What Citus would see: every unique constraint or index the migrations made on a scheme's
    table (the primary key aside) has the scheme_id column, but the two listed keys."""
    allowed = {
        (apps.get_model(label)._meta.db_table, apps.get_model(label)._meta.get_field(f).column)
        for label, f in LOOKED_UP_WITHOUT_SCHEME
    }
    tables = {m._meta.db_table for m in _ours() if _has_scheme(m)}
    found = set()
    with connection.cursor() as cursor:
        for table in sorted(tables):
            for name, c in connection.introspection.get_constraints(cursor, table).items():
                if not c["unique"] or c["primary_key"] or "scheme_id" in c["columns"]:
                    continue
                key = (table, ",".join(map(str, c["columns"])))
                found.add(key if key in allowed else (table, name, tuple(c["columns"])))
    assert found == allowed  # the listed keys are found, so the check sees unique indexes
