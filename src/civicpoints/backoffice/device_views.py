"""The offline counter in the back office (docs/offline-counter.md): a county admin registers a
store's devices (the enrolment code is shown once) and revokes a lost one, seeing first what it
had not synced; admins over a village see the offline sales refused at sync, and county admins
write off what cannot be recovered, four eyes."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from civicpoints.backoffice.confirming import confirm_page, confirmed
from civicpoints.errors import NotFound
from civicpoints.faces.errors import refusals_return_to
from civicpoints.ledger.amounts import format_points
from civicpoints.schemes.scope import actor_for_user, one_or_404
from civicpoints.stores.models import CounterDevice, OfflineResolution, OfflineStatus
from civicpoints.stores.selectors import (
    offline_conflict_for,
    offline_conflicts_visible,
    offline_goods,
    product_names,
    store_for,
)
from civicpoints.stores.services.offline import (
    device_register,
    device_revoke,
    may_manage_devices,
    may_write_off,
    offline_resolve,
    offline_write_off_decide,
    offline_write_off_request,
)


def _managed_store(request: HttpRequest, store_id: int):  # type: ignore[no-untyped-def]
    actor = actor_for_user(request.user)
    store = store_for(actor, store_id)
    if not may_manage_devices(actor, store):
        raise NotFound("store")  # the page does not exist for anyone else
    return actor, store


def _devices_page(
    request: HttpRequest, store_id: int, *, new_code: str = "", new_device: object = None
) -> HttpResponse:
    _actor, store = _managed_store(request, store_id)
    devices = list(
        store.devices.select_related("enrolled_by", "revoked_by")
        .annotate(listed=Count("sales", filter=Q(sales__status=OfflineStatus.REVOKED)))
        .order_by("-created_at")
    )
    return render(
        request,
        "backoffice/devices.html",
        {
            "store": store,
            "devices": devices,
            "new_code": new_code,
            "new_device": new_device,
            "allowance": format_points(store.scheme.offline_allowance),
            "period_days": store.scheme.offline_period_days,
        },
    )


@never_cache
@login_required
def store_devices(request: HttpRequest, store_id: int) -> HttpResponse:
    return _devices_page(request, store_id)


@never_cache
@login_required
@require_POST
def device_new(request: HttpRequest, store_id: int) -> HttpResponse:
    actor, store = _managed_store(request, store_id)
    refusals_return_to(request, reverse("backoffice:store_devices", args=[store.pk]))
    device, code = device_register(actor=actor, store=store, name=request.POST.get("name", ""))
    # Shown once, on this answer only (never stored, never in a redirect's URL)
    return _devices_page(request, store.pk, new_code=code, new_device=device)


@login_required
@require_POST
def device_revoke_view(request: HttpRequest, store_id: int, device_id: int) -> HttpResponse:
    actor, store = _managed_store(request, store_id)
    device = one_or_404(CounterDevice.objects.filter(store=store), device_id, "device")
    back = reverse("backoffice:store_devices", args=[store.pk])
    refusals_return_to(request, back)
    reason = request.POST.get("reason", "").strip()[:200]
    if not confirmed(request):
        lines = [
            _("设备：%(name)s") % {"name": device.name},
            _("停用后这台设备不能再离线兑换，也不能再同步；它之后送来的离线兑换只列出，不入账。"),
        ]
        if device.reported_at:
            lines.append(
                _(
                    "这台设备最后一次报告（%(at)s）：还有 %(n)s 笔离线兑换未同步，最大流水号 %(seq)s。"
                )
                % {
                    "at": device.reported_at.strftime("%Y-%m-%d %H:%M"),
                    "n": device.reported_queued,
                    "seq": device.reported_max_seq,
                }
            )
        else:
            lines.append(_("这台设备从未报告过它的离线队列。"))
        return confirm_page(
            request,
            title=_("确认停用离线柜台设备"),
            lines=lines,
            button=_("停用"),
            back=back,
            danger=True,
        )
    device_revoke(actor=actor, device=device, reason=reason)
    messages.success(request, _("已停用设备：%(name)s") % {"name": device.name})
    return redirect(back)


# --- conflicts ---------------------------------------------------------------------------------


@never_cache
@login_required
def offline_conflicts(request: HttpRequest) -> HttpResponse:
    actor = actor_for_user(request.user)
    sales = offline_conflicts_visible(actor)
    names = product_names(
        {pk for sale in sales for pk, _q in sale.items}
    )  # one query, not one a row
    for sale in sales:
        sale.goods = offline_goods(sale, names)  # type: ignore[attr-defined]
        writes_off = may_write_off(actor, sale)
        sale.may_write_off = writes_off  # type: ignore[attr-defined]
        sale.may_approve = (  # type: ignore[attr-defined]
            writes_off and sale.write_off_requested_by_id != actor.user_id
        )
    return render(
        request,
        "backoffice/offline_conflicts.html",
        {
            "open": [s for s in sales if s.status == OfflineStatus.CONFLICT],
            "pending": [s for s in sales if s.status == OfflineStatus.WRITE_OFF_PENDING],
        },
    )


@login_required
@require_POST
def offline_conflict_act(request: HttpRequest, sale_id: int) -> HttpResponse:
    actor = actor_for_user(request.user)
    sale = offline_conflict_for(actor, sale_id)
    back = refusals_return_to(request, reverse("backoffice:offline_conflicts"))
    post = request.POST
    action = post.get("action", "")
    note = post.get("note", "").strip()[:200]
    if action == "collected":
        offline_resolve(actor=actor, sale=sale, resolution=OfflineResolution.COLLECTED, note=note)
    elif action == "write_off":
        offline_write_off_request(actor=actor, sale=sale, note=note)
    elif action in ("approve", "send_back"):
        if action == "approve" and not confirmed(request):
            return confirm_page(
                request,
                title=_("确认核销离线兑换"),
                lines=[
                    _("农户：%(name)s") % {"name": sale.household.head_name},
                    _("商品：%(goods)s（%(points)s 分）")
                    % {"goods": offline_goods(sale), "points": format_points(sale.points)},
                    _("核销原因：%(note)s") % {"note": sale.resolution_note},
                    _("核销后商品按损耗出库，这笔兑换不再追收。"),
                ],
                button=_("核销"),
                back=reverse("backoffice:offline_conflicts"),
                danger=True,
            )
        offline_write_off_decide(actor=actor, sale=sale, approve=action == "approve")
    else:
        return redirect(back)
    messages.success(request, _("已处理：%(name)s 的离线兑换") % {"name": sale.household.head_name})
    return redirect(back)
