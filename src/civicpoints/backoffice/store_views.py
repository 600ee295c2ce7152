"""Staff pages for love supermarkets: the store list, a new store, a store's products and
stock (goods in, stocktake, history, photos) and receipts (deliveries and orders are in
``delivery_views``).

Thin: every check and write is in ``stores.services``; a store outside the actor's scope is a
404, a refusal comes back as a message in Chinese. Irreversible steps ask once more first.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.backoffice.paging import paged
from civicpoints.errors import ApplicationError, NotFound, invalid
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.forms import typed_points
from civicpoints.faces.tables import Column, Table, table_export
from civicpoints.images import image_file
from civicpoints.ledger.amounts import format_points
from civicpoints.schemes.models import Region, RegionLevel, Role, User
from civicpoints.schemes.scope import Actor, actor_for_user, parse_id
from civicpoints.schemes.selectors import region_for, regions_visible, scheme_for_region
from civicpoints.stores.models import (
    DEFAULT_UNIT,
    LimitPeriod,
    StockMoveKind,
    Store,
    StoreKind,
    WindowKind,
)
from civicpoints.stores.selectors import (
    STORE_READERS,
    product_for,
    products_of,
    redemption_for,
    redemptions_visible,
    store_for,
    stores_visible,
)
from civicpoints.stores.services import (
    STORE_MANAGERS,
    product_create,
    require_counter,
    stock_count,
    stock_receive,
    store_create,
)
from civicpoints.stores.services.offline import may_manage_devices

PHOTO_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
WEEKDAYS = [
    ("1", gettext_lazy("星期一")),
    ("2", gettext_lazy("星期二")),
    ("3", gettext_lazy("星期三")),
    ("4", gettext_lazy("星期四")),
    ("5", gettext_lazy("星期五")),
    ("6", gettext_lazy("星期六")),
    ("7", gettext_lazy("星期日")),
]


def store_staff(actor: Actor) -> bool:
    """Whether the store pages are for this person at all (admins, auditors, store clerks)."""
    return bool(actor.grants_for(STORE_READERS)) or stores_visible(actor).exists()


def manages(actor: Actor, store: Store) -> bool:
    return actor.covers(
        roles=STORE_MANAGERS, scheme_id=store.scheme_id, region_path=store.region.path
    )


def works_counter(actor: Actor, store: Store) -> bool:
    try:
        require_counter(actor, store)
    except ApplicationError:
        return False
    return True


def _whole(raw: object, *, field: str, default: int | None = None) -> int | None:
    """A whole number typed in a form (half-width digits), or ``default`` when left empty."""
    text = str(raw or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise invalid(_("请填写整数"), field=field)
    return int(text)


def photo_upload(request: HttpRequest, name: str) -> bytes | None:
    upload = request.FILES.get(name)
    return upload.read(settings.EVIDENCE_MAX_BYTES + 1) if upload is not None else None


def photo_response(relative: str) -> FileResponse:
    path = image_file(relative)
    response = FileResponse(
        path.open("rb"), content_type=PHOTO_TYPES.get(path.suffix, "application/octet-stream")
    )
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- stores --------------------------------------------------------------------------------

STORES = Table(
    gettext_lazy("爱心超市"),
    (
        Column(gettext_lazy("超市"), lambda s: s.name, 20),
        Column(gettext_lazy("类型"), lambda s: s.get_kind_display(), 10),
        Column(gettext_lazy("所属区划"), lambda s: s.region.name),
        Column(gettext_lazy("兑换时间"), lambda s: s.get_window_kind_display(), 12),
        Column(gettext_lazy("可退货天数"), lambda s: s.return_days, 10),
        Column(gettext_lazy("低库存商品"), lambda s: s.low_count, 10),
        Column(gettext_lazy("状态"), lambda s: _("营业中") if s.active else _("暂停营业"), 10),
    ),
)


@login_required
@require_GET
def store_list(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    if not store_staff(actor):
        raise NotFound("store")
    low = Count(
        "products",
        filter=Q(products__active=True, products__stock__lte=F("products__low_stock_at")),
        distinct=True,
    )
    stores = stores_visible(actor).annotate(low_count=low).order_by("region__code", "pk")
    # The rows behind a figure of the dashboard: the stores of a region (one the person can
    # see), and those with goods at or below their low-stock mark.
    region = region_for(actor, request.GET["region"]) if request.GET.get("region") else None
    if region is not None:
        stores = stores.filter(region__path__startswith=region.path)
    low_only = request.GET.get("low") == "1"
    if low_only:
        stores = stores.filter(low_count__gt=0)
    if export := table_export(request, actor, STORES, stores.select_related("region")):
        return export
    page = paged(request, stores)
    return render(
        request,
        "backoffice/stores.html",
        {
            "stores": page.object_list,
            "page": page,
            "may_create": bool(actor.grants_for(STORE_MANAGERS)),
            "region": region,
            "low_only": low_only,
        },
    )


def _manageable_regions(actor: Actor) -> QuerySet:
    q = Q(pk__in=[])
    for g in actor.grants_for(STORE_MANAGERS):
        q |= Q(path__startswith=g.region_path)
    levels = [RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]
    return regions_visible(actor).filter(q, level__in=levels).select_related("parent")[:1000]


def _region(actor: Actor, raw: object) -> Region:
    try:
        return region_for(actor, raw)
    except NotFound:
        raise invalid(_("请选择您管辖范围内的县、乡镇或村"), field="region") from None


def _served_townships(raw: list[str], offered: list[Region]) -> list[Region]:
    """The townships ticked for a county store, each one of those the form offered."""
    by_pk = {r.pk: r for r in offered}
    chosen = [by_pk.get(parse_id(v) or 0) for v in raw]
    if any(r is None for r in chosen):
        raise invalid(_("请选择您管辖范围内的乡镇"), field="served_townships")
    return [r for r in chosen if r is not None]


def clerk_choices(actor: Actor, role: str, roles: frozenset[str] | tuple[str, ...]) -> list[User]:
    """Staff holding ``role`` somewhere under the actor's ``roles`` grants: who may be named."""
    q = Q(pk__in=[])
    for g in actor.grants_for(roles):
        q |= Q(
            grants__scheme_id=g.scheme_id,
            grants__region__path__startswith=g.region_path,
            grants__role=role,
        )
    return list(User.objects.filter(q).distinct().order_by("username")[:500])


