"""Signed credit statements (签名积分报告): issuing one under a live consent, the lender's
download and print, and the public check behind the printed QR code (``/s/<code>/``).

A statement is the record a lender may read (``record.household_record``), with who issued it
and to whom, signed with the scheme's active key (``keys.active_signer``) into the exact file
``signing.envelope`` makes. The file is stored encrypted (it may hold an ID number) and given
back byte for byte. Every issue, download, print and check is a ``ConsentUse`` row the household
sees and an audit row, in the same transaction as the read; any lender-side failure is the one
identical NotFound and writes nothing, and a revoked consent's statements are 404 to its lender.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from civicpoints.audit.models import AuditAction
from civicpoints.credit.consents import PII_LABELS, REF_ALPHABET, record_use, ref_display
from civicpoints.credit.keys import active_signer, known_keys
from civicpoints.credit.models import Consent, ConsentUseKind, LenderKey, Statement
from civicpoints.credit.record import household_record, live_consent, utc
from civicpoints.credit.signing import (
    TYPE,
    VERSION,
    StatementInvalid,
    envelope,
    fingerprint,
    statement_verify,
    unb64url,
)
from civicpoints.errors import ApplicationError, ErrorCode, NotFound
from civicpoints.honours.ceremonies import certificate_qr_svg
from civicpoints.households import crypto
from civicpoints.households.models import Household, HouseholdStatus
from civicpoints.ledger.idempotency import Slot, idempotency_succeed
from civicpoints.schemes.models import Scheme

log = logging.getLogger(__name__)

CODE_LENGTH = 20  # 100 random bits
DAILY_LIMIT = 5  # statements a day under one consent
CHECK_EVERY = 600  # seconds: one check row per statement and viewer in this time


def new_code() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: object) -> str | None:
    """A statement code as printed or typed (any case, dashes, O for 0, I or L for 1)."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_LENGTH or any(c not in REF_ALPHABET for c in cleaned):
        return None
    return cleaned


def code_display(code: str) -> str:
    return "-".join(code[i : i + 5] for i in range(0, len(code), 5))


def statement_file(statement: Statement) -> bytes:
    """The statement file, exactly the bytes that were signed into it."""
    return crypto.decrypt(statement.payload_encrypted).encode("utf-8")


def _wrapper(data: bytes) -> dict[str, str]:
    parts: dict[str, str] = json.loads(data)
    return parts


def statement_payload(data: bytes) -> dict[str, Any]:
    """The payload of a stored file (ours, so well formed; not a verification)."""
    payload: dict[str, Any] = json.loads(unb64url(_wrapper(data)["payload"]))
    return payload


def statement_issue(
    *, key: LenderKey, ref: object, keys_url: str, slot: Slot | None = None
) -> Statement:
    """Sign the live record under this lender's consent ``ref`` into a new statement, with the
    household's use row and the audit row; ``slot`` stores the keyed response in the same
    transaction. NotFound (the one identical answer) for anything but a live consent of this
    lender; 429 after ``DAILY_LIMIT`` statements in a day under one consent; 503 without the
    scheme's signing key. A refusal writes nothing."""
    now = timezone.now()
    try:
        with transaction.atomic(durable=True):
            consent = live_consent(lender=key.lender, ref=ref, lock=True)
            recent = Statement.objects.filter(
                consent=consent, issued_at__gt=now - dt.timedelta(days=1)
            ).count()
            if recent >= DAILY_LIMIT:
                refusal = ApplicationError(ErrorCode.RATE_LIMITED)
                refusal.retry_after = 3600
                raise refusal
            signing_key, sign = active_signer(scheme_id=consent.scheme_id)
            scheme = Scheme.objects.select_related("operator_region").get(pk=consent.scheme_id)
            code = new_code()
            payload = {
                "type": TYPE,
                "v": VERSION,
                "code": code,
                "issued_at": utc(now),
                "issuer": {
                    "scheme": scheme.pk,
                    "name": scheme.name,
                    "region_code": scheme.operator_region.code,
                    "kid": signing_key.kid,
                    "keys_url": keys_url,
                },
                "lender": {"code": key.lender.code, "name": key.lender.name},
                **household_record(consent),
            }
            data = envelope(payload, kid=signing_key.kid, sign=sign)
            wrapper = _wrapper(data)
            statement = Statement.objects.create(
                scheme_id=consent.scheme_id,
                consent=consent,
                code=code,
                payload_encrypted=crypto.encrypt(data.decode("utf-8")),
                payload_sha256=hashlib.sha256(unb64url(wrapper["payload"])).hexdigest(),
                kid=signing_key.kid,
                sig=wrapper["sig"],
                issued_at=now,
            )
            record_use(
                consent=consent,
                kind=ConsentUseKind.STATEMENT_ISSUE,
                action=AuditAction.CREDIT_STATEMENT_ISSUE,
                actor_id=None,
                detail={"key": key.prefix, "statement": code, "kid": signing_key.kid},
                at=now,
                statement_id=statement.pk,
            )
            idempotency_succeed(slot=slot, result=statement)
            return statement
    except NotFound:
        log.warning("lender statement issue not found (key %s)", key.prefix)
        raise


