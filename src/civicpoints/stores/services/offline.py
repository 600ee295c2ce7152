"""The offline counter (docs/offline-counter.md): devices, their snapshot, the sync of what
they sold while the network was down, and the conflicts a sync leaves.

- A county admin registers a device for one store and gets a one-time enrolment code; the
  clerk enters it on the counter page, which receives the device's secret once. Only hashes of
  the code and the secret are kept. A lost device is revoked: everything it sends afterwards is
  refused and listed (``OfflineStatus.REVOKED``), never booked and never lost.
- The snapshot is what the page needs to sell offline: products, stock, the households the
  store serves with their card codes, search keys, spendable points, offline spending of the
  period and the PIN's check value (never a PIN, a hash, a phone or an ID number).
- The sync books each queued sale through ``redeem()`` with the key the device made (a retry is
  never a second sale). A sale refused at sync is kept as a conflict, with its refusal stored
  under the same key, until a clerk or admin records what became of the goods: collected,
  paid in cash, redeemed again, or written off by two county admins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from base64 import b64encode
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.hashers import check_password
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import ApplicationError, ErrorCode, PermissionDenied, invalid
from civicpoints.households import crypto
from civicpoints.households.models import Disqualification, Household
from civicpoints.ledger.amounts import format_points
from civicpoints.ledger.idempotency import Slot, idempotency_fail
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor
from civicpoints.stores.models import (
    CounterDevice,
    DeviceStatus,
    OfflineResolution,
    OfflineSale,
    OfflineStatus,
    Product,
    Redemption,
    RedemptionSource,
    StockMove,
    StockMoveKind,
    Store,
)
from civicpoints.stores.selectors import households_served, products_of
from civicpoints.stores.services.catalogue import _is_clerk, require_counter
from civicpoints.stores.services.counter import (
    Item,
    OfflineMark,
    offline_period,
    redeem,
)

ENROL_CODE_HOURS = 24
ENROL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone
DEVICE_MANAGERS = frozenset({Role.COUNTY_ADMIN})
# Refusals that a sync turns into a conflict: the goods are gone, the server says no.
CONFLICTS = frozenset(
    {
        ErrorCode.INSUFFICIENT_POINTS,
        ErrorCode.OUT_OF_STOCK,
        ErrorCode.DISQUALIFIED,
        ErrorCode.HOUSEHOLD_CLOSED,
        ErrorCode.NOT_SERVED,
        ErrorCode.STORE_CLOSED,
        ErrorCode.PURCHASE_LIMIT,
        ErrorCode.OFFLINE_ALLOWANCE,
        ErrorCode.OFFLINE_PIN_UNCONFIRMED,
        ErrorCode.INVALID_INPUT,
    }
)
# How far a device's clock may run ahead of the server's before its time is not believed.
CLOCK_SLACK = dt.timedelta(minutes=10)


def secret_digest(secret: str) -> str:
    """What is kept of an enrolment code or a device's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def require_device_manager(actor: Actor, store: Store) -> None:
    if not actor.covers(
        roles=DEVICE_MANAGERS, scheme_id=store.scheme_id, region_path=store.region.path
    ):
        raise PermissionDenied("store.devices")


def may_manage_devices(actor: Actor, store: Store) -> bool:
    return actor.covers(
        roles=DEVICE_MANAGERS, scheme_id=store.scheme_id, region_path=store.region.path
    )


# --- devices -----------------------------------------------------------------------------------


def device_register(*, actor: Actor, store: Store, name: str) -> tuple[CounterDevice, str]:
    """A new device for ``store``; returns it and its one-time enrolment code (shown once)."""
    require_device_manager(actor, store)
    if actor.user_id is None:
        raise PermissionDenied("store.devices")
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise invalid(_("请填写设备名称（不超过40个字）"), field="name")
    if not store.scheme.offline_allowance:
        raise ApplicationError(
            ErrorCode.OFFLINE_DISABLED,
            _("本方案的离线兑换额度为 0，请先在方案设置中填写离线兑换额度"),
        )
    code = "".join(secrets.choice(ENROL_ALPHABET) for _ in range(8))
    now = timezone.now()
    with transaction.atomic():
        device = CounterDevice.objects.create(
            scheme_id=store.scheme_id,
            store=store,
            name=name,
            status=DeviceStatus.PENDING,
            enrol_code_hash=secret_digest(code),
            enrol_expires_at=now + dt.timedelta(hours=ENROL_CODE_HOURS),
            registered_by_id=actor.user_id,
            created_at=now,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=store.scheme_id,
            action=AuditAction.DEVICE_REGISTER,
            obj=device,
            detail={"store": store.pk, "name": name},
        )
    return device, code


