"""Stores and their products: who manages a store, who works its counter, when it is open."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from civicpoints.audit.models import AuditAction
from civicpoints.audit.services import audit_record
from civicpoints.errors import invalid
from civicpoints.images import image_saved
from civicpoints.ledger.amounts import MAX_HUNDREDTHS
from civicpoints.ledger.models import AccountKind
from civicpoints.ledger.services import (
    system_account,
)
from civicpoints.schemes.models import Region, RegionLevel, Role
from civicpoints.schemes.scope import ADMIN_ROLES, Actor, require_role
from civicpoints.schemes.selectors import staff_holding
from civicpoints.stores.models import (
    DEFAULT_UNIT,
    LimitPeriod,
    Product,
    Store,
    StoreKind,
    WindowKind,
)

STORE_MANAGERS = ADMIN_ROLES
STORE_LEVELS = (RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE)


# --- stores and products -------------------------------------------------------------------


def _require_manager(actor: Actor, store: Store, action: str) -> None:
    require_role(
        actor,
        roles=STORE_MANAGERS,
        scheme_id=store.scheme_id,
        region_path=store.region.path,
        action=action,
    )


def _is_clerk(actor: Actor, store: Store) -> bool:
    return actor.user_id is not None and store.clerks.filter(pk=actor.user_id).exists()


def require_counter(actor: Actor, store: Store) -> None:
    """Who may work the counter: the store's clerks and the admins over its region."""
    if _is_clerk(actor, store):
        return
    _require_manager(actor, store, "store.counter")


def store_create(
    *,
    actor: Actor,
    scheme_id: int,
    region: Region,
    name: str,
    kind: str = StoreKind.LOVE,
    address: str = "",
    return_days: int = 7,
    order_hold_days: int = 7,
    window_kind: str = WindowKind.ALWAYS,
    window_weekdays: str = "",
    window_dates: Sequence[str] = (),
    clerk_ids: Sequence[int] = (),
    served_townships: Sequence[Region] = (),
) -> Store:
    """Open a store for a village, a township or the whole county (managers over that region:
    only a county admin opens a county store). A county store may serve chosen townships only;
    its clerks must be store clerks in the actor's scope. A refusal writes nothing."""
    require_role(
        actor,
        roles=STORE_MANAGERS,
        scheme_id=scheme_id,
        region_path=region.path,
        action="store.create",
    )
    name = (name or "").strip()
    if not name:
        raise invalid(_("请填写超市名称"), field="name")
    if region.level not in STORE_LEVELS:
        raise invalid(_("超市只能开在县、乡镇或村"), field="region")
    townships = _served_townships(region, served_townships)
    clerks = sorted(set(clerk_ids))
    if clerks:
        allowed = set(
            staff_holding(
                actor, role=Role.STORE_CLERK, over_roles=STORE_MANAGERS, scheme_id=scheme_id
            )
            .filter(pk__in=clerks)
            .values_list("pk", flat=True)
        )
        if unknown := [pk for pk in clerks if pk not in allowed]:
            raise invalid(
                _("不是您管辖范围内的超市店员：%(who)s") % {"who": _("、").join(map(str, unknown))},
                field="clerks",
                unknown=unknown,
            )
    weekdays = _clean_weekdays(window_weekdays) if window_kind == WindowKind.WEEKDAYS else ""
    dates = _clean_dates(window_dates) if window_kind == WindowKind.DATES else []
    if window_kind not in WindowKind.values:
        raise invalid(_("兑换时间设置无效"), field="window_kind")
    with transaction.atomic():
        store = Store.objects.create(
            scheme_id=scheme_id,
            region=region,
            name=name[:100],
            kind=kind,
            address=address[:200],
            return_days=return_days,
            order_hold_days=order_hold_days,
            window_kind=window_kind,
            window_weekdays=weekdays,
            window_dates=dates,
        )
        if clerks:
            store.clerks.set(clerks)
        if townships:
            store.served_townships.set(townships)
        system_account(scheme_id=scheme_id, kind=AccountKind.STORE, owner_ref=f"store:{store.pk}")
        audit_record(
            actor_id=actor.user_id,
            scheme_id=scheme_id,
            action=AuditAction.STORE_CREATE,
            obj=store,
            detail={"served_townships": [t.pk for t in townships]} if townships else None,
        )
    return store


