"""Risk flags: the scan (scheduled and on demand), notes, resolve and dismiss, and settings.

The scan reads other apps' tables with a few aggregate queries per rule and writes only its
own: a finding whose key (rule, subject, period) already has a flag adds no flag; an open flag
gets its figures and rows brought up to date; a resolved or dismissed one is left as it was.
It runs in its own short transactions, never inside a posting's.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, PermissionDenied, invalid
from civicpoints.risk.models import (
    FlagStatus,
    NoteAction,
    RiskEvidence,
    RiskFlag,
    RiskNote,
    RiskRun,
    RiskSettings,
)
from civicpoints.risk.rules import RULES, Context, Finding
from civicpoints.schemes.models import Role, Scheme
from civicpoints.schemes.scope import Actor, require_role

# Who reviews flags (auditors read everything and review risk flags; county admins too).
RISK_REVIEWERS = frozenset({Role.COUNTY_ADMIN, Role.AUDITOR})
# Who may change thresholds and start a scan at once (the scheduler scans in any case).
RISK_SETTERS = frozenset({Role.COUNTY_ADMIN})
RISK_SCANNERS = RISK_SETTERS


def settings_for(scheme_id: int) -> RiskSettings:
    """The scheme's thresholds (the defaults, unsaved, when it has none of its own)."""
    found = RiskSettings.objects.filter(scheme_id=scheme_id).first()
    return found if found is not None else RiskSettings(scheme_id=scheme_id)


# --- the scan ------------------------------------------------------------------------------


def risk_scan(
    *, scheme_id: int | None = None, force: bool = False, at: dt.datetime | None = None
) -> int:
    """Scan one scheme (or every scheme) and return how many new flags were raised.

    Without ``force`` a scheme is scanned only when its last scan is older than its
    ``scan_minutes`` (the scheduler calls this every few seconds)."""
    now = at or timezone.now()
    schemes = Scheme.objects.order_by("pk")
    if scheme_id is not None:
        schemes = schemes.filter(pk=scheme_id)
    raised = 0
    for sid, region_id in schemes.values_list("pk", "operator_region_id"):
        settings = settings_for(sid)
        run = RiskRun.objects.filter(scheme_id=sid).first()
        if (
            not force
            and run is not None
            and run.started_at > now - dt.timedelta(minutes=settings.scan_minutes)
        ):
            continue
        raised += _scan_scheme(sid, region_id, settings, run, now)
    return raised


def _scan_scheme(
    scheme_id: int, region_id: int, settings: RiskSettings, run: RiskRun | None, now: dt.datetime
) -> int:
    began = time.monotonic()
    since = None
    if run is not None and run.watermark is not None:
        since = run.watermark - dt.timedelta(days=settings.lookback_days)
    ctx = Context(scheme_id=scheme_id, region_id=region_id, settings=settings, since=since, now=now)
    raised = 0
    for rule, find in RULES.items():
        raised += _save(scheme_id, rule, list(find(ctx)), now)
    RiskRun.objects.update_or_create(
        scheme_id=scheme_id,
        defaults={
            "started_at": now,
            "finished_at": timezone.now(),
            "watermark": now,
            "raised": raised,
            "seconds": time.monotonic() - began,
        },
    )
    return raised