def device_enrol(*, actor: Actor, store: Store, code: str) -> tuple[CounterDevice, str]:
    """The clerk's side: the code becomes the device's secret (returned once); single use."""
    require_counter(actor, store)
    code = "".join((code or "").split()).upper()[:16]
    now = timezone.now()
    with transaction.atomic():
        device = (
            CounterDevice.objects.select_for_update()
            .filter(
                store=store,
                status=DeviceStatus.PENDING,
                enrol_code_hash=secret_digest(code),
                enrol_expires_at__gt=now,
            )
            .first()
            if len(code) == 8
            else None
        )
        if device is None:
            raise ApplicationError(ErrorCode.ENROL_CODE_INVALID)
        secret = secrets.token_urlsafe(32)
        CounterDevice.objects.filter(pk=device.pk).update(
            status=DeviceStatus.ACTIVE,
            enrol_code_hash="",
            secret_hash=secret_digest(secret),
            enrolled_by_id=actor.user_id,
            enrolled_at=now,
        )
        audit_record(
            actor_id=actor.user_id,
            scheme_id=store.scheme_id,
            action=AuditAction.DEVICE_ENROL,
            obj=device,
            detail={"store": store.pk},
        )
    device.refresh_from_db()
    return device, f"{device.pk}.{secret}"


def device_revoke(*, actor: Actor, device: CounterDevice, reason: str) -> None:
    require_device_manager(actor, device.store)
    reason = (reason or "").strip()
    if not reason:
        raise invalid(_("请填写停用原因"), field="reason")
    now = timezone.now()
    with transaction.atomic():
        changed = (
            CounterDevice.objects.filter(pk=device.pk)
            .exclude(status=DeviceStatus.REVOKED)
            .update(
                status=DeviceStatus.REVOKED,
                secret_hash="",
                enrol_code_hash="",
                revoked_by_id=actor.user_id,
                revoked_at=now,
                revoke_reason=reason[:200],
            )
        )
        if not changed:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这台设备已经停用"))
        audit_record(
            actor_id=actor.user_id,
            scheme_id=device.scheme_id,
            action=AuditAction.DEVICE_REVOKE,
            obj=device,
            detail={"store": device.store_id, "reason": reason[:200]},
        )


def device_for_token(store: Store, token: str | None) -> CounterDevice:
    """The device a request comes from (``X-Counter-Device: <id>.<secret>``).

    A revoked device is returned (its sales are listed as such); an unknown one, a secret that
    does not match, or another store's device is refused."""
    device_id, _dot, secret = (token or "").partition(".")
    device = (
        CounterDevice.objects.filter(pk=int(device_id), store=store).first()
        if device_id.isascii() and device_id.isdigit() and len(device_id) < 19 and secret
        else None
    )
    if device is None:
        raise ApplicationError(ErrorCode.DEVICE_UNKNOWN)
    if device.status == DeviceStatus.REVOKED:
        return device
    if device.status != DeviceStatus.ACTIVE or not hmac.compare_digest(
        device.secret_hash, secret_digest(secret)
    ):
        raise ApplicationError(ErrorCode.DEVICE_UNKNOWN)
    return device