@dataclass(frozen=True)
class Delivered:
    statement: Statement
    data: bytes
    payload: dict[str, Any]


def statement_deliver(*, key: LenderKey, code: object, printed: bool = False) -> Delivered:
    """The file of one of this lender's statements while its consent is live, and the
    household's use row (download, or print) and the audit row; NotFound, writing nothing,
    for an unknown or malformed code, another lender's, or one whose consent was revoked or
    has ended."""
    wanted = normalize_code(code)
    try:
        with transaction.atomic(durable=True):
            found = (
                Statement.objects.filter(
                    code=wanted,
                    scheme_id=key.lender.scheme_id,
                    consent__lender_id=key.lender_id,
                )
                .select_related("consent")
                .first()
                if wanted
                else None
            )
            if found is None:
                raise NotFound("consent")  # the one 404 of the lender API
            consent = live_consent(lender=key.lender, ref=found.consent.ref, lock=True)
            data = statement_file(found)
            record_use(
                consent=consent,
                kind=ConsentUseKind.STATEMENT_PRINT
                if printed
                else ConsentUseKind.STATEMENT_DOWNLOAD,
                action=AuditAction.CREDIT_STATEMENT_DOWNLOAD,
                actor_id=None,
                fields=statement_payload(data)["consent"]["fields"],
                detail={
                    "key": key.prefix,
                    "statement": found.code,
                    "how": "print" if printed else "download",
                },
                statement_id=found.pk,
            )
            return Delivered(found, data, statement_payload(data))
    except NotFound:
        log.warning(
            "lender statement %s not found (key %s)", "print" if printed else "download", key.prefix
        )
        raise


def lender_statement(*, key: LenderKey, code: object) -> Delivered:
    """One of this lender's statements while its consent is live, read only (the answer to the
    keyed issue, given again on a replay); NotFound otherwise."""
    wanted = normalize_code(code)
    found = (
        Statement.objects.filter(
            code=wanted, scheme_id=key.lender.scheme_id, consent__lender_id=key.lender_id
        )
        .select_related("consent__household")
        .first()
        if wanted
        else None
    )
    if found is None or not consent_live(found.consent):
        raise NotFound("consent")
    data = statement_file(found)
    return Delivered(found, data, statement_payload(data))


@dataclass(frozen=True)
class Checked:
    """What the public check page may say about a statement."""

    statement: Statement
    genuine: bool
    live: bool
    payload: dict[str, Any]
    notice_policy: str


def consent_live(consent: Consent) -> bool:
    return (
        consent.revoked_at is None
        and consent.ends_at > timezone.now()
        and consent.household.status != HouseholdStatus.CLOSED
    )