def _save(scheme_id: int, rule: str, findings: list[Finding], now: dt.datetime) -> int:
    """Flags for new keys, fresh figures and rows for open flags; closed flags untouched."""
    if not findings:
        return 0
    raised = 0
    for chunk in _chunks(findings, 500):
        with transaction.atomic():
            subjects = {f.subject for f in chunk}
            existing = {
                (subject, period): (pk, status)
                for pk, subject, period, status in RiskFlag.objects.filter(
                    scheme_id=scheme_id, rule=rule, subject__in=subjects
                ).values_list("pk", "subject", "period", "status")
            }
            new = [f for f in chunk if (f.subject, f.period) not in existing]
            RiskFlag.objects.bulk_create(
                [
                    RiskFlag(
                        scheme_id=scheme_id,
                        rule=rule,
                        subject=f.subject,
                        period=f.period,
                        region_id=f.region_id,
                        detail=f.detail,
                        raised_at=now,
                        updated_at=now,
                    )
                    for f in new
                ],
                ignore_conflicts=True,  # a second scan at the same moment: one flag
            )
            ids = {
                (subject, period): (pk, status)
                for pk, subject, period, status in RiskFlag.objects.filter(
                    scheme_id=scheme_id, rule=rule, subject__in=subjects
                ).values_list("pk", "subject", "period", "status")
            }
            raised += sum(1 for key in ids if key not in existing)
            open_found = [
                (ids[(f.subject, f.period)][0], f)
                for f in chunk
                if ids.get((f.subject, f.period), (0, ""))[1] == FlagStatus.OPEN
            ]
            changed = [
                RiskFlag(pk=pk, detail=f.detail, updated_at=now)
                for pk, f in open_found
                if (f.subject, f.period) in existing
            ]
            if changed:
                RiskFlag.objects.bulk_update(changed, ["detail", "updated_at"])
            RiskEvidence.objects.bulk_create(
                [
                    RiskEvidence(scheme_id=scheme_id, flag_id=pk, kind=kind, object_id=object_id)
                    for pk, f in open_found
                    for kind, object_id in dict.fromkeys(f.evidence)
                ],
                ignore_conflicts=True,
            )
    return raised


def _chunks(items: list[Finding], size: int) -> Iterable[list[Finding]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the review ----------------------------------------------------------------------------


def _require_reviewer(actor: Actor, flag: RiskFlag, action: str) -> int:
    """The reviewer's user id, or PermissionDenied."""
    require_role(
        actor,
        roles=RISK_REVIEWERS,
        scheme_id=flag.scheme_id,
        region_path=flag.region.path,
        action=action,
    )
    if actor.user_id is None:
        raise PermissionDenied(action)
    return actor.user_id


def _clean_note(text: Any, *, required: bool) -> str:
    text = (text if isinstance(text, str) else "").strip()
    if required and not text:
        raise invalid(_("请写明处理情况或排除的理由"), field="note")
    if not text:
        raise invalid(_("请填写备注"), field="note")
    if len(text) > 1000:
        raise invalid(_("备注太长（最多1000个字）"), field="note")
    return text


def flag_note_add(*, actor: Actor, flag: RiskFlag, text: str) -> RiskNote:
    """A reviewer's note on a flag (any status)."""
    text = _clean_note(text, required=False)
    author = _require_reviewer(actor, flag, "risk.note")
    with transaction.atomic():
        note = RiskNote.objects.create(
            scheme_id=flag.scheme_id, flag=flag, author_id=author, action=NoteAction.NOTE, text=text
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=flag.scheme_id,
            action=AuditAction.RISK_NOTE,
            obj=flag,
            detail={"rule": flag.rule, "note": text[:200]},
        )
    return note


# How closing a flag is recorded in the audit log.
CLOSE_AUDIT = {
    NoteAction.RESOLVE: AuditAction.RISK_RESOLVE,
    NoteAction.DISMISS: AuditAction.RISK_DISMISS,
}


def _close(*, actor: Actor, flag: RiskFlag, note: str, status: str, action: NoteAction) -> RiskFlag:
    text = _clean_note(note, required=True)
    author = _require_reviewer(actor, flag, f"risk.{action}")
    now = timezone.now()
    with transaction.atomic():
        # Guarded: only an open flag closes, so two reviewers at once cannot both close it.
        closed = RiskFlag.objects.filter(pk=flag.pk, status=FlagStatus.OPEN).update(
            status=status, closed_by_id=actor.user_id, closed_at=now, updated_at=now
        )
        if closed != 1:
            raise ApplicationError(
                ErrorCode.INVALID_TRANSITION,
                _("这条风险提示已经处理过了"),
                {"status": RiskFlag.objects.get(pk=flag.pk).status, "action": action},
            )
        RiskNote.objects.create(
            scheme_id=flag.scheme_id, flag=flag, author_id=author, action=action, text=text
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=flag.scheme_id,
            action=CLOSE_AUDIT[action],
            obj=flag,
            detail={"rule": flag.rule, "note": text[:200]},
        )
    flag.refresh_from_db()
    return flag


def flag_resolve(*, actor: Actor, flag: RiskFlag, note: str) -> RiskFlag:
    """Checked and dealt with (e.g. the claim reversed, the clerk spoken to)."""
    return _close(
        actor=actor, flag=flag, note=note, status=FlagStatus.RESOLVED, action=NoteAction.RESOLVE
    )


def flag_dismiss(*, actor: Actor, flag: RiskFlag, note: str) -> RiskFlag:
    """Checked and found to be in order; a later scan never reopens it."""
    return _close(
        actor=actor, flag=flag, note=note, status=FlagStatus.DISMISSED, action=NoteAction.DISMISS
    )


def risk_scan_now(*, actor: Actor, scheme: Scheme) -> int:
    """A reviewer's "scan now" button: the same scan, at once."""
    require_role(
        actor,
        roles=RISK_SCANNERS,
        scheme_id=scheme.pk,
        region_path=scheme.operator_region.path,
        action="risk.scan",
    )
    raised = risk_scan(scheme_id=scheme.pk, force=True)
    with transaction.atomic():
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.RISK_SCAN,
            obj=scheme,
            detail={"raised": raised},
        )
    return raised