def device_report(
    *, device: CounterDevice, queued: int, max_seq: int, oldest_at: dt.datetime | None
) -> None:
    """What the device says about its queue (shown on the devices page, above all once it is
    lost); a revoked device's report is still taken."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "reported_queued": max(0, min(queued, 10**6)),
        "reported_max_seq": max(0, min(max_seq, 2**62)),
        "reported_oldest_at": oldest_at,
        "reported_at": now,
    }
    if queued == 0:
        fields["last_sync_at"] = now
    CounterDevice.objects.filter(pk=device.pk).update(**fields)


# --- the snapshot ------------------------------------------------------------------------------


def offline_snapshot(*, store: Store, device: CounterDevice) -> dict[str, Any]:
    """Everything the counter needs to sell offline until ``expires_at``; see the module doc
    for what it never holds. Three queries whatever the number of households."""
    if device.status != DeviceStatus.ACTIVE:
        raise ApplicationError(ErrorCode.DEVICE_REVOKED)
    scheme = store.scheme
    if not scheme.offline_allowance:
        raise ApplicationError(ErrorCode.OFFLINE_DISABLED)
    now = timezone.now()
    today = timezone.localdate(now)
    start, end = offline_period(scheme, now)
    served = households_served(store)
    rows = served.values_list(
        "pk",
        "card_code",
        "head_name",
        "village_id",
        "village__name",
        "search_keys",
        "pin_hash",
        "offline_pin_tag",
        "account__balance",
        "account__held",
    ).order_by("pk")
    banned = dict(
        Disqualification.objects.filter(
            household__in=served.values("pk"),
            lifted_at__isnull=True,
            starts_on__lte=today,
            ends_on__gte=today,
        )
        .values("household_id")
        .annotate(until=Max("ends_on"))
        .values_list("household_id", "until")
    )
    used = dict(
        OfflineSale.objects.filter(scheme_id=scheme.pk, offline_at__gte=start)
        .filter(offline_at__lt=end, household__in=served.values("pk"))
        .values("household_id")
        .annotate(n=Sum("points"))
        .values_list("household_id", "n")
    )
    villages: dict[int, str] = {}
    households = []
    for pk, card, name, village_id, village, keys, pin_hash, tag, balance, held in rows:
        villages[village_id] = village
        checkable = bool(pin_hash) and tag is not None
        households.append(
            [
                pk,
                card,
                name,
                village_id,
                _initials(keys),
                (balance or 0) - (held or 0),
                used.get(pk, 0),
                str(banned[pk]) if pk in banned else None,
                b64encode(crypto.offline_pin_key(pin_hash)).decode() if checkable else None,
                tag if checkable else None,
            ]
        )
    products = [
        [
            p.pk,
            p.name,
            p.unit,
            p.price,
            p.stock,
            not (p.large_item or p.limit_quantity),
        ]
        for p in products_of(store).order_by("pk")
    ]
    return {
        "v": 1,
        "store": {"id": store.pk, "name": store.name},
        "device": device.pk,
        "built_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(days=scheme.offline_period_days)).isoformat(),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "period_days": scheme.offline_period_days,
        "allowance": scheme.offline_allowance,
        "rate": str(scheme.yuan_per_point),
        "pin_seal_key": crypto.pin_seal_public_key(),
        "villages": {str(k): v for k, v in villages.items()},
        "products": products,
        "households": households,
    }


def _initials(search_keys: str) -> str:
    """The pinyin keys a clerk types offline (``households.pinyin.search_keys``), as stored."""
    return " ".join(search_keys.split()[:12])


# --- the sync ----------------------------------------------------------------------------------


def offline_sync(
    *,
    actor: Actor,
    store: Store,
    device: CounterDevice,
    household: Household,
    items: Sequence[Item],
    cash_fen: int,
    seq: int,
    offline_at: dt.datetime,
    recorded_by_id: int | None,
    key: str,
    pin_seal: str,
    sale_key: str,
    slot: Slot | None = None,
) -> Redemption:
    """Book one queued offline sale (in the device's order), or keep it as a conflict.

    The same key again returns the first answer (its redemption, or its conflict); a device's
    sequence number names one sale only; a revoked device's sale is listed and refused. The
    PIN the household typed comes sealed to the server, bound to the sale's key as the device
    made it (``sale_key``); a seal that does not open to the household's PIN makes a conflict
    (``pin_seal_matches``)."""
    require_counter(actor, store)
    now = timezone.now()
    earlier = OfflineSale.objects.filter(scheme_id=store.scheme_id, key=key).first()
    if earlier is not None and earlier.redemption_id is not None:
        return Redemption.objects.get(pk=earlier.redemption_id)
    if earlier is not None and earlier.status != OfflineStatus.REVOKED:
        raise _conflict_error(earlier)
    if offline_at > now + CLOCK_SLACK:
        raise invalid(_("离线兑换时间晚于现在，请检查这台设备的时间"), field="offline_at")
    if device.enrolled_at and offline_at < device.enrolled_at - CLOCK_SLACK:
        raise invalid(_("离线兑换时间早于设备启用时间，请检查这台设备的时间"), field="offline_at")
    items_json = [[i.product_id, i.quantity] for i in items]
    if device.status == DeviceStatus.REVOKED:
        if earlier is None:
            _record(
                actor, store, device, household, seq, key, offline_at, recorded_by_id,
                items_json, cash_fen, OfflineStatus.REVOKED, ErrorCode.DEVICE_REVOKED,
                str(ApplicationError(ErrorCode.DEVICE_REVOKED).message), slot=None,
            )  # fmt: skip
        raise ApplicationError(ErrorCode.DEVICE_REVOKED)
    if OfflineSale.objects.filter(device=device, seq=seq).exclude(key=key).exists():
        raise ApplicationError(ErrorCode.OFFLINE_SEQ_REUSED, detail={"seq": seq})
    mark = OfflineMark(
        device_id=device.pk,
        seq=seq,
        offline_at=offline_at,
        recorded_by_id=recorded_by_id,
        items=items_json,
    )
    try:
        if not pin_seal_matches(household.pin_hash, pin_seal, sale_key):
            raise ApplicationError(ErrorCode.OFFLINE_PIN_UNCONFIRMED)  # in CONFLICTS: kept below
        return redeem(
            actor=actor,
            store=store,
            household=household,
            items=items,
            cash_fen=cash_fen,
            idempotency_key=key,
            slot=slot,
            offline=mark,
            at=now,
        )
    except ApplicationError as exc:
        if exc.code not in CONFLICTS:
            raise
        sale = _record(
            actor, store, device, household, seq, key, offline_at, recorded_by_id,
            items_json, cash_fen, OfflineStatus.CONFLICT, exc.code, exc.message, slot=slot,
        )  # fmt: skip
        raise _conflict_error(sale) from exc


def pin_seal_matches(pin_hash: str, pin_seal: str, sale_key: str) -> bool:
    """Whether the sealed PIN opens, was sealed for this sale, and is the household's. Never
    counts towards the PIN's lockout: the household is not at the counter now."""
    pin = crypto.pin_unseal(pin_seal, sale_key)
    return pin is not None and bool(pin_hash) and check_password(pin, pin_hash)


def _conflict_error(sale: OfflineSale) -> ApplicationError:
    return ApplicationError(
        ErrorCode.OFFLINE_CONFLICT,
        _("这笔离线兑换未能入账：%(reason)s。已记为待处理冲突，请按冲突处理页的办法处理")
        % {"reason": sale.reason},
        detail={"sale": sale.pk, "reason": sale.reason_code, "status": sale.status},
    )


def _record(
    actor: Actor,
    store: Store,
    device: CounterDevice,
    household: Household,
    seq: int,
    key: str,
    offline_at: dt.datetime,
    recorded_by_id: int | None,
    items: list[list[int]],
    cash_fen: int,
    status: str,
    code: str,
    reason: str,
    *,
    slot: Slot | None,
) -> OfflineSale:
    """A sale that was not booked, with the refusal stored under its key in one transaction
    (a retry gets the same answer and never a second row)."""
    products = {p.pk: p.price for p in Product.objects.filter(pk__in=[i[0] for i in items])}
    points = sum(products.get(pk, 0) * q for pk, q in items)
    try:
        with transaction.atomic(durable=slot is not None):
            sale = OfflineSale.objects.create(
                scheme_id=store.scheme_id,
                device=device,
                seq=seq,
                key=key,
                store=store,
                household=household,
                recorded_by_id=recorded_by_id,
                offline_at=offline_at,
                points=max(points, 0),
                cash_fen=cash_fen,
                items=items,
                status=status,
                reason_code=str(code),
                reason=reason[:300],
                synced_at=timezone.now(),
                synced_by_id=actor.user_id,
            )
            audit_record(
                actor_id=actor.user_id,
                scheme_id=store.scheme_id,
                action=AuditAction.OFFLINE_CONFLICT,
                obj=sale,
                detail={
                    "household": household.pk,
                    "device": device.pk,
                    "seq": seq,
                    "points": format_points(sale.points),
                    "reason": reason[:300],
                },
            )
            idempotency_fail(slot=slot, error=_conflict_error(sale))
    except IntegrityError:
        # The same sale recorded by a concurrent twin of this request: its row is the answer.
        return OfflineSale.objects.get(scheme_id=store.scheme_id, key=key)
    return sale


# --- conflicts ---------------------------------------------------------------------------------


def may_resolve(actor: Actor, sale: OfflineSale) -> bool:
    """The store's clerks and the admins over the household's village."""
    return _is_clerk(actor, sale.store) or actor.covers(
        roles=ADMIN_ROLES, scheme_id=sale.scheme_id, region_path=sale.household.village.path
    )


def may_write_off(actor: Actor, sale: OfflineSale) -> bool:
    return actor.covers(
        roles=DEVICE_MANAGERS, scheme_id=sale.scheme_id, region_path=sale.store.region.path
    )


def _goods_gone(actor: Actor, sale: OfflineSale, kind: str, reason: str) -> None:
    """The goods stayed with the household: stock leaves as a move of its own kind (never below
    zero: an out-of-stock conflict means the count was already short)."""
    now = timezone.now()
    moves = []
    for product_id, quantity in sorted(sale.items):
        product = Product.objects.select_for_update().get(pk=product_id)
        taken = min(quantity, product.stock)
        if taken:
            Product.objects.filter(pk=product_id).update(stock=F("stock") - taken)
        moves.append(
            StockMove(
                scheme_id=sale.scheme_id,
                store=sale.store,
                product=product,
                kind=kind,
                quantity=-quantity,
                reason=reason[:200],
                actor_id=actor.user_id,
                created_at=now,
            )
        )
    StockMove.objects.bulk_create(moves)


def offline_resolve(
    *, actor: Actor, sale: OfflineSale, resolution: str, note: str = "", cash_fen: int = 0
) -> None:
    """Goods collected back, or paid for in cash: by a clerk of the store or a village admin."""
    if not may_resolve(actor, sale):
        raise PermissionDenied("offline.resolve")
    if resolution not in (OfflineResolution.COLLECTED, OfflineResolution.CASH):
        raise invalid(_("请选择处理方式"), field="resolution")
    if resolution == OfflineResolution.CASH and cash_fen <= 0:
        raise invalid(_("请填写收到的现金金额"), field="cash")
    note = (note or "").strip()[:200]
    with transaction.atomic():
        marked = OfflineSale.objects.filter(pk=sale.pk, status=OfflineStatus.CONFLICT).update(
            status=OfflineStatus.RESOLVED,
            resolution=resolution,
            resolution_cash_fen=cash_fen if resolution == OfflineResolution.CASH else 0,
            resolution_note=note,
            resolved_by_id=actor.user_id,
            resolved_at=timezone.now(),
        )
        if marked != 1:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这笔冲突已经处理过了"))
        if resolution == OfflineResolution.CASH:
            _goods_gone(actor, sale, StockMoveKind.OFFLINE_CASH, note)
        _resolved_audit(actor, sale, resolution, note, cash_fen)


def offline_resolve_redeem(
    *, actor: Actor, sale: OfflineSale, pin: str, cash_fen: int = 0
) -> Redemption:
    """The household is at the counter again: the same goods redeemed now, with its PIN (and
    cash for what the points do not cover)."""
    if not may_resolve(actor, sale):
        raise PermissionDenied("offline.resolve")
    if sale.status != OfflineStatus.CONFLICT:
        raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这笔冲突已经处理过了"))
    redemption = redeem(
        actor=actor,
        store=sale.store,
        household=sale.household,
        items=[Item(product_id=pk, quantity=q) for pk, q in sale.items],
        pin=pin,
        cash_fen=cash_fen,
        idempotency_key=f"{sale.key}:again",
        source=RedemptionSource.COUNTER,
    )
    with transaction.atomic():
        marked = OfflineSale.objects.filter(pk=sale.pk, status=OfflineStatus.CONFLICT).update(
            status=OfflineStatus.RESOLVED,
            resolution=OfflineResolution.REDEEMED,
            resolved_redemption=redemption,
            resolved_by_id=actor.user_id,
            resolved_at=timezone.now(),
        )
        if marked == 1:
            _resolved_audit(actor, sale, OfflineResolution.REDEEMED, "", cash_fen)
    return redemption


def offline_write_off_request(*, actor: Actor, sale: OfflineSale, note: str) -> None:
    """A county admin asks to write the goods off; a second county admin approves."""
    if not may_write_off(actor, sale):
        raise PermissionDenied("offline.write_off")
    note = (note or "").strip()
    if not note:
        raise invalid(_("请填写核销原因"), field="note")
    with transaction.atomic():
        marked = OfflineSale.objects.filter(pk=sale.pk, status=OfflineStatus.CONFLICT).update(
            status=OfflineStatus.WRITE_OFF_PENDING,
            resolution_note=note[:200],
            write_off_requested_by_id=actor.user_id,
            write_off_requested_at=timezone.now(),
        )
        if marked != 1:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这笔冲突已经处理过了"))
        audit_record(
            actor_id=actor.user_id,
            scheme_id=sale.scheme_id,
            action=AuditAction.OFFLINE_WRITE_OFF_REQUEST,
            obj=sale,
            detail={"household": sale.household_id, "reason": note[:200]},
        )


def offline_write_off_decide(*, actor: Actor, sale: OfflineSale, approve: bool) -> None:
    """The second county admin: approve (stock written off) or send it back to the list."""
    if not may_write_off(actor, sale):
        raise PermissionDenied("offline.write_off")
    if sale.write_off_requested_by_id == actor.user_id:
        raise ApplicationError(ErrorCode.SAME_APPROVER, _("核销须由另一位县管理员复核"))
    now = timezone.now()
    with transaction.atomic():
        pending = OfflineSale.objects.filter(pk=sale.pk, status=OfflineStatus.WRITE_OFF_PENDING)
        if approve:
            marked = pending.update(
                status=OfflineStatus.RESOLVED,
                resolution=OfflineResolution.WRITTEN_OFF,
                resolved_by_id=actor.user_id,
                resolved_at=now,
            )
        else:
            marked = pending.update(
                status=OfflineStatus.CONFLICT,
                write_off_requested_by_id=None,
                write_off_requested_at=None,
            )
        if marked != 1:
            raise ApplicationError(ErrorCode.INVALID_TRANSITION, _("这笔冲突已经处理过了"))
        if approve:
            _goods_gone(actor, sale, StockMoveKind.WRITE_OFF, sale.resolution_note)
            audit_record(
                actor_id=actor.user_id,
                scheme_id=sale.scheme_id,
                action=AuditAction.OFFLINE_WRITE_OFF,
                obj=sale,
                detail={"household": sale.household_id, "reason": sale.resolution_note},
            )


def _resolved_audit(
    actor: Actor, sale: OfflineSale, resolution: str, note: str, cash_fen: int
) -> None:
    audit_record(
        actor_id=actor.user_id,
        scheme_id=sale.scheme_id,
        action=AuditAction.OFFLINE_RESOLVE,
        obj=sale,
        detail={
            "household": sale.household_id,
            "resolution": str(OfflineResolution(resolution).label),
            "cash_fen": cash_fen,
            "reason": note,
        },
    )


def open_conflicts_q() -> Q:
    return Q(status__in=[OfflineStatus.CONFLICT, OfflineStatus.WRITE_OFF_PENDING])