def chosen_ids(raw: list[str], offered: list[User]) -> list[int]:
    allowed = {u.pk for u in offered}
    return sorted({pk for pk in (parse_id(v) for v in raw) if pk in allowed})


@login_required
@require_http_methods(["GET", "POST"])
def store_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    if not actor.grants_for(STORE_MANAGERS):
        raise NotFound("store")
    regions = _manageable_regions(actor)
    townships = [r for r in regions if r.level == RegionLevel.TOWNSHIP]
    clerks = clerk_choices(actor, Role.STORE_CLERK, STORE_MANAGERS)
    form: Any = request.POST if request.method == "POST" else {}
    status = 200
    if request.method == "POST":
        try:
            region = _region(actor, form.get("region"))
            store = store_create(
                actor=actor,
                scheme_id=scheme_for_region(actor, region, prefer=STORE_MANAGERS).pk,
                region=region,
                name=form.get("name", "")[:100],
                kind=form.get("kind") if form.get("kind") in StoreKind.values else StoreKind.LOVE,
                address=form.get("address", "")[:200],
                return_days=_whole(form.get("return_days"), field="return_days", default=7) or 0,
                window_kind=form.get("window_kind", WindowKind.ALWAYS),
                window_weekdays=",".join(form.getlist("weekdays")),
                window_dates=[
                    d for d in re.split(r"[\s,，、]+", form.get("window_dates", "")) if d
                ],
                clerk_ids=chosen_ids(form.getlist("clerks"), clerks),
                served_townships=_served_townships(form.getlist("served_townships"), townships),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = 422
        else:
            messages.success(request, _("已开设超市：%(name)s") % {"name": store.name})
            return redirect("backoffice:store", store_id=store.pk)
    return render(
        request,
        "backoffice/store_new.html",
        {
            "regions": regions,
            "clerks": clerks,
            "kinds": StoreKind.choices,
            "windows": WindowKind.choices,
            "weekdays": WEEKDAYS,
            "form": form,
            "chosen_clerks": form.getlist("clerks") if form else [],
            "chosen_weekdays": form.getlist("weekdays") if form else [],
            "townships": townships if any(r.level == RegionLevel.COUNTY for r in regions) else [],
            "chosen_townships": form.getlist("served_townships") if form else [],
        },
        status=status,
    )


@login_required
@require_GET
def store_detail(request: HttpRequest, store_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    store = store_for(actor, store_id)
    products = list(products_of(store, active_only=False))
    return render(
        request,
        "backoffice/store.html",
        {
            "store": store,
            "products": products,
            "low_count": sum(1 for p in products if p.active and p.low_stock),
            "moves": store.stock_moves.select_related("product", "actor").order_by(
                "-created_at", "-pk"
            )[:50],
            "redemptions": redemptions_visible(actor)
            .filter(store=store)
            .prefetch_related("lines__product")
            .order_by("-created_at", "-pk")[:20],
            "manages": manages(actor, store),
            "counter": works_counter(actor, store),
            "periods": LimitPeriod.choices,
            "receive_kinds": [
                (k, StockMoveKind(k).label)
                for k in (StockMoveKind.PURCHASE, StockMoveKind.DONATION)
            ],
            "clerks": store.clerks.order_by("username"),
            "manages_devices": may_manage_devices(actor, store),
        },
    )


@login_required
@require_POST
def product_new(request: HttpRequest, store_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    store = store_for(actor, store_id)
    back = refusals_return_to(request, reverse("backoffice:store", args=[store.pk]))
    post = request.POST
    period = post.get("limit_period", LimitPeriod.NONE)
    product = product_create(
        actor=actor,
        store=store,
        name=post.get("name", "")[:100],
        price=typed_points(post.get("price", ""), field="price", words=_("积分价格：%(problem)s")),
        unit=post.get("unit", "")[:10] or DEFAULT_UNIT,
        limit_quantity=_whole(post.get("limit_quantity"), field="limit_quantity")
        if period != LimitPeriod.NONE
        else None,
        limit_period=period,
        low_stock_at=_whole(post.get("low_stock_at"), field="low_stock_at", default=5) or 0,
        large_item=post.get("large_item") == "1",
        photo=photo_upload(request, "photo"),
    )
    messages.success(
        request,
        _("已添加商品：%(name)s，%(price)s 积分/%(unit)s")
        % {"name": product.name, "price": format_points(product.price), "unit": product.unit},
    )
    return redirect(back)


@login_required
@require_GET
def product_photo(
    request: HttpRequest, store_id: int, product_id: int
) -> HttpResponse | FileResponse:
    product = product_for(store_for(actor_for_user(request.user), store_id), product_id)
    if not product.photo:
        raise NotFound("photo")
    return photo_response(product.photo)


@login_required
@require_POST
def stock_in(request: HttpRequest, store_id: int) -> HttpResponse:
    """Goods in: a purchase with its cost, or a donation with the donor and its value (yuan)."""
    actor = actor_for_user(request.user)
    store = store_for(actor, store_id)
    back = refusals_return_to(request, reverse("backoffice:store", args=[store.pk]))
    post = request.POST
    product = product_for(store, post.get("product"))
    value = post.get("value", "").strip()
    quantity = _whole(post.get("quantity"), field="quantity")
    if quantity is None:
        raise invalid(_("数量必须是正整数"), field="quantity")
    move = stock_receive(
        actor=actor,
        product=product,
        quantity=quantity,
        kind=post.get("kind", StockMoveKind.PURCHASE),
        value_fen=typed_points(value, field="value", words=_("金额：%(problem)s"), allow_zero=True)
        if value
        else None,
        donor=post.get("donor", "")[:100],
        reason=post.get("reason", "")[:200],
    )
    product.refresh_from_db()
    messages.success(
        request,
        _("已入库：%(name)s +%(n)s%(unit)s（%(kind)s），现有库存 %(stock)s")
        % {
            "name": product.name,
            "n": move.quantity,
            "unit": product.unit,
            "kind": move.get_kind_display(),
            "stock": product.stock,
        },
    )
    return redirect(back)


@login_required
@require_POST
def stocktake(request: HttpRequest, store_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    store = store_for(actor, store_id)
    back = refusals_return_to(request, reverse("backoffice:store", args=[store.pk]))
    post = request.POST
    product = product_for(store, post.get("product"))
    counted = _whole(post.get("counted"), field="counted")
    if counted is None:
        raise invalid(_("盘点数量必须是0或正整数"), field="counted")
    reason = post.get("reason", "")[:200]
    if not confirmed(request):
        return confirm_page(
            request,
            title=_("确认盘点调整"),
            lines=[
                _("%(name)s：账面库存 %(stock)s，实盘 %(counted)s，调整 %(diff)+d")
                % {
                    "name": product.name,
                    "stock": product.stock,
                    "counted": counted,
                    "diff": counted - product.stock,
                },
                _("原因：%(reason)s") % {"reason": reason},
            ],
            button=_("确认调整库存"),
            back=back,
        )
    move = stock_count(actor=actor, product=product, counted=counted, reason=reason)
    if move is None:
        messages.success(request, _("盘点数与账面一致，未作调整"))
    else:
        messages.success(
            request,
            _("已盘点：%(name)s 库存改为 %(counted)s（%(diff)+d）")
            % {"name": product.name, "counted": counted, "diff": move.quantity},
        )
    return redirect(back)


@login_required
@require_GET
def redemption_receipt(request: HttpRequest, redemption_id: int) -> HttpResponse:
    """A receipt to look at or print again (58 mm paper)."""
    redemption = redemption_for(actor_for_user(request.user), redemption_id)
    delivery = getattr(redemption, "delivery", None)
    return render(
        request,
        "backoffice/receipt.html",
        {
            "r": redemption,
            "lines": redemption.lines.select_related("product").order_by("pk"),
            "delivery": delivery,
        },
    )
