"""Every table a scheme owns carries ``scheme_id``, and every unique constraint on one includes
it: what Citus needs to distribute the tables by scheme (docs/scaling.md, "Sharding by
scheme"). A new model or constraint that breaks the rule fails here.

The rule is not yet kept everywhere: ``GAPS`` lists where it is broken today (child rows
reached through their parent, and one-to-one links to postings). The list may only shrink: a
gap closed without being struck off fails too, so this file always says what is left.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models

# Not owned by one scheme. Reference tables (Citus copies them to every node): the national
# division codes and the schemes themselves. The control plane (kept on the coordinator):
# people and their sign-in, API keys' idempotency records, the job runner's state.
NOT_SCHEME_OWNED = {
    "schemes.Region": "reference: the national administrative divisions, shared by all",
    "schemes.Scheme": "reference: the distribution key's own table",
    "schemes.User": "control plane: a person may work in several schemes",
    "schemes.ApiToken": "control plane: a person's API sign-in",
    "schemes.UnknownLogin": "control plane: sign-in attempts for names that do not exist",
    "households.SmsLogin": "control plane: a code sent to a phone before its household is known",
    "ledger.IdempotencyRecord": "control plane: an API request's key, before its scheme is read",
    "ops.JobState": "control plane: the scheduler's state",
    "ops.Heartbeat": "control plane: workers' liveness",
}

# Where the rule is broken today (docs/scaling.md says how each closes).
GAPS_TABLES = {
    "stores.RedemptionLine",
    "stores.OrderLine",
    "risk.RiskEvidence",
    "risk.RiskNote",
    "honours.ClosedStanding",
    "honours.Nominee",
    "honours.Vote",
    "honours.Certificate",
}
GAPS_UNIQUE = {
    ("households.ResidentToken", "key_hash"),
    ("ledger.Account", "household"),
    ("ledger.Posting", "reverses"),
    ("ledger.Hold", "capture_posting"),
    ("ledger.ChainLink", "posting"),
    ("ledger.ApprovalPolicy", "scheme"),
    ("ledger.ApprovalRequest", "approval_adjustment_pending_unique"),
    ("ledger.ApprovalRequest", "approval_reversal_pending_unique"),
    ("ledger.ApprovalRequest", "posting"),
    ("awards.Claim", "posting"),
    ("awards.OwedDeduction", "claim"),
    ("activities.Activity", "code"),
    ("activities.Enrolment", "enrolment_one_per_household"),
    ("activities.Attendance", "attendance_one_per_household"),
    ("activities.Attendance", "claim"),
    ("activities.MutualHelp", "claim"),
    ("stores.Redemption", "posting"),
    ("stores.Redemption", "return_posting"),
    ("stores.Order", "hold"),
    ("stores.Order", "redemption"),
    ("stores.Delivery", "redemption"),
    ("merchants.PaymentCode", "code"),
    ("merchants.GuessLimits", "scheme"),
    ("merchants.Payment", "posting"),
    ("merchants.Payment", "payment_code"),
    ("merchants.Refund", "posting"),
    ("merchants.Statement", "statement_one_per_day"),
    ("merchants.Statement", "posting"),
    ("merchants.Statement", "payout_posting"),
    ("risk.RiskSettings", "scheme"),
    ("risk.RiskRun", "scheme"),
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


def unique_without_scheme() -> set[tuple[str, str]]:
    """(model, constraint or field) for each unique rule on a scheme's table leaving it out.
    A one-to-one field and ``unique=True`` are unique rules; the primary key is the id,
    which Citus takes as (scheme_id, id) when the table is distributed."""
    found = set()
    for m in _ours():
        if not _has_scheme(m):
            continue
        for c in m._meta.constraints:
            if isinstance(c, models.UniqueConstraint) and "scheme" not in (c.fields or ()):
                found.add((m._meta.label, c.name))
        for f in m._meta.get_fields():
            if getattr(f, "concrete", False) and getattr(f, "unique", False) and not f.primary_key:
                found.add((m._meta.label, f.name))
        for fields in m._meta.unique_together:
            if "scheme" not in fields:
                found.add((m._meta.label, ",".join(fields)))
    return found


def test_every_scheme_table_carries_scheme_id():
    missing = scheme_missing()
    assert missing - GAPS_TABLES == set(), "a scheme's table without scheme_id (docs/scaling.md)"
    assert GAPS_TABLES - missing == set(), "closed: strike these off GAPS_TABLES"


def test_every_unique_rule_on_a_scheme_table_includes_scheme_id():
    found = unique_without_scheme()
    assert found - GAPS_UNIQUE == set(), "a unique rule without scheme_id (docs/scaling.md)"
    assert GAPS_UNIQUE - found == set(), "closed: strike these off GAPS_UNIQUE"


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
