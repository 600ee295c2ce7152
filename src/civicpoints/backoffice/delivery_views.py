"""Staff pages for what leaves a store later: the deliveries board (送货上门: dispatch, delivered
with a photo from the phone's camera, failed with a reason) and residents' app orders (pickup
or cancel). Thin: every check and write is in ``stores.services``; the confirmation step comes
before pickup, cancel and a failed delivery.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.backoffice.paging import paged
from civicpoints.backoffice.store_views import photo_response, photo_upload, store_staff
from civicpoints.errors import NotFound, invalid
from civicpoints.faces.errors import refusals_return_to
from civicpoints.faces.tables import Column, Table, points, table_export
from civicpoints.ledger.amounts import format_points
from civicpoints.schemes.scope import Actor, actor_for_user, parse_id
from civicpoints.stores.models import DeliveryStatus, OrderStatus, Store
from civicpoints.stores.selectors import (
    counter_stores,
    deliveries_visible,
    delivery_for,
    order_for,
    orders_visible,
    stores_visible,
)
from civicpoints.stores.services import (
    delivery_complete,
    delivery_dispatch,
    delivery_fail,
    order_cancel,
    order_pickup,
)

# --- deliveries ------------------------------------------------------------------------------


def _store_filter(request: HttpRequest, actor: Actor) -> tuple[list[Store], int | None]:
    stores = list(stores_visible(actor).order_by("region__code", "pk")[:500])
    wanted = parse_id(request.GET.get("store") or request.POST.get("store_filter"))
    return stores, wanted if any(s.pk == wanted for s in stores) else None


def _back_to(name: str, store_id: int | None) -> str:
    url = reverse(name)
    return f"{url}?{urlencode({'store': store_id})}" if store_id else url


@login_required
@require_GET
def delivery_board(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    if not store_staff(actor):
        raise NotFound("store")
    stores, store_id = _store_filter(request, actor)
    rows = deliveries_visible(actor).prefetch_related("redemption__lines__product")
    if store_id:
        rows = rows.filter(store_id=store_id)
    columns = []
    for status, label in DeliveryStatus.choices:
        mine = rows.filter(status=status)
        if status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
            mine = mine.order_by("-closed_at", "-pk")[:50]
        else:
            mine = mine.order_by("created_at", "pk")[:200]
        columns.append(
            {
                "status": status,
                "label": label,
                "rows": list(mine),
                "total": rows.filter(status=status).count(),
            }
        )
    return render(
        request,
        "backoffice/deliveries.html",
        {
            "columns": columns,
            "stores": stores,
            "store_id": store_id,
            "counter_ids": set(counter_stores(actor).values_list("pk", flat=True)),
        },
    )


@login_required
@require_POST
def delivery_action(request: HttpRequest, delivery_id: int, action: str) -> HttpResponse:
    actor = actor_for_user(request.user)
    delivery = delivery_for(actor, delivery_id)
    if action not in ("dispatch", "delivered", "failed"):
        raise NotFound("action")
    who = delivery.redemption.household.head_name
    back = refusals_return_to(
        request,
        _back_to("backoffice:deliveries", parse_id(request.POST.get("store_filter"))),
        words=lambda exc: _("%(name)s：%(message)s") % {"name": who, "message": exc.message},
    )
    if action == "dispatch":
        delivery_dispatch(
            actor=actor, delivery=delivery, courier=request.POST.get("courier", "")[:40]
        )
        messages.success(request, _("已出发送货：%(name)s") % {"name": who})
    elif action == "delivered":
        if request.POST.get("sure") != "1":
            raise invalid(_("请勾选“确认已送到农户手中”"), field="sure")
        delivery_complete(
            actor=actor, delivery=delivery, proof=photo_upload(request, "proof") or b""
        )
        messages.success(request, _("已确认送达：%(name)s") % {"name": who})
    else:
        reason = request.POST.get("reason", "")[:200]
        if not reason.strip():
            raise invalid(_("请填写配送失败的原因"), field="reason")
        if not confirmed(request):
            return confirm_page(
                request,
                title=_("确认配送失败"),
                lines=[
                    _("%(name)s（%(address)s）") % {"name": who, "address": delivery.address},
                    _("原因：%(reason)s") % {"reason": reason},
                ],
                button=_("确认配送失败"),
                back=back,
            )
        delivery_fail(actor=actor, delivery=delivery, reason=reason)
        messages.success(request, _("已记录配送失败：%(name)s") % {"name": who})
    return redirect(back)


@login_required
@require_GET
def delivery_proof(request: HttpRequest, delivery_id: int) -> HttpResponse | FileResponse:
    delivery = delivery_for(actor_for_user(request.user), delivery_id)
    if not delivery.proof_path:
        raise NotFound("photo")
    return photo_response(delivery.proof_path)


# --- app orders ------------------------------------------------------------------------------


def _goods(order: Any) -> str:
    return _("、").join(f"{line.product.name}×{line.quantity}" for line in order.lines.all())


ORDERS = Table(
    gettext_lazy("订单"),
    (
        Column(gettext_lazy("订单号"), lambda o: o.order_no, 14, text=True),
        Column(gettext_lazy("户主"), lambda o: o.household.head_name, 10),
        Column(gettext_lazy("村"), lambda o: o.household.village.name),
        Column(gettext_lazy("超市"), lambda o: o.store.name, 16),
        Column(gettext_lazy("商品"), _goods, 30),
        Column(gettext_lazy("积分"), lambda o: points(o.points), 10),
        Column(gettext_lazy("送货上门"), lambda o: o.address if o.delivery else "", 24),
        Column(gettext_lazy("下单时间"), lambda o: o.created_at, 17),
        Column(gettext_lazy("保留至"), lambda o: o.expires_at, 17),
        Column(gettext_lazy("状态"), lambda o: o.get_status_display(), 10),
        Column(gettext_lazy("完成时间"), lambda o: o.closed_at, 17),
    ),
)


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for_user(request.user)
    if not store_staff(actor):
        raise NotFound("store")
    stores, store_id = _store_filter(request, actor)
    status = request.GET.get("status") or OrderStatus.HELD
    if status not in OrderStatus.values:
        status = OrderStatus.HELD
    rows = (
        orders_visible(actor)
        .filter(status=status)
        .select_related("household__village", "store")
        .prefetch_related("lines__product")
    )
    if store_id:
        rows = rows.filter(store_id=store_id)
    if export := table_export(request, actor, ORDERS, rows.order_by("-created_at", "-pk")):
        return export
    page = paged(request, rows.order_by("-created_at", "-pk"))
    return render(
        request,
        "backoffice/orders.html",
        {
            "rows": page.object_list,
            "page": page,
            "counter_ids": set(counter_stores(actor).values_list("pk", flat=True)),
            "status": status,
            "statuses": OrderStatus.choices,
            "stores": stores,
            "store_id": store_id,
        },
    )


@login_required
@require_POST
def order_action(request: HttpRequest, order_id: int, action: str) -> HttpResponse:
    actor = actor_for_user(request.user)
    order = order_for(actor, order_id)
    if action not in ("pickup", "cancel"):
        raise NotFound("action")
    back = _back_to("backoffice:orders", parse_id(request.POST.get("store_filter")))
    summary = _("订单 %(no)s · %(name)s · %(points)s 积分") % {
        "no": order.order_no,
        "name": order.household.head_name,
        "points": format_points(order.points),
    }
    if not confirmed(request):
        if action == "pickup":
            lines = [summary, _("冻结的积分将扣减，货物交给农户。")]
            if order.delivery:
                lines.append(_("这是送货上门订单：确认后生成送货单。"))
            return confirm_page(
                request, title=_("确认取货"), lines=lines, button=_("确认取货"), back=back
            )
        return confirm_page(
            request,
            title=_("确认取消订单"),
            lines=[summary, _("冻结的积分退回农户，货物回到库存。")],
            button=_("确认取消订单"),
            back=back,
            danger=True,
        )
    refusals_return_to(request, back)
    if action == "pickup":
        redemption = order_pickup(actor=actor, order=order)
        messages.success(
            request,
            _("已取货：%(summary)s，小票 %(receipt)s")
            % {"summary": summary, "receipt": redemption.receipt_no},
        )
    else:
        order_cancel(actor=actor, order=order)
        messages.success(request, _("已取消：%(summary)s") % {"summary": summary})
    return redirect(back)