SETTING_FIELDS = (
    "scan_minutes",
    "lookback_days",
    "split_min_claims",
    "bunching_min_claims",
    "bunching_share_pct",
    "month_end_days",
    "assisted_min_redemptions",
    "assisted_share_pct",
    "payment_limit",
    "round_unit",
    "near_limit_pct",
    "round_min_households",
    "refund_window_minutes",
    "peer_factor",
    "peer_min_points",
    "writeoff_min_points",
)
# (lowest, highest) each setting may take: outside it is a clear error, not a database one.
SETTING_RANGES = {
    "scan_minutes": (1, 10_080),
    "lookback_days": (0, 400),
    "split_min_claims": (2, 1000),
    "bunching_min_claims": (1, 100_000),
    "bunching_share_pct": (1, 100),
    "month_end_days": (1, 15),
    "assisted_min_redemptions": (1, 100_000),
    "assisted_share_pct": (1, 100),
    "payment_limit": (1, 10**12),
    "round_unit": (1, 10**12),
    "near_limit_pct": (1, 100),
    "round_min_households": (1, 100_000),
    "refund_window_minutes": (1, 43_200),
    "peer_factor": (1, 1000),
    "peer_min_points": (0, 10**12),
    "writeoff_min_points": (0, 10**12),
}


def risk_settings_update(*, actor: Actor, scheme: Scheme, values: dict[str, int]) -> RiskSettings:
    """A county admin changes the scheme's thresholds (amounts in hundredths)."""
    require_role(
        actor,
        roles=RISK_SETTERS,
        scheme_id=scheme.pk,
        region_path=scheme.operator_region.path,
        action="risk.settings",
    )
    for name, value in values.items():
        if name not in SETTING_RANGES:
            raise invalid(_("未知的设置项"), field=name)
        low, high = SETTING_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(
                _("%(low)s 到 %(high)s 之间的整数") % {"low": low, "high": high}, field=name
            )
    with transaction.atomic():
        settings, _created = RiskSettings.objects.select_for_update().get_or_create(
            scheme_id=scheme.pk
        )
        before = {name: getattr(settings, name) for name in values}
        for name, value in values.items():
            setattr(settings, name, value)
        settings.updated_by_id = actor.user_id
        settings.save()
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme.pk,
            action=AuditAction.RISK_SETTINGS,
            obj=settings,
            detail={"before": before, "after": values},
        )
    return settings