def _served_townships(region: Region, chosen: Sequence[Region]) -> list[Region]:
    """Townships a county store is limited to (none: the whole county), each under it."""
    townships = list({t.pk: t for t in chosen}.values())
    if not townships:
        return []
    if region.level != RegionLevel.COUNTY:
        raise invalid(_("只有县级超市可以选择服务的乡镇"), field="served_townships")
    for township in townships:
        if township.level != RegionLevel.TOWNSHIP or not township.path.startswith(region.path):
            raise invalid(
                _("%(name)s 不是%(county)s下的乡镇")
                % {"name": township.name, "county": region.name},
                field="served_townships",
            )
    return sorted(townships, key=lambda t: t.code)


def _clean_weekdays(raw: str) -> str:
    days = sorted({p.strip() for p in (raw or "").split(",") if p.strip()})
    if not days or any(d not in "1234567" or len(d) != 1 for d in days):
        raise invalid(_("开放的星期应为 1-7，用逗号分开"), field="window_weekdays")
    return ",".join(days)


def _clean_dates(raw: Sequence[str]) -> list[str]:
    out = []
    for value in raw:
        try:
            out.append(dt.date.fromisoformat(str(value).strip()).isoformat())
        except ValueError:
            raise invalid(_("日期格式应为 2026-12-01"), field="window_dates") from None
    if not out:
        raise invalid(_("请至少填写一个兑换日期"), field="window_dates")
    return sorted(set(out))


def store_open_on(store: Store, day: dt.date) -> bool:
    if not store.active:
        return False
    if store.window_kind == WindowKind.WEEKDAYS:
        return str(day.isoweekday()) in store.window_weekdays.split(",")
    if store.window_kind == WindowKind.DATES:
        return day.isoformat() in (store.window_dates or [])
    return True


def product_create(
    *,
    actor: Actor,
    store: Store,
    name: str,
    price: int,
    unit: str = DEFAULT_UNIT,
    limit_quantity: int | None = None,
    limit_period: str = LimitPeriod.NONE,
    low_stock_at: int = 5,
    large_item: bool = False,
    photo: bytes | None = None,
) -> Product:
    _require_manager(actor, store, "store.product")
    name = (name or "").strip()
    if not name:
        raise invalid(_("请填写商品名称"), field="name")
    if not isinstance(price, int) or not 0 < price <= MAX_HUNDREDTHS:
        raise invalid(_("积分价格必须大于0"), field="price")
    if limit_period not in LimitPeriod.values:
        raise invalid(_("限兑周期无效"), field="limit_period")
    if limit_quantity is not None and limit_quantity <= 0:
        raise invalid(_("限兑数量必须大于0"), field="limit_quantity")
    fields: dict[str, Any] = {
        "scheme_id": store.scheme_id,
        "store": store,
        "name": name[:100],
        "unit": (unit or DEFAULT_UNIT)[:10],
        "price": price,
        "limit_quantity": limit_quantity if limit_period != LimitPeriod.NONE else None,
        "limit_period": limit_period if limit_quantity else LimitPeriod.NONE,
        "low_stock_at": low_stock_at,
        "large_item": large_item,
    }
    if photo:
        with image_saved(photo, scheme_id=store.scheme_id) as image, transaction.atomic():
            product = Product.objects.create(photo=image.path, **fields)
            audit_record(
                actor_id=actor.user_id,
                scheme_id=store.scheme_id,
                action=AuditAction.PRODUCT_CREATE,
                obj=product,
            )
            return product
    with transaction.atomic():
        product = Product.objects.create(**fields)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=store.scheme_id,
            action=AuditAction.PRODUCT_CREATE,
            obj=product,
        )
    return product


def product_update(
    *, actor: Actor, product: Product, price: int | None = None, active: bool | None = None
) -> Product:
    _require_manager(actor, product.store, "store.product")
    changes: dict[str, Any] = {}
    if price is not None:
        if not isinstance(price, int) or not 0 < price <= MAX_HUNDREDTHS:
            raise invalid(_("积分价格必须大于0"), field="price")
        changes["price"] = price
    if active is not None:
        changes["active"] = bool(active)
    with transaction.atomic():
        Product.objects.filter(pk=product.pk).update(**changes)
        audit_record(
            actor_id=actor.user_id,
            scheme_id=product.scheme_id,
            action=AuditAction.PRODUCT_UPDATE,
            obj=product,
            detail={k: (v if k != "price" else v / 100) for k, v in changes.items()},
        )
    product.refresh_from_db()
    return product