def statement_check(*, code: object, viewer: str) -> Checked:
    """The public check (``/s/<code>/``): is the stored file still genuine under the published
    keys, and is its consent live. Each check is a ``qr_check`` row the household sees, at most
    one per statement and ``viewer`` (a digest of the caller's address) in ``CHECK_EVERY``
    seconds, so a scraper cannot flood a household's history. NotFound for an unknown code."""
    wanted = normalize_code(code)
    found = (
        Statement.objects.filter(code=wanted)
        .select_related("consent__household", "consent__lender", "scheme")
        .first()
        if wanted
        else None
    )
    if found is None:
        raise NotFound("statement")
    data = statement_file(found)
    try:
        payload = statement_verify(data, known_keys())
        genuine = True
    except StatementInvalid:
        payload = statement_payload(data)
        genuine = False
    throttle = "credit-check:" + hashlib.sha256(f"{found.code}:{viewer}".encode()).hexdigest()
    if cache.add(throttle, 1, CHECK_EVERY):
        with transaction.atomic(durable=True):
            record_use(
                consent=found.consent,
                kind=ConsentUseKind.QR_CHECK,
                action=AuditAction.CREDIT_STATEMENT_CHECK,
                actor_id=None,
                fields=[],
                detail={"statement": found.code},
                statement_id=found.pk,
            )
    return Checked(
        statement=found,
        genuine=genuine,
        live=consent_live(found.consent),
        payload=payload,
        notice_policy=found.scheme.notice_name_display,
    )


# --- the household's own copies, and the printed page -----------------------------------------


def household_statements(household: Household) -> QuerySet[Statement]:
    """Every statement issued under the household's consents, newest first."""
    return (
        Statement.objects.filter(scheme_id=household.scheme_id, consent__household=household)
        .select_related("consent__lender")
        .order_by("-issued_at", "-pk")
    )


def household_statement(household: Household, code: object) -> Delivered:
    """One of the household's own statements (its copy: no use row, it is no lender's use);
    NotFound otherwise."""
    wanted = normalize_code(code)
    found = household_statements(household).filter(code=wanted).first() if wanted else None
    if found is None:
        raise NotFound("statement")
    data = statement_file(found)
    return Delivered(found, data, statement_payload(data))


def _year_rows(years: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The print's table: one row per year and category (net and deducted), then the total."""
    rows: list[dict[str, Any]] = []
    for y in years:
        net, deducted = y["net_by_category"], y["deducted_by_category"]
        for category in sorted(set(net) | set(deducted)):
            rows.append(
                {
                    "year": y["year"],
                    "category": category,
                    "net": net.get(category, "0.00"),
                    "deducted": deducted.get(category, ""),
                }
            )
        rows.append({"year": y["year"], "total": y["net_total"]})
    return rows


def local_time(text: str) -> str:
    """A payload's UTC time ("2026-12-05T06:53:46Z") as the county's local time, to the minute."""
    try:
        when = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return str(text)
    return f"{timezone.localtime(when):%Y-%m-%d %H:%M}"


def print_context(found: Delivered, *, check_url: str) -> dict[str, Any]:
    """What ``credit/statement_print.html`` shows: the signed payload only (so only the
    personal data the consent let go), with the key's fingerprint and the check page's QR."""
    payload = found.payload
    public = known_keys().get(found.statement.kid)
    return {
        "s": payload,
        "rows": _year_rows(payload["years"]),
        "issued": local_time(payload["issued_at"]),
        "period": (
            local_time(payload["consent"]["starts_at"]),
            local_time(payload["consent"]["ends_at"]),
        ),
        "code": code_display(found.statement.code),
        "ref": ref_display(payload["consent"]["ref"]),
        "fields": [str(PII_LABELS[f]) for f in payload["consent"]["fields"] if f in PII_LABELS],
        "sha256": found.statement.payload_sha256,
        "fingerprint": fingerprint(public.raw) if public else "",
        "check_url": check_url,
        "qr": certificate_qr_svg(check_url),
    }
